"""Extension points of the registry's pages: other apps add to the package page and the creator
console without the registry importing them (the marketplace adds SKUs, reviews and buy buttons;
see ``catalog.page_extensions``). Mirrors ``registry.access.register_download_rule``."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from registry.models import Package, PackageVersion

PackagePageExtension = Callable[[HttpRequest, Package, PackageVersion | None], dict]
ConsoleExtension = Callable[[HttpRequest, Package | None], dict]
UnavailablePage = Callable[[HttpRequest, Package], HttpResponse | None]
CategoryChoices = Callable[[], list[tuple[str, str]]]
_package_page: list[PackagePageExtension] = []
_console: list[ConsoleExtension] = []
_unavailable: list[UnavailablePage] = []
_category_choices: list[CategoryChoices] = []


def register_package_page_extension(extension: PackagePageExtension) -> None:
    """``extension(request, package, current_version)`` returns extra template context."""
    if extension not in _package_page:
        _package_page.append(extension)


def register_console_extension(extension: ConsoleExtension) -> None:
    """``extension(request, package_or_None)`` returns extra context for the console pages
    (``None``: the console's dashboard)."""
    if extension not in _console:
        _console.append(extension)


def package_page_context(request, package: Package, current: PackageVersion | None) -> dict:
    context: dict = {}
    for extension in _package_page:
        context.update(extension(request, package, current))
    return context


def console_context(request, package: Package | None = None) -> dict:
    context: dict = {}
    for extension in _console:
        context.update(extension(request, package))
    return context


def register_unavailable_page(page: UnavailablePage) -> None:
    """``page(request, package)`` answers for a package ``request.user`` may not see, or returns
    ``None``: compliance explains a takedown to the people who hold a license for it."""
    if page not in _unavailable:
        _unavailable.append(page)


def unavailable_page(request: HttpRequest, package: Package) -> HttpResponse | None:
    """The first registered answer for a package hidden from ``request.user``; ``None``: 404."""
    for page in _unavailable:
        response = page(request, package)
        if response is not None:
            return response
    return None


def register_category_choices(provider: CategoryChoices) -> None:
    """``provider()`` returns the categories a package may name, as (value, label) pairs in
    display order: the catalog's category tree. The package form offers them as a choice."""
    if provider not in _category_choices:
        _category_choices.append(provider)


def category_choices() -> list[tuple[str, str]] | None:
    """The registered categories (value, label); ``None`` when no app offers any (free text)."""
    if not _category_choices:
        return None
    return [choice for provider in _category_choices for choice in provider()]
