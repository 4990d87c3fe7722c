"""Extension points of the registry's pages: other apps add to the package page and the creator
console without the registry importing them (the marketplace adds SKUs, reviews and buy buttons;
see ``catalog.page_extensions``). Mirrors ``registry.access.register_download_rule``."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from registry.models import Package, PackageVersion

PackagePageExtension = Callable[[HttpRequest, Package, PackageVersion | None], dict]
ConsoleExtension = Callable[[HttpRequest, Package | None], dict]
_package_page: list[PackagePageExtension] = []
_console: list[ConsoleExtension] = []


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
