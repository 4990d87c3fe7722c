"""Types for the views that only signed-in users reach.

Django and DRF type ``request.user`` as ``User | AnonymousUser``. Behind ``login_required``, or
an API operation whose scope needs a credential (``fmugateway.core.scopes``), it is always a
``User``: annotate such a view's ``request`` with one of these request types instead of
narrowing the user at every use. (Annotations only: the request objects stay Django's and
DRF's.) Where the signature is fixed by a base class (``ListCreateAPIView.post``), use
``signed_in_user``.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    user: User


class AuthenticatedRequest(Request):
    user: User


def signed_in_user(request: HttpRequest | Request) -> User:
    """``request.user``, which the view's permissions have already required to be signed in."""
    user = request.user
    assert isinstance(user, User), "an anonymous request got past the view's permissions"
    return user
