import factory

from accounts.factories import UserFactory
from registry.models import Package


class PackageFactory(factory.django.DjangoModelFactory[Package]):
    class Meta:
        model = Package

    # Any declaration: ListedPackageFactory takes the owner from a creator.
    owner: factory.declarations.BaseDeclaration = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Model {n}")
    slug = factory.Sequence(lambda n: f"model-{n}")
    summary = "A model for tests."
    description = "Some **Markdown**."
    license_text = "Test license."
    is_free = True
