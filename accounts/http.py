"""Request types for the views that only signed-in users reach, for type annotations.

Django and DRF type ``request.user`` as ``User | AnonymousUser``. Behind ``login_required``
or DRF's ``IsAuthenticated`` it is always a ``User``: annotate such a view's ``request`` with
one of these instead of narrowing the user at every use. (Never instantiated: the request
objects stay Django's and DRF's.)
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    user: User


class AuthenticatedRequest(Request):
    user: User
