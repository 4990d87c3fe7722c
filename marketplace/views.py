"""Storefront pages: home, catalog and search, category and creator pages, cart and checkout,
reviews, the buyer's account and the marketplace half of the creator console.

Server-rendered; everything works without JavaScript. Views parse, authorise and call services;
a ``DomainError`` becomes a message on the page it came from.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from fmugateway.core.errors import DomainError
from marketplace import payments, services
from marketplace.forms import (
    ApiKeyForm,
    CatalogFilterForm,
    CouponForm,
    ListingForm,
    ReportForm,
    ResponseForm,
    ReviewForm,
)
from marketplace.models import (
    Activation,
    Category,
    Creator,
    License,
    Listing,
    Membership,
    Order,
    OrderLine,
    Organisation,
    PayoutItem,
    Review,
    SeatAssignment,
    WishlistItem,
)
from marketplace.services import (
    analytics,
    catalog,
    earnings,
    organisations,
    payouts,
    reviews,
    seats,
)
from registry.models import Package


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next") or request.META.get("HTTP_REFERER") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


def _user(request: HttpRequest):
    """The user object itself (billing's ``plan_for`` inspects the model class, not the lazy
    wrapper the middleware puts on the request)."""
    user = request.user
    return getattr(user, "_wrapped", user) if user.is_authenticated else user


def _listed_package(request, slug: str) -> Package:
    return get_object_or_404(Package.objects.visible_to(request.user), slug=slug)


# --- browsing --------------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "marketplace/home.html",
        {
            "featured": catalog.featured(),
            "trending": catalog.trending(),
            "newest": catalog.newest(),
            "categories": catalog.category_tree(),
            "tags": catalog.popular_tags(16),
        },
    )


def _catalog_page(
    request, *, category=None, creator=None, template="marketplace/catalog.html", extra=None
):
    form = CatalogFilterForm(request.GET, auto_id="f-%s")
    query = form.to_query(category=category, creator=creator)
    page = catalog.search(query)
    if query.q and query.page == 1:
        analytics.track(
            request,
            "search.query",
            query=query.q,
            result_count=page.total,
            filters={
                key: value
                for key, value in request.GET.items()
                if key not in {"q", "page"} and value
            },
        )
    return render(
        request,
        template,
        {
            "form": form,
            "query": query,
            "page": page,
            "sort": query.effective_sort,
            "sorts": catalog.SORTS,
            "categories": catalog.category_tree(),
            "tags": catalog.popular_tags(),
            "selected_tags": query.tags,
            "category": category,
            **(extra or {}),
        },
    )


def catalog_view(request: HttpRequest) -> HttpResponse:
    return _catalog_page(request)


def category_view(request: HttpRequest, path: str) -> HttpResponse:
    category = get_object_or_404(Category.objects.select_related("parent"), path=path.strip("/"))
    ancestors: list[Category] = []
    node = category.parent
    while node is not None:  # a handful of levels at most
        ancestors.insert(0, node)
        node = node.parent
    children = list(category.children.order_by("position", "name"))
    return _catalog_page(
        request,
        category=category,
        extra={"ancestors": ancestors, "children": children},
    )


def creator_view(request: HttpRequest, slug: str) -> HttpResponse:
    creator = get_object_or_404(Creator, slug=slug, status=Creator.Status.APPROVED)
    stats = (
        catalog.listed_entries()
        .filter(package__owner_id=creator.user_id)
        .aggregate(
            packages=Count("pk"),
            ratings=Sum("rating_count"),
            runs=Sum("runs_count"),
            downloads=Sum("downloads_count"),
        )
    )
    return _catalog_page(
        request,
        creator=creator,
        template="marketplace/creator.html",
        extra={"creator": creator, "stats": stats},
    )


# --- cart and checkout -----------------------------------------------------------------------


@login_required
@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    """Add a SKU to the cart. ``buy_now``: if it is the only thing in the cart, check out at once
    (free SKUs are then done: the license and its key are shown on this response)."""
    try:
        listing_id = int(request.POST.get("listing", ""))
    except ValueError:
        messages.error(request, "Choose a license to buy.")
        return _back(request, reverse("cart"))
    try:
        item = services.add_to_cart(request.user, listing_id)
        cart = item.cart
        if request.POST.get("buy_now") and cart.items.count() == 1:
            return _checkout(request)
    except DomainError as exc:
        messages.error(request, exc.detail)
        return _back(request, reverse("cart"))
    messages.success(
        request, f"“{item.listing.package.name} — {item.listing.name}” is in your cart."
    )
    return redirect("cart")


@login_required
def cart_view(request: HttpRequest) -> HttpResponse:
    cart = services.get_cart(request.user)
    items = list(cart.items.select_related("listing__package"))
    subtotal = sum(item.listing.price_amount for item in items)
    currency = next((item.listing.currency for item in items if item.listing.price_amount), "EUR")
    return render(
        request,
        "marketplace/cart.html",
        {
            "cart": cart,
            "items": items,
            "subtotal": subtotal,
            "currency": currency,
            "coupon_form": CouponForm(initial={"code": cart.coupon.code if cart.coupon else ""}),
        },
    )


@login_required
@require_POST
def cart_remove(request: HttpRequest, item_id: int) -> HttpResponse:
    try:
        services.remove_from_cart(request.user, item_id)
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("cart")


@login_required
@require_POST
def cart_coupon(request: HttpRequest) -> HttpResponse:
    form = CouponForm(request.POST)
    if form.is_valid():
        try:
            services.apply_coupon(request.user, form.cleaned_data["code"] or None)
            messages.success(
                request, "Coupon applied." if form.cleaned_data["code"] else "Coupon removed."
            )
        except DomainError as exc:
            messages.error(request, exc.detail)
    return redirect("cart")


@login_required
@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    try:
        return _checkout(request)
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("cart")


def _checkout(request: HttpRequest) -> HttpResponse:
    result = services.checkout(request.user)
    order = result.order
    for line in order.lines.all():
        analytics.track(request, "package.purchase", package_id=line.package_id, order=order.number)
    if order.awaits_payment:
        return redirect("order-pay", number=order.number)
    # Rendered, not redirected: a free order's keys are shown this once and never stored.
    return render(
        request,
        "marketplace/order_complete.html",
        {
            "order": order,
            "lines": list(order.lines.select_related("package", "listing")),
            "keys": result.keys,
            "licenses": {
                lic.pk: lic for lic in License.objects.filter(order=order).select_related("package")
            },
        },
    )


# Order payment page states (what the buyer is told and offered).
_PAY_STATES = {"succeeded": "confirming", "processing": "confirming"}


@login_required
def order_pay(request: HttpRequest, number: str) -> HttpResponse:
    """Pay a pending order: the card in the browser (Stripe.js confirms the order's
    PaymentIntent), or, without JavaScript, Stripe's hosted payment page (POST). The order is
    paid only when Stripe's webhook says so; until then this page says where the payment is."""
    order = get_object_or_404(Order.objects.owned_by(request.user), number=number)
    user = _user(request)
    if request.method == "POST":
        try:
            session = payments.start_checkout(order, user)
        except DomainError as exc:
            messages.error(request, exc.detail)
            return redirect("order-pay", number=number)
        return redirect(session["checkout_url"])
    payment, problem, state = None, "", order.status
    if order.awaits_payment and payments.checkout_completed(order, request.GET.get("checkout", "")):
        state = "confirming"  # back from Stripe's hosted page: its webhook pays the order
    elif order.awaits_payment:
        try:
            payment = payments.start_payment(order, user)
        except DomainError as exc:
            problem = exc.detail
        else:
            state = _PAY_STATES.get(payment["status"], "pending")
    return render(
        request,
        "marketplace/order_pay.html",
        {
            "order": order,
            "lines": list(order.lines.select_related("package", "listing").order_by("id")),
            "payment": payment,
            "problem": problem,
            "state": state,
            "setup": order.total_amount == 0,  # a card for renewals, nothing to pay now
            "stripe_js_url": settings.STRIPE_JS_URL,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        },
    )


# --- reviews, wishlist -----------------------------------------------------------------------


@login_required
@require_POST
def review_submit(request: HttpRequest, slug: str) -> HttpResponse:
    package = _listed_package(request, slug)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a rating and a title.")
        return redirect(package.get_absolute_url() + "#reviews")
    try:
        review = reviews.submit_review(request.user, package, **form.cleaned_data)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        analytics.track(request, "review.create", package_id=package.pk, rating=review.rating)
        messages.success(request, "Thank you — your review is saved.")
    return redirect(package.get_absolute_url() + "#reviews")


@login_required
@require_POST
def review_vote(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        review = reviews.vote(request.user, pk, helpful=request.POST.get("helpful") == "1")
        messages.success(request, "Thanks for your feedback.")
        fallback = review.package.get_absolute_url() + "#reviews"
    except DomainError as exc:
        messages.error(request, exc.detail)
        fallback = reverse("catalog")
    return _back(request, fallback)


@login_required
@require_POST
def review_report(request: HttpRequest, pk: int) -> HttpResponse:
    form = ReportForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a reason for the report.")
        return _back(request, reverse("catalog"))
    try:
        reviews.report(request.user, pk, **form.cleaned_data)
        messages.success(request, "Thank you. A moderator will look at this review.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return _back(request, reverse("catalog"))


@login_required
@require_POST
def review_respond(request: HttpRequest, pk: int) -> HttpResponse:
    form = ResponseForm(request.POST)
    if form.is_valid():
        try:
            reviews.respond(request.user, pk, form.cleaned_data["text"])
            messages.success(request, "Your answer is published.")
        except DomainError as exc:
            messages.error(request, exc.detail)
    return _back(request, reverse("console-reviews"))


@login_required
@require_POST
def wishlist_toggle(request: HttpRequest, slug: str) -> HttpResponse:
    package = _listed_package(request, slug)
    added = catalog.toggle_wishlist(request.user, package)
    messages.success(request, "Saved to your wishlist." if added else "Removed from your wishlist.")
    return _back(request, package.get_absolute_url())


# --- buyer account ---------------------------------------------------------------------------


@login_required
def account_overview(request: HttpRequest) -> HttpResponse:
    from billing.services import balance_of, plan_for

    user = _user(request)
    return render(
        request,
        "account/overview.html",
        {
            "plan": plan_for(user),
            "balance": balance_of(user),
            "license_count": License.objects.owned_by(user).usable().count(),
            "order_count": Order.objects.owned_by(user).count(),
            "wishlist_count": WishlistItem.objects.filter(user=user).count(),
            "recent_orders": list(Order.objects.owned_by(user)[:5]),
        },
    )


@login_required
def account_licenses(request: HttpRequest) -> HttpResponse:
    licenses = (
        License.objects.owned_by(request.user)
        .select_related("package", "listing")
        .annotate(
            active_activations=Count(
                "activations", filter=Q(activations__deactivated_at__isnull=True)
            )
        )
        .order_by("-created_at", "-id")
    )
    page = Paginator(licenses, 25).get_page(request.GET.get("page"))
    # Licenses others share with you (a seat, or an organisation's license): what they entitle
    # you to, never their keys.
    seated = (
        License.objects.seated(request.user) | License.objects.via_organisations(request.user)
    ).select_related("package", "listing", "owner", "organisation")
    return render(request, "account/licenses.html", {"page": page, "seated": seated[:100]})


@login_required
def account_license(request: HttpRequest, pk: int) -> HttpResponse:
    license = get_object_or_404(
        License.objects.owned_by(request.user).select_related("package", "listing", "order"),
        pk=pk,
    )
    new_key = None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "rotate":
                new_key = services.rotate_key(license, request.user)
            elif action == "claim":
                new_key = services.claim_key(license, request.user)
            elif action == "deactivate":
                services.deactivate_activation(
                    license, int(request.POST.get("activation", 0)), request.user
                )
                messages.success(request, "The machine's activation is released.")
                return redirect("account-license", pk=pk)
            elif action == "assign_seat":
                seat = seats.assign_seat(license, request.POST.get("email"), actor=request.user)
                messages.success(
                    request,
                    f"Invitation for {seat.email} saved; the seat is theirs once they sign up."
                    if seat.is_pending
                    else f"{seat.email} now holds a seat.",
                )
                return redirect("account-license", pk=pk)
            elif action == "attach_organisation":
                organisation = get_object_or_404(
                    Organisation.objects.for_user(request.user), slug=request.POST.get("org", "")
                )
                organisations.attach_license(license, organisation, actor=request.user)
                messages.success(request, f"{organisation.name}'s members now share this license.")
                return redirect("account-license", pk=pk)
            elif action == "remove_seat":
                seat = seats.remove_seat(
                    license, int(request.POST.get("seat", 0)), actor=request.user
                )
                messages.success(request, f"{seat.email} no longer holds a seat.")
                return redirect("account-license", pk=pk)
        except (DomainError, ValueError) as exc:
            messages.error(request, getattr(exc, "detail", "Invalid request."))
        license.refresh_from_db()
    activations = Activation.objects.filter(license=license).order_by("-activated_at")[:100]
    versions = license.package.versions.published().order_by("-created_at")[:10]
    seat_rows = list(SeatAssignment.objects.active().filter(license=license))
    return render(
        request,
        "account/license_detail.html",
        {
            "license": license,
            "activations": activations,
            "new_key": new_key,
            "versions": versions,
            "seats": seat_rows,
            "seats_used": 1 + len(seat_rows),
            "admin_orgs": Organisation.objects.for_user(request.user).filter(
                memberships__user=request.user, memberships__role=Membership.Role.ADMIN
            )
            if license.kind == Listing.Kind.ORG and license.organisation_id is None
            else [],
        },
    )


@login_required
def account_orders(request: HttpRequest) -> HttpResponse:
    orders = Order.objects.owned_by(request.user).prefetch_related(
        Prefetch("lines", OrderLine.objects.order_by("id"))
    )
    page = Paginator(orders, 25).get_page(request.GET.get("page"))
    return render(request, "account/orders.html", {"page": page})


@login_required
def account_invoice(request: HttpRequest, number: str) -> HttpResponse:
    order = get_object_or_404(Order.objects.owned_by(request.user), number=number)
    lines = order.lines.select_related("package").order_by("id")
    return render(request, "account/invoice.html", {"order": order, "lines": lines})


@login_required
def account_billing(request: AuthenticatedHttpRequest) -> HttpResponse:
    from billing.models import CreditEntry
    from billing.services import balance_of, plan_for, tiers
    from billing.stripe.invoices import invoices_of

    entries = CreditEntry.objects.filter(account__user=request.user).order_by("-id")[:50]
    return render(
        request,
        "account/billing.html",
        {
            "plan": plan_for(_user(request)),
            "balance": balance_of(request.user),
            "entries": entries,
            "tiers": list(tiers()),
            "invoices": invoices_of(request.user, limit=24),
        },
    )


@login_required
def account_api_keys(request: AuthenticatedHttpRequest) -> HttpResponse:
    from billing.models import ApiKey
    from billing.services import create_api_key, revoke_api_key

    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            key = get_object_or_404(
                ApiKey.objects.owned_by(request.user), pk=request.POST.get("key")
            )
            revoke_api_key(key, actor=request.user)
            messages.success(request, f"Key “{key.name}” revoked.")
            return redirect("account-api-keys")
        if form.is_valid():
            try:
                new_key = create_api_key(
                    request.user,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    actor=request.user,
                )
                form = ApiKeyForm()
            except DomainError as exc:
                messages.error(request, exc.detail)
    keys = ApiKey.objects.owned_by(request.user).order_by("-created_at")[:100]
    return render(
        request, "account/api_keys.html", {"form": form, "keys": keys, "new_key": new_key}
    )


@login_required
def account_organisations(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Your organisations, and a form to create one."""
    if request.method == "POST":
        try:
            organisation = organisations.create_organisation(
                request.user, name=request.POST.get("name", "")
            )
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, f"{organisation.name} is created; you are its admin.")
            return redirect("account-organisation", slug=organisation.slug)
    rows = (
        Membership.objects.filter(user=request.user)
        .select_related("organisation__owner")
        .annotate(members=Count("organisation__memberships", distinct=True))
        .order_by("organisation__name")
    )
    return render(request, "account/organisations.html", {"memberships": rows})


def _org_action(organisation, action: str, post, user) -> str:
    """Do one of the organisation page's form actions through the service; the message to show."""
    if action == "add":
        added = organisations.add_member(
            organisation, post.get("email"), role=post.get("role"), actor=user
        )
        if isinstance(added, Membership):
            return f"{added.user.email} is a member now."
        return f"{added.email} is invited; they join once they sign up and confirm the address."
    if action == "remove":
        organisations.remove_member(organisation, _int(post.get("member")), actor=user)
        return "The member is removed."
    if action == "withdraw":
        organisations.cancel_invitation(organisation, _int(post.get("invitation")), actor=user)
        return "The invitation is withdrawn."
    if action == "leave":
        organisations.leave(organisation, user)
        return "You left the organisation."
    raise DomainError("Unknown action.", code="invalid")


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@login_required
def account_organisation(request: HttpRequest, slug: str) -> HttpResponse:
    """One of your organisations: members, invitations (admins) and the licenses it shares."""
    organisation = get_object_or_404(
        Organisation.objects.for_user(request.user).select_related("owner"), slug=slug
    )
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            message = _org_action(organisation, action, request.POST, request.user)
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, message)
            if action == "leave":
                return redirect("account-organisations")
        return redirect("account-organisation", slug=organisation.slug)
    is_admin = organisations.is_admin(organisation, request.user)
    members = Membership.objects.filter(organisation=organisation).select_related("user")
    return render(
        request,
        "account/organisation.html",
        {
            "organisation": organisation,
            "is_admin": is_admin,
            "members": members,
            "invitations": organisation.invitations.open() if is_admin else [],
            "licenses": License.objects.filter(organisation=organisation).select_related(
                "package", "listing"
            ),
            "roles": Membership.Role.choices,
        },
    )


@login_required
def account_wishlist(request: AuthenticatedHttpRequest) -> HttpResponse:
    package_ids = WishlistItem.objects.filter(user=request.user).values("package_id")
    entries = list(
        catalog.listed_entries().filter(package_id__in=package_ids).order_by("title")[:200]
    )
    return render(request, "account/wishlist.html", {"entries": entries})


# --- creator console (the marketplace's half) -------------------------------------------------


@login_required
def console_listings(request: HttpRequest, slug: str) -> HttpResponse:
    package = get_object_or_404(Package.objects.owned_by(request.user), slug=slug)
    form = ListingForm(request.POST or None, initial={"license_template": package.license_text})
    if request.method == "POST":
        try:
            if request.POST.get("action") == "deactivate":
                listing = get_object_or_404(
                    Listing, pk=request.POST.get("listing"), package=package
                )
                services.deactivate_listing(listing, request.user)
                catalog.index_packages([package.pk])  # deactivation is an update(): no signal
                messages.success(request, f"“{listing.name}” is no longer for sale.")
                return redirect("console-listings", slug=slug)
            if form.is_valid():
                listing = services.create_listing(package, request.user, **form.listing_fields())
                messages.success(request, f"“{listing.name}” is for sale.")
                return redirect("console-listings", slug=slug)
        except DomainError as exc:
            form.add_error(None, exc.detail)
            for name, problems in (exc.fields or {}).items():
                if name in form.fields:
                    for problem in problems:
                        form.add_error(name, problem.get("detail", ""))
    listings = Listing.objects.filter(package=package).order_by("-is_active", "price_amount", "id")
    return render(
        request,
        "marketplace/console_listings.html",
        {"package": package, "listings": listings, "form": form},
    )


@login_required
def console_sales(request: AuthenticatedHttpRequest) -> HttpResponse:
    creator = Creator.objects.filter(user=request.user).first()
    lines = (
        OrderLine.objects.filter(package__owner=request.user)
        .exclude(
            order__status__in=[Order.Status.PENDING, Order.Status.CANCELLED, Order.Status.FAILED]
        )
        .select_related("order", "package")
        .order_by("-id")
    )
    page = Paginator(lines, 50).get_page(request.GET.get("page"))
    balance = earnings.net_earnings(creator) if creator is not None else {}
    return render(
        request,
        "marketplace/console_sales.html",
        {"page": page, "creator": creator, "balance": balance},
    )


@login_required
def console_reviews(request: AuthenticatedHttpRequest) -> HttpResponse:
    qs = (
        Review.objects.filter(package__owner=request.user)
        .exclude(status=Review.Status.REMOVED)
        .select_related("package", "author")
    )
    if request.GET.get("unanswered"):
        qs = qs.filter(creator_response="")
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "marketplace/console_reviews.html",
        {
            "page": page,
            "response_form": ResponseForm(),
            "unanswered": bool(request.GET.get("unanswered")),
        },
    )


@login_required
def console_payouts(request: AuthenticatedHttpRequest) -> HttpResponse:
    creator = Creator.objects.filter(user=request.user).first()
    if request.method == "POST" and creator is None:
        try:
            creator = services.apply_as_creator(
                request.user,
                display_name=request.POST.get("display_name", "").strip(),
                slug=slugify(request.POST.get("slug", "") or request.POST.get("display_name", "")),
                support_email=request.POST.get("support_email", "").strip() or request.user.email,
            )
            messages.success(request, "Application received. A moderator will review it.")
            return redirect("console-payouts")
        except DomainError as exc:
            messages.error(request, exc.detail)
    balances: list[earnings.Balance] = []
    items: Iterable[PayoutItem] = []
    if creator is not None:
        balances = earnings.balances(creator)
        items = (
            PayoutItem.objects.for_user(request.user)
            .filter(creator=creator)
            .select_related("batch")[:50]
        )
    return render(
        request,
        "marketplace/console_payouts.html",
        {
            "creator": creator,
            "balances": balances,
            "items": items,
            "skip_reason": payouts.skip_reason(creator) if creator else "",
            "hold_days": settings.CREATOR_EARNINGS_HOLD_DAYS,
            "interval_days": settings.PAYOUT_INTERVAL_DAYS,
        },
    )
