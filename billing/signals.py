"""Model signals that keep the per-process cache of verified API keys honest.

Saving or deleting a key, its owner or the owner's plan replaces the owner's revocation stamp
(``billing.services.key_cache``), so every process re-reads that owner's keys on their next use.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save

from billing.models import AccountPlan, ApiKey
from billing.services import key_cache


def _owner_changed(sender, instance, **kwargs) -> None:
    owner_id = {ApiKey: "owner_id", AccountPlan: "user_id"}.get(sender, "pk")
    key_cache.invalidate(getattr(instance, owner_id))


def connect() -> None:
    for model in (ApiKey, AccountPlan, get_user_model()):
        for signal in (post_save, post_delete):
            signal.connect(
                _owner_changed, sender=model, dispatch_uid=f"billing:{signal}:{model.__name__}"
            )
