"""Keep the catalog's search rows in step with the registry's and commerce's rows.

Registry never imports the marketplace; these receivers watch its models instead. A saved
package, version or listing re-indexes its package at once (inside the caller's transaction, so
a rolled-back change leaves the old row). Versions count once validated: validation saves the
version after its variables exist. Status changes the registry makes with ``update()`` need no
re-index: the catalog filters on the package's status directly.

The catalog is derived data: a re-index that fails (a deadlock, a lock or statement timeout)
never fails the change that triggered it. Its savepoint is rolled back, the change commits, and
``marketplace.reindex_packages`` re-indexes the packages after the commit, with retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db.models.signals import post_delete, post_save

from accounts.models import Creator
from catalog.models import Category
from catalog.services import search
from marketplace.models import Listing
from registry.models import Package, PackageVersion

logger = logging.getLogger(__name__)


def _reindex(package_ids: Iterable[int]) -> None:
    ids = list(package_ids)
    try:
        search.index_packages(ids)  # each chunk in its own savepoint
    except Exception:
        from catalog.tasks import reindex_packages_task

        logger.exception("Re-indexing packages %s failed; retrying after the commit", ids[:10])
        reindex_packages_task.delay(ids)  # sent once the change commits


def _package_saved(sender, instance: Package, raw=False, **kwargs) -> None:
    if not raw:
        _reindex([instance.pk])


def _package_status_changed(sender, package: Package, **kwargs) -> None:
    _reindex([package.pk])


def _version_saved(sender, instance: PackageVersion, raw=False, created=False, **kwargs) -> None:
    # A new version is pending validation: nothing the catalog shows changes until it passes.
    if not raw and not created:
        _reindex([instance.package_id])


def _listing_changed(sender, instance: Listing, raw=False, **kwargs) -> None:
    if not raw:
        _reindex([instance.package_id])


def _creator_saved(sender, instance: Creator, raw=False, **kwargs) -> None:
    if not raw:
        _reindex(Package.objects.filter(owner_id=instance.user_id).values_list("pk", flat=True))


def _category_saved(sender, instance: Category, raw=False, **kwargs) -> None:
    search.invalidate_facets()


def connect() -> None:
    from marketplace.signals import order_placed
    from registry.signals import package_status_changed

    order_placed.connect(_order_placed, dispatch_uid="catalog-count-purchases")
    package_status_changed.connect(_package_status_changed, dispatch_uid="mkt-index-status")
    post_save.connect(_package_saved, sender=Package, dispatch_uid="mkt-index-package")
    post_save.connect(_version_saved, sender=PackageVersion, dispatch_uid="mkt-index-version")
    post_save.connect(_listing_changed, sender=Listing, dispatch_uid="mkt-index-listing")
    post_delete.connect(_listing_changed, sender=Listing, dispatch_uid="mkt-index-listing-del")
    post_save.connect(_creator_saved, sender=Creator, dispatch_uid="mkt-index-creator")
    post_save.connect(_category_saved, sender=Category, dispatch_uid="mkt-category")


def _order_placed(sender, request, order, **kwargs) -> None:
    from catalog.services import analytics

    for line in order.lines.all():
        analytics.track(request, "package.purchase", package_id=line.package_id, order=order.number)
