"""Who may run a version. The marketplace (licenses) and billing add rules at start-up."""

from __future__ import annotations

from collections.abc import Callable

from registry.models import Package, PackageVersion, is_moderator

RunRule = Callable[[object, PackageVersion], bool]
_extra_run_rules: list[RunRule] = []


def register_run_rule(rule: RunRule) -> None:
    """Let another app grant runs (e.g. the marketplace's execute-only entitlements)."""
    if rule not in _extra_run_rules:
        _extra_run_rules.append(rule)


def unregister_run_rule(rule: RunRule) -> None:
    if rule in _extra_run_rules:
        _extra_run_rules.remove(rule)


def may_run(user, version: PackageVersion) -> bool:
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
    published = (
        package.status == Package.Status.LISTED
        and version.validation_status == PackageVersion.ValidationStatus.PASSED
        and version.yanked_at is None
    )
    if package.is_free and published:
        return True
    return any(rule(user, version) for rule in _extra_run_rules)
