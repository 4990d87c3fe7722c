"""What licensing tells the apps above it (commerce bills subscriptions; licensing never asks)."""

from django.dispatch import Signal

# A subscription license was suspended or reinstated: its billing should follow (``license``).
subscription_license_status_changed = Signal()

# Staff revoked ``license`` in the admin: whatever bills it stops too.
license_revoked_by_staff = Signal()
