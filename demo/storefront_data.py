"""Demo storefront content for ``make run``: a category tree, the demo creator's seller profile,
free listings for the published sample packages and one paid listing, so that paying by card
(in test mode) can be tried on the demo (idempotent)."""

from __future__ import annotations

from django.db import transaction

from accounts.models import Creator
from catalog.models import Category
from catalog.services import analytics, search
from marketplace.models import Listing
from registry.models import Package

CATEGORY_TREE = {
    ("mechanics", "Mechanics", "Rigid bodies, oscillators, contact and impacts."): [
        ("vehicles", "Vehicles", ""),
        ("robotics", "Robotics", ""),
    ],
    ("control", "Control", "Controllers, estimators and signal processing."): [],
    ("thermal", "Thermal", "Heat transfer, HVAC and thermal management."): [],
    ("electrical", "Electrical", "Circuits, machines, batteries and power electronics."): [],
    ("fluids", "Fluids", "Hydraulics, pneumatics and process models."): [],
}
# Sample package slug → category path.
SAMPLE_CATEGORIES = {
    "bouncing-ball": "mechanics",
    "mass-spring-damper": "mechanics",
    "pi-controller": "control",
}
LICENSE = "Free for evaluation, teaching and testing. No warranty of fitness for any purpose."
# The one paid demo SKU: a commercial license of this sample.
PAID_SAMPLE = "bouncing-ball"
PAID_LICENSE = "Commercial use in products and services. No warranty of fitness for any purpose."


@transaction.atomic
def seed_categories() -> list[Category]:
    created = []
    for (slug, name, description), children in CATEGORY_TREE.items():
        parent, _ = Category.objects.get_or_create(
            parent=None, slug=slug, defaults={"name": name, "description": description}
        )
        created.append(parent)
        for position, (child_slug, child_name, child_description) in enumerate(children):
            child, _ = Category.objects.get_or_create(
                parent=parent,
                slug=child_slug,
                defaults={
                    "name": child_name,
                    "description": child_description,
                    "position": position,
                },
            )
            created.append(child)
    return created


@transaction.atomic
def seed_storefront(creator_email: str = "creator@fmugateway.local") -> int:
    """Categories, an approved seller profile, a free listing per sample package and a paid
    one of ``PAID_SAMPLE``."""
    seed_categories()
    packages = list(Package.objects.filter(owner__email=creator_email))
    if not packages:
        return 0
    owner = packages[0].owner
    Creator.objects.get_or_create(
        user=owner,
        defaults={
            "display_name": "FMU Gateway Samples",
            "slug": "fmu-gateway-samples",
            "support_email": owner.email,
            "status": Creator.Status.APPROVED,
            "bio": "Reference models maintained by the FMU Gateway team.",
        },
    )
    for package in packages:
        path = SAMPLE_CATEGORIES.get(package.slug)
        if path and package.category != path:
            Package.objects.filter(pk=package.pk).update(category=path)
        if not Listing.objects.filter(package=package).exists():
            Listing.objects.create(
                package=package,
                name="Community license",
                kind=Listing.Kind.DOWNLOAD,
                pricing_model=Listing.PricingModel.FREE,
                price_amount=0,
                max_activations=3,
                license_template=LICENSE,
            )
        if (
            package.slug == PAID_SAMPLE
            and not Listing.objects.filter(
                package=package, pricing_model=Listing.PricingModel.PAID
            ).exists()
        ):
            Listing.objects.create(
                package=package,
                name="Commercial license",
                kind=Listing.Kind.DOWNLOAD,
                pricing_model=Listing.PricingModel.PAID,
                price_amount=4900,
                currency="EUR",
                max_activations=3,
                license_template=PAID_LICENSE,
            )
    search.index_packages([package.pk for package in packages])
    analytics.refresh_catalog_stats()
    return len(packages)
