"""Seed demo data: four users with generated passwords and the sample packages, published.

Idempotent: existing users keep their passwords (read back from ``var/demo-credentials.txt``)
and existing packages are left alone.
"""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import MODERATORS_GROUP, User
from accounts.roles import sync_roles
from registry import services
from registry.models import Package
from registry.samples import build_sample_fmus

DEMO_USERS = [
    ("admin@fmugateway.local", "Ada Admin", {"is_staff": True, "is_superuser": True}),
    ("moderator@fmugateway.local", "Mo Derator", {"is_staff": True}),
    ("creator@fmugateway.local", "Cleo Creator", {}),
    ("buyer@fmugateway.local", "Bo Buyer", {}),
]
DEMO_LICENSE = (
    "Demo model by FMU Gateway. Free to use for evaluation, teaching and testing; "
    "no warranty of fitness for any purpose."
)


class Command(BaseCommand):
    help = "Create demo users and publish the sample FMUs as packages (idempotent)."

    def handle(self, *args, **options):
        credentials = self._users()
        self._packages()
        path = settings.VAR_DIR / "demo-credentials.txt"
        lines = [f"  {email:<30} {password}" for email, password in credentials.items()]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        self.stdout.write("Demo accounts (email, password):\n" + "\n".join(lines))

    def _known_passwords(self) -> dict[str, str]:
        path = settings.VAR_DIR / "demo-credentials.txt"
        known = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) == 2:
                    known[parts[0]] = parts[1]
        return known

    @transaction.atomic
    def _users(self) -> dict[str, str]:
        known = self._known_passwords()
        # The group's permissions come from accounts.roles (also synced by every migrate).
        sync_roles()
        moderators = Group.objects.get(name=MODERATORS_GROUP)
        credentials = {}
        for email, name, flags in DEMO_USERS:
            user = User.objects.filter(email=email).first()
            if user is None or email not in known:
                password = secrets.token_urlsafe(12)
                if user is None:
                    user = User.objects.create_user(email, password, display_name=name, **flags)
                else:
                    user.set_password(password)
                    user.save(update_fields=["password"])
            else:
                password = known[email]
            if email.startswith("moderator@"):
                user.groups.add(moderators)
            credentials[email] = password
        return credentials

    def _packages(self) -> None:
        creator = User.objects.get(email="creator@fmugateway.local")
        moderator = User.objects.get(email="moderator@fmugateway.local")
        built = build_sample_fmus(settings.SAMPLE_FMU_DIR)
        by_model: dict[str, list] = {}
        for sample in built:
            by_model.setdefault(sample.slug, []).append(sample)
        for slug, samples in sorted(by_model.items()):
            if Package.objects.filter(slug=slug.replace("_", "-")).exists():
                continue
            first = samples[0]
            with transaction.atomic():
                package = services.create_package(
                    creator,
                    name=first.title,
                    slug=slug.replace("_", "-"),
                    summary=first.summary,
                    description=first.description,
                    category="Demo models",
                    tags=sorted(first.tags),
                    license_text=DEMO_LICENSE,
                    is_free=True,
                )
                for sample in sorted(samples, key=lambda s: s.fmi_version):
                    version = "1.0.0" if sample.fmi_version.startswith("2") else "1.1.0"
                    services.upload_version(
                        package,
                        uploaded_by=creator,
                        upload=services.ReceivedFile(
                            path=sample.fmu_path,
                            sha256=sample.sha256,
                            size=sample.fmu_path.stat().st_size,
                            original_filename=sample.fmu_path.name,
                        ),
                        version=version,
                        changelog=f"FMI {sample.fmi_version} (Model Exchange and Co-Simulation).",
                        test_vectors=(
                            services.TestVectorInput(
                                reference_path=sample.reference_csv,
                                columns=tuple(sample.tolerance.columns or ()),
                                rtol=sample.tolerance.rtol,
                                atol=sample.tolerance.atol,
                            ),
                        ),
                    )
                services.submit_for_review(package, creator)
                services.approve_package(package, moderator, note="Demo package.")
            self.stdout.write(f"Published {package.name} ({len(samples)} versions)")
