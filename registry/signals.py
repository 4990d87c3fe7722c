"""Signals other apps listen to (registry imports none of them)."""

from django.dispatch import Signal

# Sent with ``package`` after a review transition (submitted, approved, rejected) changed its
# status with an UPDATE, which sends no post_save (e.g. the marketplace re-indexes its catalog row).
package_status_changed = Signal()
