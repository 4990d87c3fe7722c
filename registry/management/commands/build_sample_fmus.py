"""``manage.py build_sample_fmus``: compile the sample FMUs (demo catalog, test fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.samples import FMI_VERSIONS, SampleBuildError, build_sample_fmus


def default_out_dir() -> Path:
    # SAMPLE_FMU_DIR is defined by the project settings; fall back for older settings.
    return Path(
        getattr(settings, "SAMPLE_FMU_DIR", Path(settings.BASE_DIR) / "var" / "sample_fmus")
    )


class Command(BaseCommand):
    help = (
        "Compile the sample FMUs of samples/fmus with gcc (FMI 2.0 and 3.0, Model Exchange "
        "and Co-Simulation) and copy their reference results next to them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--out",
            type=Path,
            default=None,
            help="output directory (default: settings.SAMPLE_FMU_DIR)",
        )
        parser.add_argument(
            "--fmi-version",
            dest="fmi_versions",
            action="append",
            choices=FMI_VERSIONS,
            help="FMI version to build; repeat for several (default: all)",
        )
        parser.add_argument(
            "--model",
            dest="models",
            action="append",
            metavar="SLUG",
            help="sample model to build, e.g. bouncing_ball; repeat for several (default: all)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        out_dir = options["out"] or default_out_dir()
        try:
            built = build_sample_fmus(
                Path(out_dir),
                fmi_versions=options["fmi_versions"] or FMI_VERSIONS,
                models=options["models"],
            )
        except SampleBuildError as exc:
            raise CommandError(str(exc)) from exc
        for sample in built:
            self.stdout.write(
                f"FMI {sample.fmi_version}  {sample.slug:<20} {sample.fmu_path}  "
                f"sha256={sample.sha256[:12]}"
            )
