"""Billing factories. Keys and ledger rows go through the services so invariants hold."""

from __future__ import annotations

import factory

from accounts.factories import UserFactory
from billing.models import ApiKey, CreditAccount
from billing.services import api_keys, credits


class CreditAccountFactory(factory.django.DjangoModelFactory[CreditAccount]):
    """An account with ``balance`` credits, written as one ledger adjustment (no grant)."""

    class Meta:
        model = CreditAccount
        django_get_or_create = ("user",)
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)

    @factory.post_generation
    def balance(self, create, extracted, **kwargs):
        if create and extracted:
            credits.adjust(self, int(extracted), memo="factory balance", actor=None)
            self.refresh_from_db()


def make_api_key(user=None, *, scopes=("read", "run"), name="test key", **kwargs):
    """Create a key through the service; returns ``(ApiKey, full secret)``."""
    user = user or UserFactory()
    new = api_keys.create_api_key(user, name=name, scopes=list(scopes), **kwargs)
    return new.key, new.secret


class ApiKeyFactory(factory.Factory):
    """``ApiKeyFactory()`` → an ``ApiKey`` whose secret is on ``.raw`` (tests only)."""

    class Meta:
        model = ApiKey

    owner = factory.SubFactory(UserFactory)
    scopes = ("read", "run")
    name = factory.Sequence(lambda n: f"key {n}")

    @classmethod
    def _create(cls, model_class, owner, scopes, name, **kwargs):
        key, secret = make_api_key(owner, scopes=scopes, name=name, **kwargs)
        key.raw = secret
        return key

    _build = _create
