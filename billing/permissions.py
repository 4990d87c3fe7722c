"""Scopes: ``permission_classes = [HasScope("run")]`` lets only credentials with ``run`` in.

API keys and tokens carry scopes (``request.auth.scopes``). Session users (the browser) and any
other authentication without scopes have them all. A missing scope is 403 ``insufficient_scope``.
"""

from __future__ import annotations

import functools

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from billing.models import SCOPES


def scopes_of(request: Request) -> frozenset[str]:
    """The scopes the request's credential grants (all of them for session users)."""
    if not getattr(request.user, "is_authenticated", False):
        return frozenset()
    scopes = getattr(request.auth, "scope_set", None)
    if scopes is None:
        scopes = getattr(request.auth, "scopes", None)
    return frozenset(SCOPES) if scopes is None else frozenset(scopes)


class ScopePermission(BasePermission):
    required: frozenset[str] = frozenset()
    code = "insufficient_scope"

    @property
    def message(self) -> str:
        return f"This credential lacks the scope(s): {', '.join(sorted(self.required))}."

    def has_permission(self, request: Request, view) -> bool:
        if not getattr(request.user, "is_authenticated", False):
            return False  # DRF turns this into not_authenticated
        return self.required <= scopes_of(request)


@functools.cache
def HasScope(*scopes: str) -> type[ScopePermission]:
    """A permission class requiring every scope in ``scopes``; composable with ``&``/``|``."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"unknown scope(s): {sorted(unknown)}")
    return type(
        f"HasScope_{'_'.join(sorted(scopes))}",
        (ScopePermission,),
        {"required": frozenset(scopes), "__module__": __name__},
    )
