"""Core views (``/healthz``, ``/favicon.ico``) and the helpers every app's page views share."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_safe

from fmugateway.core.health import run_checks


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = run_checks()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@cache_control(public=True, max_age=86400)
@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and feed readers ask for /favicon.ico whatever the page links: send them to our
    static SVG (a temporary redirect, since its hashed static URL changes with the file)."""
    return redirect(static("favicon.svg"))


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


# A secret shown once (a license key, an API key) crosses the POST → redirect → GET in the
# session, and the GET takes it out: a refresh neither re-posts the form nor shows it again.
_SHOWN_ONCE = "shown_once"


def keep_shown_once(request: HttpRequest, name: str, value: object) -> None:
    """Hold ``value`` (JSON-serialisable) for the next ``take_shown_once(request, name)``."""
    held = request.session.get(_SHOWN_ONCE, {})
    held[name] = value
    request.session[_SHOWN_ONCE] = held


def take_shown_once(request: HttpRequest, name: str) -> object | None:
    """What ``keep_shown_once`` held under ``name``, removed from the session; ``None`` after."""
    held = request.session.get(_SHOWN_ONCE)
    if not held or name not in held:
        return None
    value = held.pop(name)
    if held:
        request.session[_SHOWN_ONCE] = held
    else:
        del request.session[_SHOWN_ONCE]
    return value
