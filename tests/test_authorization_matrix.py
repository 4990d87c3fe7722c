"""Authorization matrix: what every persona gets from every object endpoint (issue 13).

One row per (method, path template, owner kind) with five expected answers, always in the order

    anonymous   owner   another-buyer   another-creator   moderator

"Owner" is whom the object belongs to: the ``creator`` for packages, versions, listings, payouts
and complaints against their packages; the ``buyer`` for jobs, batches, licenses, orders,
carts, organisations, keys and ledgers. For creator rows the other two are a buyer and an
approved creator with nothing here; for buyer rows "another creator" is the creator of the
package the object is about (who must not see their buyers' objects either).

A cell is ``"<status>"`` or ``"<status>:<code>"``: the API's error ``code``, or for pages
``login`` (redirect to sign in), ``error`` / ``success`` (the message the redirect carries).
Each persona signs in as a browser does (a session; scopes are fmugateway/tests/test_scopes.py's
business). The rules the cells follow (README, the views): another user's private object is 404
(never 403, never a hint); no credential is 401 ``not_authenticated`` on the API and a redirect
to sign in on pages; moderators see every job, batch, package and complaint but do not act
through the creator API (403 ``not_package_owner``); a taken-down package answers 451
``package_taken_down`` on downloads and runs to everyone but its owner and moderators.

Every row builds a fresh world (only what it names) and sends the owner's request last: a
refused stranger must change nothing (no audit entry, the row's ``state`` unchanged), and on
``secret`` rows (lists and "my ..." pages) nobody but the owner (and moderators where noted)
may read the owner's marker. All mismatching cells of a row are reported together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.signals import request_finished
from django.db import close_old_connections
from rest_framework.test import APIClient

from catalog.models import Review
from fmugateway.core.models import AuditEntry
from marketplace.models import CartItem
from marketplace.tests.fixtures import _payments_set_up  # noqa: F401  (paid orders can be made)
from tests.authz_world import PACKAGE_STATES, SPRING_2, World

pytestmark = [pytest.mark.django_db, pytest.mark.http]

ANON, OWNER, BUYER, CREATOR, MOD = (
    "anonymous",
    "owner",
    "another buyer",
    "another creator",
    "moderator",
)
COLUMNS = (ANON, OWNER, BUYER, CREATOR, MOD)
ORDER = (ANON, BUYER, CREATOR, MOD, OWNER)  # the owner last: strangers go first

N401 = "401:not_authenticated"
LOGIN = "302:login"
NPO = "403:not_package_owner"
MINE = f"{N401} 200 404 404 404"  # the owner's alone: nobody else learns it exists
EVERYONE_THEIR_OWN = f"{N401} 200 200 200 200"  # "my ..." lists: each sees their own (secret)


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # a template over the World: "/api/v1/jobs/{job.pk}"
    owner: str  # "creator" or "buyer"
    cells: tuple[str, ...]
    body: Any = None  # a dict, or a callable (world, user) -> dict
    fmt: str = "json"  # "json", or "multipart" for forms and uploads
    needs: tuple[str, ...] = ()  # world objects to build first (not named in the path)
    state: Callable[[World], Any] | None = None  # must not change under a refused stranger
    secret: str | None = None  # a template: text only ``seen_by`` may read
    seen_by: tuple[str, ...] = (OWNER,)
    shown: str | None = None  # a template: text every 2xx answer shows (the secret's control)
    stripe: bool = False  # start the local Stripe server for this row
    tag: str = ""  # tells apart rows of the same path (in the test id)
    note: str = ""

    @property
    def id(self) -> str:
        tag = f" {self.tag}" if self.tag else ""
        return f"{self.method} {self.path}{tag} [{self.owner}]"


def fresh(name: str, *fields: str) -> Callable[[World], Any]:
    """A ``state`` check: the named world object's ``fields`` (all by default), read again."""

    def read(world: World):
        obj = world[name]
        return type(obj).objects.filter(pk=obj.pk).values(*fields).get()

    return read


def row(method, path, owner, cells: str, **kwargs) -> Row:
    split = tuple(cells.split())
    assert len(split) == 5, f"{method} {path}: five cells, not {split}"
    return Row(method, path, owner, split, **kwargs)


def page(method, path, owner, cells: str, **kwargs) -> Row:
    return row(method, path, owner, cells, fmt="multipart", **kwargs)


# --- the table ------------------------------------------------------------------------------

ROWS: list[Row] = []
add = ROWS.append


def _package_rows(state: str) -> None:
    pkg = f"{{pkg_{state}.slug}}"
    api = f"/api/v1/packages/{pkg}"
    listed = state == "listed"
    down = state == "taken_down"
    see = "200 200 200 200 200" if listed else "404 200 404 404 200"
    # Writes: strangers who can see it are refused as non-owners; others do not see it at all.
    write = f"{NPO} {NPO}" if listed else "404 404"
    submit = {
        "draft": "200",
        "in_review": "409:invalid_status",
        "listed": "409:invalid_status",
        "rejected": "200",
        "unlisted": "200",
        "taken_down": "409:package_taken_down",
    }[state]
    package_state = fresh(f"pkg_{state}")

    add(row("GET", api, "creator", see))
    add(
        row(
            "PATCH",
            api,
            "creator",
            f"{N401} 200 {write} {NPO}",
            body={"summary": "Changed by the owner."},
            state=package_state,
        )
    )
    add(
        row(
            "POST",
            f"{api}/submit",
            "creator",
            f"{N401} {submit} {write} {NPO}",
            state=package_state,
        )
    )
    add(row("GET", f"{api}/versions", "creator", see))
    add(
        row(
            "POST",
            f"{api}/versions",
            "creator",
            f"{N401} 201 {write} {NPO}",
            body=lambda w, user: {
                "file": w._samples[SPRING_2].fmu_path.open("rb"),
                "version": "2.0.0",
            },
            fmt="multipart",
            state=lambda w: w[f"pkg_{state}"].versions.count(),
        )
    )
    add(row("GET", f"{api}/listings", "creator", see))
    add(
        row(
            "POST",
            f"{api}/listings",
            "creator",
            f"{N401} 201 " + (f"{NPO} {NPO}" if listed else "404 404") + f" {NPO}",
            body={
                "name": "Extra",
                "kind": "download",
                "pricing_model": "paid",
                "price_amount": 1000,
                "currency": "EUR",
                "license_template": "You may use it.",
            },
            state=lambda w: w[f"pkg_{state}"].listings.count(),
        )
    )
    add(row("GET", f"{api}/versions/1.0.0/attestation", "creator", see))
    stranger_download = (
        "451:package_taken_down 451:package_taken_down"
        if down
        else ("403:download_forbidden 403:download_forbidden" if listed else "404 404")
    )
    add(
        row(
            "POST",
            f"{api}/versions/1.0.0/download-url",
            "creator",
            f"{N401} 201 {stranger_download} 201",
        )
    )
    stranger_run = (
        "451:package_taken_down 451:package_taken_down"
        if down
        else ("403:run_forbidden 403:run_forbidden" if listed else "404:version_not_found " * 2)
    )
    add(
        row(
            "POST",
            "/api/v1/jobs",
            "creator",
            f"{N401} 201 {stranger_run} 201",
            body={"package": f"pkg-{state.replace('_', '-')}", "version": "1.0.0"},
            needs=(f"pkg_{state}",),
            tag=state,
        )
    )
    add(
        row(
            "POST",
            "/api/v1/dmca/complaints",
            "creator",
            ("201 201 201 201 201" if listed else "400:invalid 201 400:invalid 400:invalid 201"),
            body={
                "package": f"pkg-{state.replace('_', '-')}",
                "complainant_name": "Someone",
                "complainant_email": "someone@example.com",
                "work_description": "My model.",
                "good_faith": True,
                "accurate": True,
                "signature": "Someone",
            },
            needs=(f"pkg_{state}",),
            tag=state,
            note="a hidden package is an unknown one (400 invalid), as for any slug",
        )
    )
    # Storefront.
    add(page("GET", f"/packages/{pkg}/", "creator", "200 200 200 200 200" if listed else see))
    add(page("GET", f"/console/packages/{pkg}/", "creator", f"{LOGIN} 200 404 404 404"))
    add(
        page(
            "POST",
            f"/packages/{pkg}/versions/1.0.0/download/",
            "creator",
            f"{LOGIN} 302 " + ("302:error 302:error" if listed else "404 404") + " 302",
            note="the storefront's download button (taken down: the page hides the package)",
        )
    )


for _state in PACKAGE_STATES:
    _package_rows(_state)

# Versions of the listed package: validated (published), unvalidated (its validation queued)
# and yanked.
for _kind in ("validated", "unvalidated", "yanked"):
    _v = f"/api/v1/packages/pkg-listed/versions/{{v_{_kind}.version}}"
    _published = _kind == "validated"
    _see = "200 200 200 200 200" if _published else "404 200 404 404 200"
    _write = f"{NPO} {NPO}" if _published else "404 404"
    for _tail in ("", "/variables", "/scan", "/validation", "/signatures"):
        add(row("GET", f"{_v}{_tail}", "creator", _see))
    add(
        row(
            "GET",
            f"{_v}/attestation",
            "creator",
            _see if _kind != "unvalidated" else "404 404:not_certified 404 404 404:not_certified",
        )
    )
    for _verb in ("yank", "deprecate"):
        add(
            row(
                "POST",
                f"{_v}/{_verb}",
                "creator",
                f"{N401} 200 {_write} {NPO}",
                body={"reason": "A serious bug."},
                state=fresh(f"v_{_kind}", "yanked_at", "deprecated_at"),
            )
        )
    add(
        row(
            "POST",
            f"{_v}/validation",
            "creator",
            f"{N401} "
            + ("409:validation_in_progress" if _kind == "unvalidated" else "202")
            + f" {_write} {NPO}",
        )
    )
    add(
        row(
            "POST",
            f"{_v}/signatures",
            "creator",
            f"{N401} 201 {_write} {NPO}",
            body=lambda w, user, k=_kind: w.signature_body(w[f"v_{k}"], user),
        )
    )
    add(
        row(
            "POST",
            f"{_v}/download-url",
            "creator",
            f"{N401} 201 "
            + ("403:download_forbidden 403:download_forbidden" if _published else "404 404")
            + " 201",
        )
    )
    add(page("GET", f"/packages/pkg-listed/versions/{{v_{_kind}.version}}/", "creator", _see))
    add(
        page("GET", f"/packages/pkg-listed/versions/{{v_{_kind}.version}}/report/", "creator", _see)
    )


# A licensee and a yanked version: the service says yanked versions stay available to existing
# licensees (registry.services.yank_version), but versions' visibility hides them from all but
# the creator and moderators; reported, not changed (stricter, not a hole).
add(
    row(
        "POST",
        "/api/v1/packages/pkg-listed/versions/{v_yanked.version}/download-url",
        "buyer",
        f"{N401} 404 404 201 201",
        needs=("license",),
        note="the buyer holds a download license of the package",
    )
)

# Signed download link (issued to the creator).
add(
    row(
        "GET",
        "{download_link}",
        "creator",
        f"{N401} 200 403:download_link_not_yours 403:download_link_not_yours "
        "403:download_link_not_yours",
    )
)

# The taken-down package, seen from its buyer: 451 to everyone but its creator and moderators.
add(
    row(
        "POST",
        "/api/v1/packages/{pkg_taken_down.slug}/versions/1.0.0/download-url",
        "buyer",
        f"{N401} 451:package_taken_down 451:package_taken_down 201 201",
        needs=("license_taken_down",),
    )
)
add(
    row(
        "POST",
        "/api/v1/jobs",
        "buyer",
        f"{N401} 451:package_taken_down 451:package_taken_down 201 201",
        body={"package": "pkg-taken-down", "version": "1.0.0"},
        needs=("license_taken_down",),
        tag="taken_down",
    )
)
add(
    row(
        "POST",
        "/api/v1/jobs/{job_taken_down.pk}/rerun",
        "buyer",
        f"{N401} 451:package_taken_down 404 404 403:not_job_owner",
    )
)
add(row("GET", "/api/v1/licenses/{license_taken_down.pk}", "buyer", f"{N401} 200 404 404 404"))
add(
    row(
        "GET",
        "/api/v1/jobs/{job_taken_down.pk}/results",
        "buyer",
        f"{N401} 200 404 404 200",
        note="results are the buyer's own data, not the model's file: no 451",
    )
)
add(
    page(
        "GET",
        "/catalog/?q=Package",
        "creator",
        "200 200 200 200 200",
        secret="{pkg_taken_down.slug}",
        seen_by=(),
        shown="{pkg_listed.slug}",
        note="a taken-down package leaves the catalog, for everyone",
    )
)
add(
    row(
        "POST",
        "/api/v1/batches",
        "creator",
        f"{N401} 201 451:package_taken_down 451:package_taken_down 201",
        body={"package": "pkg-taken-down", "version": "1.0.0", "grid": {"e": [0.5, 0.7]}},
        needs=("pkg_taken_down",),
        tag="taken_down",
    )
)
for _name in ("listing_draft", "listing_taken_down"):
    add(
        row(
            "POST",
            "/api/v1/cart/items",
            "creator",
            f"{N401} 404:listing_not_found 404:listing_not_found 404:listing_not_found "
            "404:listing_not_found",
            body=lambda w, user, n=_name: {"listing": w[n].pk},
            state=lambda w: CartItem.objects.count(),
            tag=_name,
            note="not for sale, to anyone",
        )
    )

# Listings (the listed package's paid SKU).
_listing = "/api/v1/packages/pkg-listed/listings/{listing.pk}"
add(row("GET", _listing, "creator", "200 200 200 200 200"))
add(
    row(
        "PATCH",
        _listing,
        "creator",
        f"{N401} 200 {NPO} {NPO} {NPO}",
        body={"price_amount": 5900},
        state=fresh("listing"),
    )
)
add(
    row(
        "DELETE",
        _listing,
        "creator",
        f"{N401} 204 {NPO} {NPO} {NPO}",
        state=fresh("listing"),
    )
)
add(
    page(
        "GET",
        "/console/packages/pkg-listed/listings/",
        "creator",
        f"{LOGIN} 200 404 404 404",
        needs=("pkg_listed",),
    )
)

add(
    row(
        "GET",
        "/api/v1/packages?status=draft",
        "creator",
        "200 200 200 200 200",
        secret="{pkg_draft.slug}",
        seen_by=(OWNER, MOD),
    )
)

# Attestations of a certified version are public with the version (rows above); signing keys.
add(
    row(
        "POST",
        "/api/v1/signing-keys/{signing_key.pk}/revoke",
        "creator",
        f"{N401} 200 404 404 404",
        body={"reason": "Lost the laptop."},
        state=fresh("signing_key", "revoked_at"),
    )
)
add(
    row(
        "GET",
        "/api/v1/signing-keys",
        "creator",
        EVERYONE_THEIR_OWN,
        secret="{signing_key.name}",
    )
)

# --- jobs and batches (the buyer's) -------------------------------------------------------------
_job = "/api/v1/jobs/{job.pk}"
add(row("GET", _job, "buyer", f"{N401} 200 404 404 200"))
add(row("GET", f"{_job}?wait=0", "buyer", f"{N401} 200 404 404 200"))
add(row("GET", f"{_job}/results", "buyer", f"{N401} 200 404 404 200"))
add(row("GET", f"{_job}/results.csv", "buyer", f"{N401} 302 404 404 302"))
add(row("GET", f"{_job}/results.mat", "buyer", f"{N401} 302 404 404 302"))
add(row("GET", f"{_job}/plot", "buyer", f"{N401} 200 404 404 200"))
add(
    row(
        "POST",
        "/api/v1/jobs/{queued_job.pk}/cancel",
        "buyer",
        f"{N401} 200 404 404 403:not_job_owner",
        state=fresh("queued_job", "status"),
        note="moderators cancel in the admin",
    )
)
add(
    row(
        "POST",
        f"{_job}/rerun",
        "buyer",
        f"{N401} 201 404 404 403:not_job_owner",
        note="moderators act in the admin; a rerun would copy the buyer's inputs",
    )
)
NOT_YOURS = "403:result_link_not_yours"
add(
    row(
        "GET",
        "{job_link}",
        "buyer",
        f"{N401} 200 {NOT_YOURS} {NOT_YOURS} {NOT_YOURS}",
    )
)
add(
    row(
        "GET",
        "{job_mat_link}",
        "buyer",
        f"{N401} 200 {NOT_YOURS} {NOT_YOURS} {NOT_YOURS}",
    )
)
add(row("GET", "/api/v1/jobs", "buyer", EVERYONE_THEIR_OWN, secret="{job.pk}"))
add(page("GET", "/jobs/{job.pk}/", "buyer", f"{LOGIN} 200 404 404 200"))
add(page("GET", "/jobs/", "buyer", f"{LOGIN} 200 200 200 200", secret="{job.pk}"))
add(page("GET", "/jobs/compare/?a={job.pk}&b={job.pk}", "buyer", f"{LOGIN} 200 404 404 200"))
add(
    page(
        "GET",
        "/jobs/compare/plot/?a={job.pk}&b={job.pk}",
        "buyer",
        f"{LOGIN} 200 404 404 200",
    )
)

_batch = "/api/v1/batches/{batch.pk}"
add(row("GET", _batch, "buyer", f"{N401} 200 404 404 200"))
add(row("GET", f"{_batch}/summary.csv", "buyer", f"{N401} 302 404 404 302"))
add(row("GET", f"{_batch}/plot", "buyer", f"{N401} 200 404 404 200"))
add(
    row(
        "POST",
        "/api/v1/batches/{queued_batch.pk}/cancel",
        "buyer",
        f"{N401} 200 404 404 403:not_batch_owner",
        state=fresh("queued_batch", "status"),
        note="moderators cancel in the admin",
    )
)
add(
    row(
        "GET",
        "{batch_link}",
        "buyer",
        f"{N401} 200 {NOT_YOURS} {NOT_YOURS} {NOT_YOURS}",
    )
)
add(row("GET", "/api/v1/batches", "buyer", EVERYONE_THEIR_OWN, secret="{batch.pk}"))
add(page("GET", "/batches/{batch.pk}/", "buyer", f"{LOGIN} 200 404 404 200"))

# --- licenses, activations, seats ---------------------------------------------------------------
_lic = "/api/v1/licenses/{license.pk}"
_key_hash = fresh("license", "key_hash", "status")

add(row("GET", _lic, "buyer", MINE))
add(row("POST", f"{_lic}/rotate", "buyer", MINE, state=_key_hash))
add(row("POST", f"{_lic}/key", "buyer", f"{N401} 201 404 404 404", state=_key_hash))
add(
    row(
        "POST",
        "/api/v1/licenses/{sub_license.pk}/stop-renewing",
        "buyer",
        MINE,
        stripe=True,
        state=fresh("sub_license", "subscription_status"),
    )
)
add(row("GET", f"{_lic}/activations", "buyer", MINE, needs=("activation",)))
add(
    row(
        "DELETE",
        f"{_lic}/activations/{{activation.pk}}",
        "buyer",
        MINE,
        state=fresh("activation", "deactivated_at"),
    )
)
add(row("GET", f"{_lic}/offline?fingerprint=machine-1", "buyer", MINE, needs=("activation",)))
add(
    row(
        "GET",
        "/api/v1/licenses",
        "buyer",
        EVERYONE_THEIR_OWN,
        secret="pkg-listed",
        needs=("license",),
    )
)
_seats = "/api/v1/licenses/{seat_license.pk}/seats"
add(row("GET", _seats, "buyer", MINE))
add(
    row(
        "POST",
        _seats,
        "buyer",
        f"{N401} 201 404 404 404",
        body={"email": "new.colleague@example.com"},
        state=lambda w: w.seat_license.seat_assignments.count(),
    )
)
add(
    row(
        "DELETE",
        f"{_seats}/{{seat.pk}}",
        "buyer",
        f"{N401} 204 404 404 404",
        state=fresh("seat", "removed_at"),
    )
)
add(
    row(
        "POST",
        "/api/v1/licenses/{org_license.pk}/organisation",
        "buyer",
        MINE,
        body=lambda w, user: {"organisation": w.org.slug},
        state=fresh("org_license", "organisation"),
    )
)
add(page("GET", "/account/licenses/{license.pk}/", "buyer", f"{LOGIN} 200 404 404 404"))
add(
    page(
        "POST",
        "/account/licenses/{license.pk}/",
        "buyer",
        f"{LOGIN} 302 404 404 404",
        body={"action": "rotate"},
        state=_key_hash,
    )
)

# --- organisations ------------------------------------------------------------------------------
_org = "/api/v1/orgs/{org.slug}"
add(row("GET", f"{_org}/members", "buyer", MINE))
add(
    row(
        "POST",
        f"{_org}/members",
        "buyer",
        f"{N401} 202 404 404 404",
        body={"email": "newcomer@example.com"},
        state=lambda w: (w.org.memberships.count(), w.org.invitations.count()),
    )
)
add(
    row(
        "DELETE",
        f"{_org}/members/{{membership.pk}}",
        "buyer",
        f"{N401} 204 404 404 404",
        state=lambda w: w.org.memberships.count(),
    )
)
add(
    row(
        "DELETE",
        f"{_org}/invitations/{{invitation.pk}}",
        "buyer",
        f"{N401} 204 404 404 404",
        state=lambda w: list(w.org.invitations.open().values_list("pk", flat=True)),
    )
)
add(
    row(
        "POST",
        f"{_org}/leave",
        "buyer",
        f"{N401} 409:owner_cannot_leave 404 404 404",
        state=lambda w: w.org.memberships.count(),
        note="the owner cannot leave; members can (accounts/tests/test_organisations.py)",
    )
)
add(row("GET", "/api/v1/orgs", "buyer", EVERYONE_THEIR_OWN, secret="{org.name}"))
add(page("GET", "/account/organisations/{org.slug}/", "buyer", f"{LOGIN} 200 404 404 404"))
add(
    page(
        "POST",
        "/account/organisations/{org.slug}/",
        "buyer",
        f"{LOGIN} 302:success 404 404 404",
        body=lambda w, user: {"action": "remove", "member": w.membership.pk},
        state=lambda w: w.org.memberships.count(),
    )
)

# --- orders, carts, invoices --------------------------------------------------------------------
add(row("GET", "/api/v1/orders/{order.pk}", "buyer", MINE))
add(
    row(
        "POST",
        "/api/v1/orders/{pending_order.pk}/cancel",
        "buyer",
        MINE,
        state=fresh("pending_order", "status"),
    )
)
add(
    row(
        "POST",
        "/api/v1/orders/{pending_order.pk}/pay",
        "buyer",
        f"{N401} 201 404 404 404",
        stripe=True,
        state=fresh("pending_order", "payment_reference"),
    )
)
add(row("GET", "/api/v1/orders", "buyer", EVERYONE_THEIR_OWN, secret="{order.number}"))
add(page("GET", "/account/orders/{order.number}/", "buyer", f"{LOGIN} 200 404 404 404"))
add(page("GET", "/account/orders/{pending_order.number}/pay/", "buyer", f"{LOGIN} 200 404 404 404"))
add(page("GET", "/account/orders/{order.number}/complete/", "buyer", f"{LOGIN} 200 404 404 404"))
add(page("GET", "/account/orders/", "buyer", f"{LOGIN} 200 200 200 200", secret="{order.number}"))

add(
    row(
        "GET",
        "/api/v1/cart",
        "buyer",
        EVERYONE_THEIR_OWN,
        secret="{listing.name}",
        needs=("cart_item",),
    )
)
add(
    row(
        "DELETE",
        "/api/v1/cart/items/{cart_item.pk}",
        "buyer",
        f"{N401} 204 404 404 404",
        state=lambda w: CartItem.objects.filter(pk=w.cart_item.pk).exists(),
    )
)
add(
    page(
        "POST",
        "/cart/items/{cart_item.pk}/remove/",
        "buyer",
        f"{LOGIN} 302 302:error 302:error 302:error",
        state=lambda w: CartItem.objects.filter(pk=w.cart_item.pk).exists(),
    )
)
add(
    page(
        "GET",
        "/cart/",
        "buyer",
        f"{LOGIN} 200 200 200 200",
        secret="{listing.name}",
        needs=("cart_item",),
    )
)

add(
    row(
        "GET",
        "/api/v1/billing/invoices",
        "buyer",
        EVERYONE_THEIR_OWN,
        secret="{invoice[id]}",
        stripe=True,
    )
)
add(
    page(
        "GET",
        "/account/billing/",
        "buyer",
        f"{LOGIN} 200 200 200 200",
        secret="{invoice[number]}",
        stripe=True,
    )
)

# --- ledgers, API keys --------------------------------------------------------------------------
add(row("GET", "/api/v1/billing/ledger", "buyer", EVERYONE_THEIR_OWN, secret="{ledger_entry.memo}"))
add(
    row("GET", "/api/v1/billing/balance", "buyer", EVERYONE_THEIR_OWN, secret="{ledger_entry.memo}")
)
_key = "/api/v1/api-keys/{api_key.pk}"
add(row("GET", _key, "buyer", MINE))
add(
    row(
        "DELETE",
        _key,
        "buyer",
        f"{N401} 204 404 404 404",
        state=fresh("api_key", "revoked_at"),
    )
)
add(row("GET", "/api/v1/api-keys", "buyer", EVERYONE_THEIR_OWN, secret="{api_key.name}"))
add(
    page(
        "POST",
        "/account/api-keys/",
        "buyer",
        f"{LOGIN} 302:success 404 404 404",
        body=lambda w, user: {"action": "revoke", "key": w.api_key.pk},
        state=fresh("api_key", "revoked_at"),
    )
)

# --- reviews (storefront) -----------------------------------------------------------------------
add(
    page(
        "POST",
        "/packages/pkg-listed/review/",
        "buyer",
        f"{LOGIN} 302:success 302:error 302:error 302:error",
        body={"rating": "5", "title": "Great model"},
        needs=("license",),
        state=lambda w: Review.objects.filter(package=w.pkg_listed).count(),
        note="only buyers and people who ran it may review; never its creator",
    )
)
add(
    page(
        "POST",
        "/reviews/{review.pk}/vote/",
        "buyer",
        f"{LOGIN} 302:error 302:success 302:success 302:success",
        body={"helpful": "1"},
        note="anyone signed in votes, once; not the review's author (the owner here)",
    )
)
add(
    page(
        "POST",
        "/reviews/{review.pk}/report/",
        "buyer",
        f"{LOGIN} 302:success 302:success 302:success 302:success",
        body={"reason": "spam"},
        note="anyone signed in reports a review, once",
    )
)
add(
    page(
        "POST",
        "/reviews/{review.pk}/respond/",
        "creator",
        f"{LOGIN} 302:success 302:error 302:error 302:error",
        body={"text": "Thank you!"},
        state=fresh("review", "creator_response"),
        note="the package's creator answers reviews",
    )
)
add(
    page(
        "POST",
        "/packages/pkg-draft/wishlist/",
        "creator",
        f"{LOGIN} 302:success 404 404 302:success",
        needs=("pkg_draft",),
    )
)

# --- creators: profiles, earnings and payouts ---------------------------------------------------
add(
    row(
        "GET",
        "/api/v1/creators/me/payouts",
        "creator",
        f"{N401} 200 404:not_a_creator 200 404:not_a_creator",
        secret="{payout.batch.reference}",
    )
)
add(
    row(
        "GET",
        "/api/v1/creators/me",
        "creator",
        f"{N401} 200 404 200 404",
        secret="{creator_profile.stripe_account_id}",
    )
)
add(
    page(
        "GET",
        "/console/payouts/",
        "creator",
        f"{LOGIN} 200 200 200 200",
        secret="{payout.batch.reference}",
    )
)
add(page("GET", "/console/sales/", "creator", f"{LOGIN} 200 200 200 200", secret="{order.number}"))
add(row("GET", "/api/v1/creators/{pending_creator.slug}", "creator", "404 200 404 404 404"))
add(page("GET", "/creators/{pending_creator.slug}/", "creator", "404 404 404 404 404"))

# --- DMCA complaints (the owner: the creator of the package complained about) -------------------
_dmca = "/api/v1/dmca/complaints"
add(row("GET", f"{_dmca}/{{complaint_submitted.pk}}", "creator", f"{N401} 404 404 404 200"))
add(row("GET", f"{_dmca}/{{complaint_rejected.pk}}", "creator", f"{N401} 404 404 404 200"))
add(row("GET", f"{_dmca}/{{complaint_taken_down.pk}}", "creator", f"{N401} 200 404 404 200"))
_COUNTER = {
    "full_name": "Owning Creator",
    "contact_email": "creator@example.com",
    "address": "1 Model Street",
    "statement": "I wrote this model myself.",
    "good_faith": True,
    "consent_to_jurisdiction": True,
    "signature": "Owning Creator",
}


add(
    row(
        "POST",
        f"{_dmca}/{{complaint_taken_down.pk}}/counter-notice",
        "creator",
        f"{N401} 201 404 404 404",
        body=_COUNTER,
        state=fresh("complaint_taken_down", "status"),
    )
)
add(
    row(
        "POST",
        f"{_dmca}/{{complaint_submitted.pk}}/counter-notice",
        "creator",
        f"{N401} 404 404 404 404",
        body=_COUNTER,
        state=fresh("complaint_submitted", "status"),
        note="not visible to its owner until a moderator acted: 404, as GET",
    )
)
add(
    row(
        "POST",
        f"{_dmca}/{{complaint_rejected.pk}}/counter-notice",
        "creator",
        f"{N401} 404 404 404 404",
        body=_COUNTER,
        state=fresh("complaint_rejected", "status"),
        note="a rejected complaint stays hidden from the package's owner",
    )
)
add(
    row(
        "GET",
        _dmca,
        "creator",
        EVERYONE_THEIR_OWN,
        secret="{complaint_taken_down.work_description}",
        seen_by=(OWNER, MOD),
    )
)
add(
    page(
        "GET",
        "/console/takedowns/",
        "creator",
        f"{LOGIN} 200 200 200 200",
        secret="{complaint_taken_down.work_description}",
    )
)
add(
    page(
        "POST",
        "/console/takedowns/",
        "creator",
        f"{LOGIN} 302:success 404 404 404",
        body=lambda w, user: {**_COUNTER, "complaint": w.complaint_taken_down.pk},
        state=fresh("complaint_taken_down", "status"),
        tag="taken_down",
    )
)
add(
    page(
        "POST",
        "/console/takedowns/",
        "creator",
        f"{LOGIN} 404 404 404 404",
        body=lambda w, user: {**_COUNTER, "complaint": w.complaint_submitted.pk},
        state=fresh("complaint_submitted", "status"),
        tag="submitted",
        note="not visible to its owner until a moderator acted",
    )
)


# --- the test -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    """Private artifact and result storages, and no anonymous rate limit left over from other
    rows (every row asks once without credentials, from the same address)."""
    settings.STORAGES = {
        **settings.STORAGES,
        **{
            name: {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(tmp_path / name)},
            }
            for name in ("artifacts", "results")
        },
    }
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    from fmugateway.core.ratelimit import redis_client

    cache = caches["default"]
    if isinstance(cache, RedisCache):
        client = redis_client(cache)
        stale = list(client.scan_iter(match="*throttle:anon:*", count=1000))
        if stale:
            client.delete(*stale)
    else:
        cache.clear()


def _users(world: World, owner_kind: str) -> dict[str, Any]:
    if owner_kind == "creator":
        owner, other_creator = world.creator, world.other_creator
    else:
        owner, other_creator = world.buyer, world.creator
    return {
        ANON: None,
        OWNER: owner,
        BUYER: world.other_buyer,
        CREATOR: other_creator,
        MOD: world.moderator,
    }


def _outcome(response) -> tuple[int, str]:
    """(status, code): the API's error code, or a page's login redirect / message level."""
    status = response.status_code
    if response.get("Content-Type", "").startswith("application/json"):
        try:
            return status, str(response.json().get("code", ""))
        except (ValueError, AttributeError):
            return status, ""
    if status in (301, 302):
        if response["Location"].startswith("/accounts/login/"):
            return status, "login"
        levels = {message.level_tag for message in get_messages(response.wsgi_request)}
        for level in ("error", "success"):
            if level in levels:
                return status, level
    return status, ""


def _matches(expected: str, status: int, code: str) -> bool:
    """A bare status accepts any code but a page's refusal (a plain 302 is no login or error)."""
    want_status, _, want_code = expected.partition(":")
    if want_code:
        return int(want_status) == status and want_code == code
    return int(want_status) == status and code not in ("login", "error")


def _refused(expected: str) -> bool:
    status, _, code = expected.partition(":")
    return int(status) >= 400 or code in ("login", "error")


def _body_text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _close(response) -> None:
    """Close a served file, as the test client does: without the request_finished handler that
    would close the test's database connection."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def _send(client: APIClient, row: Row, path: str, body) -> Any:
    method = getattr(client, row.method.lower())
    if row.method in ("GET", "HEAD"):
        return method(path)
    if body is None:
        return method(path)
    return method(path, body, format=row.fmt)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_authorization_matrix(row: Row, sample_fmus, request):
    world = World(sample_fmus, request)
    if row.stripe:
        request.getfixturevalue("stripe_testbed")
    for name in row.needs:
        world[name]
    users = _users(world, row.owner)
    path = row.path.format_map(world)
    secret = row.secret.format_map(world) if row.secret else None
    shown = row.shown.format_map(world) if row.shown else None
    bodies = {
        persona: row.body(world, user) if callable(row.body) else row.body
        for persona, user in users.items()
    }
    expected = dict(zip(COLUMNS, row.cells, strict=True))
    before = row.state(world) if row.state else None

    problems = []
    for persona in ORDER:
        client = APIClient()
        if users[persona] is not None:
            client.force_login(users[persona])
        audit_before = AuditEntry.objects.count()
        response = _send(client, row, path, bodies[persona])
        for value in (bodies[persona] or {}).values():
            if hasattr(value, "close"):
                value.close()  # an uploaded file
        status, code = _outcome(response)
        got = f"{status}:{code}" if code else str(status)
        if not _matches(expected[persona], status, code):
            problems.append(f"{persona}: expected {expected[persona]}, got {got}")
        if persona != OWNER and _refused(expected[persona]):
            if AuditEntry.objects.count() != audit_before:
                problems.append(f"{persona}: refused, yet an audit entry was written")
            if row.state is not None and row.state(world) != before:
                problems.append(f"{persona}: refused, yet the object changed")
        if secret and 200 <= status < 300:
            seen = secret in _body_text(response)
            if persona in row.seen_by and not seen:  # the marker must be there to be missed
                problems.append(f"{persona}: the answer lacks {secret!r} (the check is void)")
            elif persona not in row.seen_by and seen:
                problems.append(f"{persona}: LEAK, the answer shows the owner's {secret!r}")
        if shown and 200 <= status < 300 and shown not in _body_text(response):
            problems.append(f"{persona}: the answer lacks {shown!r} (the check is void)")
        if getattr(response, "streaming", False):
            _close(response)

    assert not problems, f"{row.id} {row.note}\n  " + "\n  ".join(problems)
