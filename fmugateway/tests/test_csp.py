"""Content-Security-Policy: every HTML page the product serves (storefront, account, creator
console, admin, API docs and browsable API, payment page) carries a strict policy and keeps to
it: no inline script without the request's nonce, no inline event handlers, no ``javascript:``
URLs, nothing loaded from another origin except Stripe.js on the payment page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.template import engines
from django.test import Client, RequestFactory
from django.urls import include, path, reverse

from accounts.factories import UserFactory
from accounts.services import organisations
from catalog.models import Category, PackageSearch, Review
from catalog.services import reviews
from catalog.tests.catalog_helpers import published_version
from execution.models import SimulationBatch, SimulationJob
from licensing.models import License
from marketplace.factories import CreatorFactory, ListingFactory
from marketplace.models import Order
from marketplace.tests.fixtures import buy
from registry.factories import PackageFactory
from registry.models import Package, ValidationRun

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]
HEADER = "Content-Security-Policy"
JSON_SCRIPT_TYPES = {"application/json", "application/ld+json", "importmap"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "xlink:href"}
# Elements that load a subresource into the page, and the attribute naming it.
LOADERS = {
    "script": "src",
    "link": "href",
    "img": "src",
    "iframe": "src",
    "frame": "src",
    "source": "src",
    "audio": "src",
    "video": "src",
    "track": "src",
    "embed": "src",
    "object": "data",
}


def parse_policy(header: str) -> dict[str, list[str]]:
    policy = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            policy[words[0].lower()] = words[1:]
    return policy


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _Page(HTMLParser):
    """What a page asks the browser to run and load."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {name.lower(): value or "" for name, value in attrs}))

    handle_startendtag = handle_starttag


def policy_problems(response, url: str, status: int = 200) -> list[str]:
    """Everything on this HTML response that the policy forbids, or a policy that is too loose."""
    if response.status_code != status:
        return [f"{url}: status {response.status_code}"]
    if not response["Content-Type"].startswith("text/html"):
        return [f"{url}: not an HTML page ({response['Content-Type']})"]
    header = response.get(HEADER)
    if not header:
        return [f"{url}: no {HEADER} header"]
    policy = parse_policy(header)
    problems = []
    for directive, expected in {
        "default-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "img-src": ["'self'", "data:"],
    }.items():
        if policy.get(directive) != expected:
            problems.append(f"{url}: {directive} is {policy.get(directive)}, not {expected}")
    script_src = policy.get("script-src", [])
    if "'self'" not in script_src:
        problems.append(f"{url}: script-src {script_src} lacks 'self'")
    for loose in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
        if loose in script_src:
            problems.append(f"{url}: script-src allows {loose}")
    nonces = [s[len("'nonce-") : -1] for s in script_src if s.startswith("'nonce-")]
    nonce = nonces[0] if nonces else None
    other_origins = {s for s in script_src if "://" in s}
    inline_styles = "'unsafe-inline'" in policy.get("style-src", [])

    page = _Page()
    page.feed(response.content.decode())
    for tag, attrs in page.tags:
        where = f"{url}: <{tag} {' '.join(f'{k}={v!r}' for k, v in attrs.items())}>"[:200]
        for name, value in attrs.items():
            if name.startswith("on"):
                problems.append(f"{where}: inline event handler {name}")
            if name in URL_ATTRIBUTES and value.strip().lower().startswith("javascript:"):
                problems.append(f"{where}: javascript: URL")
        if tag == "script" and "src" not in attrs:
            if attrs.get("type", "").lower() in JSON_SCRIPT_TYPES:
                continue
            if nonce is None or attrs.get("nonce") != nonce:
                problems.append(f"{where}: inline script without the response's nonce")
        if tag in ("embed", "object", "applet"):
            problems.append(f"{where}: plugin content")
        loaded = attrs.get(LOADERS.get(tag, ""), "")
        if loaded:
            parts = urlsplit(loaded)
            if tag == "img" and parts.scheme == "data":
                continue
            foreign = parts.netloc and parts.netloc != "testserver"
            if foreign and not (tag == "script" and origin(loaded) in other_origins):
                problems.append(f"{where}: loads from another origin")
        if not inline_styles:
            if "style" in attrs:
                problems.append(f"{where}: style attribute under style-src without inline styles")
            if tag == "style" and (nonce is None or attrs.get("nonce") != nonce):
                problems.append(f"{where}: <style> element without the response's nonce")
    return problems


def audit(client: Client, urls, **headers) -> list[str]:
    problems = []
    for url in urls:
        problems += policy_problems(client.get(url, **headers), url)
    return problems


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world(stripe_testbed):
    """A small marketplace with something on every page: a creator with a listed, validated,
    reviewed package and listings; a buyer with a free license, a job, a batch, an organisation
    and a pending paid order; a moderator and an admin."""
    Category.objects.create(name="Mechanics", slug="mechanics")
    seller = CreatorFactory(display_name="Acme", slug="acme", bio="Models for **engineers**.")
    package = PackageFactory(
        owner=seller.user,
        slug="ball",
        name="Bouncing ball",
        status=Package.Status.LISTED,
        is_free=True,
        category="mechanics",
        tags=["mechanics"],
        description="Classic **hybrid system**.\n\n- height `h`",
    )
    version = published_version(package, variables=("h", "v", "e"), version="1.0.0")
    ValidationRun.objects.create(
        version=version, status=ValidationRun.Status.PASSED, progress=100, report={}
    )
    free = ListingFactory(package=package, name="Community", pricing_model="free", price_amount=0)
    paid = ListingFactory(package=package, name="Commercial", price_amount=4900)
    PackageSearch.objects.filter(pk=package.pk).update(featured=True, trending_score=3)
    buyer = UserFactory(email="buyer@example.com")
    buy(buyer, free)
    reviews.submit_review(buyer, package, rating=4, title="Solid", pros="Fast")
    job = SimulationJob.objects.create(owner=buyer, version=version, sha256=version.sha256)
    batch = SimulationBatch.objects.create(owner=buyer, version=version, sha256=version.sha256)
    organisations.create_organisation(buyer, name="Acme Labs")
    buyer_client = logged_in(buyer)
    buyer_client.post(f"/packages/{package.slug}/wishlist/")
    buyer_client.post("/cart/add/", {"listing": paid.pk, "buy_now": "1"})
    pending = Order.objects.get(buyer=buyer, status=Order.Status.PENDING)
    staff = UserFactory(email="admin@example.com", is_staff=True, is_superuser=True)
    return {
        "seller": seller,
        "package": package,
        "version": version,
        "buyer": buyer,
        "buyer_client": buyer_client,
        "license": License.objects.get(owner=buyer),
        "paid_order": Order.objects.get(buyer=buyer, status=Order.Status.PAID),
        "pending": pending,
        "job": job,
        "batch": batch,
        "moderator": UserFactory(moderator=True),
        "staff": staff,
        "free": free,
        "paid": paid,
    }


def test_storefront_pages_for_visitors_keep_to_the_policy(world):
    package, seller = world["package"], world["seller"]
    urls = [
        "/",
        "/catalog/",
        "/catalog/?q=ball&sort=newest",
        "/catalog/c/mechanics/",
        f"/creators/{seller.slug}/",
        f"/packages/{package.slug}/",
        f"/packages/{package.slug}/versions/1.0.0/",
        f"/packages/{package.slug}/versions/1.0.0/report/",
        "/dmca/",
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
        "/accounts/password/reset/sent/",
        "/accounts/password/reset/done/",
        "/accounts/password/reset/MQ/set-password/",
    ]

    problems = audit(Client(), urls)
    # Pages answered with another status keep to it too: a bad link, a form without its token.
    failed = Client().get("/accounts/verify/MQ/bad-token/")
    problems += policy_problems(failed, "/accounts/verify/MQ/bad-token/", status=400)
    forged = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x"})
    problems += policy_problems(forged, "POST /accounts/login/ without a CSRF token", status=403)
    assert "CSRF verification failed" in forged.content.decode()

    assert problems == []


def test_buyer_pages_keep_to_the_policy(world):
    client, package = world["buyer_client"], world["package"]
    urls = [
        f"/packages/{package.slug}/",  # with the run form and the buyer's license
        "/cart/",
        "/account/",
        "/account/licenses/",
        f"/account/licenses/{world['license'].pk}/",
        "/account/orders/",
        f"/account/orders/{world['paid_order'].number}/",
        f"/account/orders/{world['paid_order'].number}/pay/",
        "/account/billing/",
        "/account/billing/plan/",
        "/account/billing/credits/",
        "/account/api-keys/",
        "/account/wishlist/",
        "/account/organisations/",
        "/account/organisations/acme-labs/",
        "/accounts/profile/",
        "/accounts/password/change/",
        "/accounts/password/change/done/",
        "/jobs/",
        f"/jobs/{world['job'].pk}/",
        f"/jobs/compare/?a={world['job'].pk}&b={world['job'].pk}",
        f"/batches/{world['batch'].pk}/",
    ]

    problems = audit(client, urls)
    # Pages that answer a form: a new key shown once, a rotated license key, an order complete.
    new_key = client.post("/account/api-keys/", {"name": "ci", "scopes": ["read"]}, follow=True)
    problems += policy_problems(new_key, "POST /account/api-keys/")
    rotated = client.post(
        f"/account/licenses/{world['license'].pk}/", {"action": "rotate"}, follow=True
    )
    problems += policy_problems(rotated, "POST /account/licenses/<pk>/")
    other = UserFactory()
    complete = logged_in(other).post(
        "/cart/add/", {"listing": world["free"].pk, "buy_now": "1"}, follow=True
    )
    problems += policy_problems(complete, "POST /cart/add/ (free)")

    assert problems == []


def test_the_pay_page_of_a_pending_order_allows_only_the_configured_stripe(world, settings):
    url = f"/account/orders/{world['pending'].number}/pay/"

    response = world["buyer_client"].get(url)

    assert policy_problems(response, url) == []
    html = response.content.decode()
    assert f'src="{settings.STRIPE_JS_URL}"' in html and 'id="card-form"' in html
    policy = parse_policy(response[HEADER])
    stripe_js, stripe_api = origin(settings.STRIPE_JS_URL), origin(settings.STRIPE_API_BASE)
    assert policy["script-src"] == ["'self'", stripe_js]
    assert stripe_api in policy["connect-src"] and stripe_js in policy["frame-src"]
    # Other pages do not trust Stripe's origins.
    other = parse_policy(world["buyer_client"].get("/account/orders/")[HEADER])
    assert all(stripe_js not in sources for sources in other.values())


def test_with_stripes_own_stripe_js_the_pay_page_trusts_stripes_origins(settings):
    from fmugateway.core.csp import stripe_sources

    settings.STRIPE_JS_URL = "https://js.stripe.com/v3/"
    settings.STRIPE_API_BASE = "https://api.stripe.com"

    sources = stripe_sources()

    assert sources["script-src"] == ["https://js.stripe.com", "https://*.js.stripe.com"]
    assert "https://hooks.stripe.com" in sources["frame-src"]  # 3-D Secure
    assert sources["connect-src"] == ["'self'", "https://api.stripe.com"]


def test_creator_console_pages_keep_to_the_policy(world):
    client, slug = logged_in(world["seller"].user), world["package"].slug
    urls = [
        "/console/",
        "/console/packages/new/",
        f"/console/packages/{slug}/",
        f"/console/packages/{slug}/listings/",
        "/console/sales/",
        "/console/reviews/",
        "/console/reviews/?unanswered=1",
        "/console/payouts/",
        "/console/takedowns/",
    ]

    assert audit(client, urls) == []


@pytest.mark.slow
def test_admin_pages_keep_to_the_policy(world):
    staff = world["staff"]
    Review.objects.update(status=Review.Status.REPORTED)
    client = logged_in(staff)
    request = RequestFactory().get("/admin/")
    request.user = staff
    urls = ["/admin/", "/admin/password_change/"]
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        if model_admin.has_add_permission(request):
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(
                reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            )
    account = staff.credit_account if hasattr(staff, "credit_account") else None
    if account is not None:
        urls.append(reverse("admin:billing_creditaccount_adjust", args=[account.pk]))

    problems = audit(client, urls)
    problems += audit(Client(), ["/admin/login/"])

    assert len(urls) > 30  # every registered model's list, and more
    assert problems == []


def test_api_docs_and_browsable_api_keep_to_the_policy(world):
    html = {"HTTP_ACCEPT": "text/html"}
    problems = audit(Client(), ["/api/v1/docs/"])
    problems += audit(Client(), ["/api/v1/"], **html)
    problems += audit(world["buyer_client"], ["/api/v1/docs/"])
    problems += audit(world["buyer_client"], ["/api/v1/", "/api/v1/packages"], **html)

    assert problems == []


def test_api_docs_are_served_from_the_projects_static_files(client):
    response = client.get("/api/v1/docs/")

    page = _Page()
    page.feed(response.content.decode())
    assets = [
        attrs.get("src") or attrs.get("href")
        for tag, attrs in page.tags
        if tag in ("script", "link") and (attrs.get("src") or attrs.get("href"))
    ]
    static = [a for a in assets if a.startswith("/static/")]
    assert {a.rsplit("/", 1)[1] for a in static} >= {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    }
    for asset in static:  # shipped with the project (drf-spectacular-sidecar), no CDN
        assert finders.find(asset.removeprefix("/static/")), asset
    # Swagger UI's start script is a script of its own, not inline code.
    (init,) = [a for a in assets if a.startswith("/api/v1/docs/")]
    script = client.get(init)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()
    assert '"/api/v1/schema/"' in script.content.decode()


def test_the_nonce_is_fresh_for_each_response_and_matches_its_header(client):
    first, second = client.get("/csp-probe/"), client.get("/csp-probe/")

    for response in (first, second):
        nonce = response.content.decode().split('nonce="', 1)[1].split('"', 1)[0]
        assert f"'nonce-{nonce}'" in parse_policy(response[HEADER])["script-src"]
        assert policy_problems(response, "/csp-probe/") == []
    assert first[HEADER] != second[HEADER]


@pytest.mark.slow
def test_a_report_uri_is_added_when_configured():
    code = "import django; django.setup();from csp.utils import build_policy; print(build_policy())"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fmugateway.settings_test"}

    plain = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    reporting = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**env, "CSP_REPORT_URI": "https://csp.example.com/report"},
        capture_output=True,
        text=True,
    )

    assert "report-uri" not in plain.stdout, plain.stderr
    assert parse_policy(reporting.stdout)["report-uri"] == ["https://csp.example.com/report"]


def _probe(request):
    template = engines["django"].from_string(
        '<!doctype html><title>probe</title><script nonce="{{ request.csp_nonce }}">'
        "document.title = {{ data }};</script>"
    )
    return HttpResponse(template.render({"data": json.dumps("ok")}, request))


urlpatterns = [path("csp-probe/", _probe), path("", include("fmugateway.urls"))]
test_the_nonce_is_fresh_for_each_response_and_matches_its_header = pytest.mark.urls(__name__)(
    test_the_nonce_is_fresh_for_each_response_and_matches_its_header
)
