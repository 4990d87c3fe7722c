import hashlib

import factory

from accounts.factories import UserFactory
from registry.models import Package, PackageVersion


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


class PackageVersionFactory(factory.django.DjangoModelFactory[PackageVersion]):
    """A version row without a stored file or inspection (not validated unless told)."""

    class Meta:
        model = PackageVersion

    package = factory.SubFactory(PackageFactory)
    version = factory.Sequence(lambda n: f"1.0.{n}")
    uploaded_by = factory.SelfAttribute("package.owner")
    artifact_key = factory.LazyAttribute(lambda o: f"artifacts/{o.package.slug}-{o.version}.fmu")
    sha256 = factory.Sequence(lambda n: hashlib.sha256(f"version-{n}".encode()).hexdigest())
    size = 1
    fmi_version = "2.0"
    model_name = "M"
