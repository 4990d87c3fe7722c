"""Signals other apps listen to (accounts imports none of them)."""

from django.dispatch import Signal

# Sent with ``user`` inside the transaction that activates an account whose address was
# confirmed (e.g. the marketplace binds seat invitations sent to that address).
email_verified = Signal()
