"""Fixtures for billing tests: a token signing key, API keys and clients that use them."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from billing import token_keys
from billing.factories import CreditAccountFactory, make_api_key

_TEST_SIGNING_PEM = token_keys.generate_private_pem()


@pytest.fixture(autouse=True)
def token_signing_key(settings):
    """Tests run with DEBUG off, like production: give them a configured signing key."""
    settings.TOKEN_SIGNING_KEY = _TEST_SIGNING_PEM
    settings.TOKEN_SIGNING_KEY_PASSWORD = None
    settings.TOKEN_VERIFY_KEYS = ""
    return _TEST_SIGNING_PEM


@pytest.fixture
def api_key(user):
    """``(ApiKey, secret)`` with scopes read and run, owned by ``user``."""
    return make_api_key(user, scopes=("read", "run"))


@pytest.fixture
def key_client(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key[1])
    return client


@pytest.fixture
def read_key_client(user) -> APIClient:
    _, secret = make_api_key(user, scopes=("read",), name="read only")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def account(user):
    """The user's credit account with 100 credits (no monthly grant)."""
    return CreditAccountFactory(user=user, balance=100)
