"""The Content-Security-Policy of each response: ``settings.CONTENT_SECURITY_POLICY`` (django-csp),
widened only where a page needs it.

* A page whose view is marked ``@loads_stripe_js`` (the order payment page) loads Stripe.js,
  which frames Stripe's card fields and calls Stripe's API: its policy adds the origins of
  ``STRIPE_JS_URL`` and ``STRIPE_API_BASE``, read from the settings at each request (tests point
  them at a local Stripe-compatible server).
* JSON responses get no policy: browsers never render them.
* The Django admin and the API's HTML pages (DRF's browsable API, drf-spectacular's Swagger UI)
  come from third-party templates with ``style`` attributes and ``<style>`` elements: their
  policy allows inline styles. Scripts stay 'self' and the nonce everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

ViewFunction = TypeVar("ViewFunction", bound=Callable[..., Any])

# Paths served by third-party templates that carry inline styles.
INLINE_STYLE_PREFIXES = ("/admin/", "/api/")
# Stripe's own Stripe.js also loads from js.stripe.com's subdomains and frames hooks.stripe.com
# (3-D Secure); a stand-in (tests) serves everything from its own origin.
STRIPE_JS_ORIGIN = "https://js.stripe.com"
STRIPE_JS_SCRIPTS = ("https://*.js.stripe.com",)
STRIPE_JS_FRAMES = ("https://*.js.stripe.com", "https://hooks.stripe.com")


def loads_stripe_js(view: ViewFunction) -> ViewFunction:
    """Mark a page view whose template loads Stripe.js: its policy admits Stripe's origins."""
    view.loads_stripe_js = True  # type: ignore[attr-defined]  # read back by the middleware
    return view


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def stripe_sources() -> dict[str, list[str]]:
    """What Stripe.js needs, from the current Stripe settings."""
    js, api = _origin(settings.STRIPE_JS_URL), _origin(settings.STRIPE_API_BASE)
    stripes_own = js == STRIPE_JS_ORIGIN
    return {
        "script-src": [js, *STRIPE_JS_SCRIPTS] if stripes_own else [js],
        "frame-src": [js, *STRIPE_JS_FRAMES] if stripes_own else [js],
        "connect-src": ["'self'", api],
    }


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        # Browsers never render JSON as a document (nosniff): no policy to build on the API's
        # hot paths (~40 us a response).
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        update = dict(parts.update or {})
        match = getattr(request, "resolver_match", None)
        if match is not None and getattr(match.func, "loads_stripe_js", False):
            for directive, sources in stripe_sources().items():
                update[directive] = [*update.get(directive, ()), *sources]
        if request.path_info.startswith(INLINE_STYLE_PREFIXES):
            update["style-src"] = [*update.get("style-src", ()), UNSAFE_INLINE]
        parts.update = update or None
        return parts
