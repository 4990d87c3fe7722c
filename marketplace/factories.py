import factory

from accounts.factories import UserFactory
from accounts.models import Creator
from marketplace.models import Coupon, Listing
from registry.factories import PackageFactory
from registry.models import Package


class CreatorFactory(factory.django.DjangoModelFactory[Creator]):
    """An approved creator whose Connect account can take charges."""

    class Meta:
        model = Creator

    user = factory.SubFactory(UserFactory)
    display_name = factory.Sequence(lambda n: f"Creator {n}")
    slug = factory.Sequence(lambda n: f"creator-{n}")
    support_email = factory.Sequence(lambda n: f"support{n}@example.com")
    status = Creator.Status.APPROVED
    stripe_account_id = factory.Sequence(lambda n: f"acct_test{n:08d}")
    charges_enabled = True
    payouts_enabled = True
    details_submitted = True


class ListedPackageFactory(PackageFactory):
    """A listed, non-free package owned by an approved creator."""

    owner = factory.LazyAttribute(lambda _: CreatorFactory().user)
    is_free = False
    status = Package.Status.LISTED


class ListingFactory(factory.django.DjangoModelFactory[Listing]):
    class Meta:
        model = Listing

    package = factory.SubFactory(ListedPackageFactory)
    name = "Standard"
    kind = Listing.Kind.DOWNLOAD
    pricing_model = Listing.PricingModel.PAID
    price_amount = 4900
    currency = "EUR"
    max_activations = 3
    license_template = "# License\n\nYou may use this model on up to three machines."

    class Params:
        free = factory.Trait(pricing_model=Listing.PricingModel.FREE, price_amount=0)
        execute_only = factory.Trait(kind=Listing.Kind.EXECUTE_ONLY, run_quota=100)


class CouponFactory(factory.django.DjangoModelFactory[Coupon]):
    class Meta:
        model = Coupon

    code = factory.Sequence(lambda n: f"SAVE{n}")
    kind = Coupon.Kind.PERCENT
    percent_off = 20
