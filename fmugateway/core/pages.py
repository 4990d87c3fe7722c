from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def redirect_back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next") or request.META.get("HTTP_REFERER") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


def unwrapped_user(request: HttpRequest):
    """The user object itself (billing's ``plan_for`` inspects the model class, not the lazy
    wrapper the middleware puts on the request)."""
    user = request.user
    return getattr(user, "_wrapped", user) if user.is_authenticated else user
