"""Who may download a version's file. Other apps add rules (e.g. licenses) at start-up."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from accounts.models import is_moderator
from fmugateway.core.errors import DomainError
from registry.models import Package, PackageVersion

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

DownloadRule = Callable[[object, PackageVersion], bool]
DownloadBlock = Callable[[object, PackageVersion], DomainError | None]
ListingHold = Callable[[Package], DomainError | None]
_extra_download_rules: list[DownloadRule] = []
_download_blocks: list[DownloadBlock] = []
_listing_holds: list[ListingHold] = []


def register_download_rule(rule: DownloadRule) -> None:
    """Let another app grant downloads (the marketplace registers license entitlements)."""
    if rule not in _extra_download_rules:
        _extra_download_rules.append(rule)


def register_download_block(check: DownloadBlock) -> None:
    """Let another app refuse downloads with its own error (the marketplace's DMCA takedowns);
    a block beats every rule but never applies to the owner or moderators."""
    if check not in _download_blocks:
        _download_blocks.append(check)


def register_listing_hold(check: ListingHold) -> None:
    """Let another app keep a package from being submitted or listed (a DMCA takedown in force)."""
    if check not in _listing_holds:
        _listing_holds.append(check)


def listing_hold(package: Package) -> DomainError | None:
    """The error the first registered hold refuses listing ``package`` with, or ``None``."""
    for check in _listing_holds:
        error = check(package)
        if error is not None:
            return error
    return None


def first_block(
    checks: Iterable[DownloadBlock], user: User | AnonymousUser, version: PackageVersion
) -> DomainError | None:
    """The error the first of ``checks`` refuses ``user`` with, or ``None``; blocks never apply
    to anonymous users (refused anyway), the owner or moderators."""
    if not getattr(user, "is_authenticated", False):
        return None
    if version.package.owner_id == user.pk or is_moderator(user):
        return None
    for check in checks:
        error = check(user, version)
        if error is not None:
            return error
    return None


def download_block(user: User | AnonymousUser, version: PackageVersion) -> DomainError | None:
    """The error a registered download block refuses ``user`` with, or ``None``."""
    return first_block(_download_blocks, user, version)


def may_download(user: User | AnonymousUser, version: PackageVersion) -> bool:
    """The owner and moderators always; anyone signed in for published versions of listed free
    packages; plus whatever registered rules grant."""
    if not getattr(user, "is_authenticated", False):
        return False
    package = version.package
    if package.owner_id == user.pk or is_moderator(user):
        return True
    if package.status == Package.Status.UNLISTED:
        return False  # taken down: blocked for everyone but owner and moderators
    if any(check(user, version) is not None for check in _download_blocks):
        return False
    published = (
        package.status == Package.Status.LISTED
        and version.validation_status == PackageVersion.ValidationStatus.PASSED
        and version.yanked_at is None
    )
    if package.is_free and published:
        return True
    return any(rule(user, version) for rule in _extra_download_rules)
