"""What each API operation needs: one ``required_scopes`` mapping per view, enforced everywhere.

Every API view declares, per HTTP method, what a caller needs::

    class JobListView(APIView):
        required_scopes = {"GET": "read", "POST": "run"}

* a scope name (``read``, ``run``, ...): a signed-in caller whose credential holds that scope.
  API keys and tokens carry scopes; browser sessions hold them all.
* ``public("read")``: anyone; a caller who presents a credential needs ``read`` (anonymous
  callers only ever see public objects, signed-in ones may see their own).
* ``public()``: anyone, whatever their credential holds (license checks by key, public keys).
* ``signed_in()``: any credential, whatever its scopes (the key-to-token exchange).

``ScopeRequired`` (the default permission class) enforces it: no credential where one is
needed is 401 ``not_authenticated``, a credential without the scope is 403
``insufficient_scope``. A view or method without a declaration is refused (403
``scope_undeclared``) and reported by the system check ``fmugateway.E010``, so an operation can
never be open by omission.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class Scope(models.TextChoices):
    READ = "read", "Read: the catalog, your jobs, results, licenses, orders, balance"
    RUN = "run", "Run: start, cancel and rerun simulations and sweeps"
    PUBLISH = "publish", "Publish: packages, versions, listings, signing keys, creator profile"
    LICENSES = "licenses", "Licenses: rotate keys, seats, organisations, machines, license files"
    ORDERS = "orders", "Orders: cart, checkout, payments, subscriptions, credit packs"
    ACCOUNT = "account", "Account: your profile and API keys"


SCOPES: tuple[str, ...] = tuple(Scope.values)


@dataclass(frozen=True)
class Requirement:
    """``scope`` None: no particular scope; ``anonymous``: callers without credentials allowed."""

    scope: str | None
    anonymous: bool = False

    def __post_init__(self) -> None:
        if self.scope is not None and self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}; one of {', '.join(SCOPES)}")

    def describe(self) -> str:
        if self.scope is None:
            return "public" if self.anonymous else "any credential"
        return f"{self.scope} (or anonymous)" if self.anonymous else self.scope


def public(scope: str | None = None) -> Requirement:
    return Requirement(scope, anonymous=True)


def signed_in() -> Requirement:
    return Requirement(None)


# OPTIONS only describes the operation (DRF's metadata), which is no more than the schema shows.
_OPTIONS = public()


def requirement(view, method: str) -> Requirement | None:
    """The view's declaration for ``method`` (HEAD as GET), or None when it declares none."""
    declared = getattr(view, "required_scopes", None)
    method = method.upper()
    if method == "OPTIONS":
        return _OPTIONS
    if not isinstance(declared, dict):
        return None
    value = declared.get("GET" if method == "HEAD" else method)
    if isinstance(value, str):
        return Requirement(value)
    return value


def scopes_of(request: Request) -> frozenset[str]:
    """The scopes the request's credential grants (all of them for session users)."""
    if not getattr(request.user, "is_authenticated", False):
        return frozenset()
    scopes = getattr(request.auth, "scope_set", None)
    if scopes is None:
        scopes = getattr(request.auth, "scopes", None)
    return frozenset(SCOPES) if scopes is None else frozenset(scopes)


def _handles(view, method: str) -> bool:
    name = method.lower()
    return name in view.http_method_names and hasattr(view, name)


class ScopeRequired(BasePermission):
    """Enforces the view's ``required_scopes`` for the request's method."""

    code = "insufficient_scope"
    message = "This credential lacks the scope this operation needs."

    def has_permission(self, request: Request, view) -> bool:
        assert request.method is not None  # set on every request Django serves
        needed = requirement(view, request.method)
        if needed is None and not _handles(view, request.method):
            return True  # the view answers 405 method_not_allowed
        if needed is None:
            self.code = "scope_undeclared"
            self.message = "This operation declares no scope, so it is refused."
            return False
        if not getattr(request.user, "is_authenticated", False):
            return needed.anonymous  # False: DRF answers 401 not_authenticated
        if needed.scope is None or needed.scope in scopes_of(request):
            return True
        self.message = f"This credential lacks the scope: {needed.scope}."
        return False
