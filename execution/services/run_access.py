"""Who may run a version. The marketplace (licenses) and billing add rules at start-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from accounts.models import is_moderator
from fmugateway.core.errors import DomainError
from registry.access import first_block
from registry.models import Package, PackageVersion

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

RunRule = Callable[[object, PackageVersion], bool]
RunBlock = Callable[[object, PackageVersion], DomainError | None]
_extra_run_rules: list[RunRule] = []
_run_blocks: list[RunBlock] = []


def register_run_rule(rule: RunRule) -> None:
    """Let another app grant runs (e.g. the marketplace's execute-only entitlements)."""
    if rule not in _extra_run_rules:
        _extra_run_rules.append(rule)


def unregister_run_rule(rule: RunRule) -> None:
    if rule in _extra_run_rules:
        _extra_run_rules.remove(rule)


def register_run_block(check: RunBlock) -> None:
    """Let another app refuse runs with its own error (the marketplace's DMCA takedowns); a
    block beats every rule but never applies to the owner or moderators."""
    if check not in _run_blocks:
        _run_blocks.append(check)


def run_block(user: User | AnonymousUser, version: PackageVersion) -> DomainError | None:
    """The error a registered run block refuses ``user`` with, or ``None``."""
    return first_block(_run_blocks, user, version)


def may_run(user: User | AnonymousUser, version: PackageVersion) -> bool:
    """The owner and moderators always; anyone signed in for published versions of listed free
    packages; plus whatever registered rules grant. Taken-down (unlisted) packages run for
    their owner and moderators only.

    Running never implies downloading: no job feature hands out the FMU file.
    """
    if not getattr(user, "is_authenticated", False):
        return False
    package = version.package
    if package.owner_id == user.pk or is_moderator(user):
        return True
    if package.status == Package.Status.UNLISTED:
        return False
    if any(check(user, version) is not None for check in _run_blocks):
        return False
    published = (
        package.status == Package.Status.LISTED
        and version.validation_status == PackageVersion.ValidationStatus.PASSED
        and version.yanked_at is None
    )
    if package.is_free and published:
        return True
    return any(rule(user, version) for rule in _extra_run_rules)
