"""Storefront pages: home, catalog and search, category and creator pages, cart and checkout,
reviews, the buyer's account and the marketplace half of the creator console.

Server-rendered; everything works without JavaScript. Views parse, authorise and call services;
a ``DomainError`` becomes a message on the page it came from.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from accounts.models import Creator
from billing.services import earnings
from fmugateway.core.csp import loads_stripe_js
from fmugateway.core.errors import DomainError
from fmugateway.core.views import (
    keep_shown_once,
    redirect_back,
    take_shown_once,
    unwrapped_user,
)
from licensing.models import License
from marketplace import payments, services
from marketplace.forms import CouponForm, ListingForm
from marketplace.models import Listing, Order, OrderLine
from marketplace.signals import order_placed
from registry.models import Package

# --- browsing --------------------------------------------------------------------------------


# --- cart and checkout -----------------------------------------------------------------------


@login_required
@require_POST
def cart_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Add a SKU to the cart. ``buy_now``: if it is the only thing in the cart, check out at once
    (free SKUs are then done: the license and its key are shown on this response)."""
    try:
        listing_id = int(request.POST.get("listing", ""))
    except ValueError:
        messages.error(request, "Choose a license to buy.")
        return redirect_back(request, reverse("cart"))
    try:
        item = services.add_to_cart(request.user, listing_id)
        cart = item.cart
        if request.POST.get("buy_now") and cart.items.count() == 1:
            return _checkout(request)
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect_back(request, reverse("cart"))
    messages.success(
        request, f"“{item.listing.package.name} — {item.listing.name}” is in your cart."
    )
    return redirect("cart")


@login_required
def cart_view(request: AuthenticatedHttpRequest) -> HttpResponse:
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
def cart_remove(request: AuthenticatedHttpRequest, item_id: int) -> HttpResponse:
    try:
        services.remove_from_cart(request.user, item_id)
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("cart")


@login_required
@require_POST
def cart_coupon(request: AuthenticatedHttpRequest) -> HttpResponse:
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
def checkout(request: AuthenticatedHttpRequest) -> HttpResponse:
    try:
        return _checkout(request)
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("cart")


def _checkout(request: AuthenticatedHttpRequest) -> HttpResponse:
    result = services.checkout(request.user)
    order = result.order
    order_placed.send(sender=Order, request=request, order=order)
    if order.awaits_payment:
        return redirect("order-pay", number=order.number)
    # A free order's keys are never stored: they cross the redirect in the session and the
    # completed order's page shows them once (a refresh of it neither re-posts nor shows them).
    keep_shown_once(
        request,
        f"order-keys:{order.number}",
        [{"license": issued.license.pk, "key": issued.key} for issued in result.keys],
    )
    return redirect("order-complete", number=order.number)


@login_required
def order_complete(request: AuthenticatedHttpRequest, number: str) -> HttpResponse:
    """The order just placed; its license keys the first time only (``_checkout``)."""
    order = get_object_or_404(Order.objects.owned_by(request.user), number=number)
    licenses = {
        lic.pk: lic for lic in License.objects.filter(order=order).select_related("package")
    }
    held = take_shown_once(request, f"order-keys:{order.number}")
    keys = [
        services.IssuedKey(licenses[item["license"]], item["key"])
        for item in (held if isinstance(held, list) else [])
        if item["license"] in licenses
    ]
    return render(
        request,
        "marketplace/order_complete.html",
        {
            "order": order,
            "lines": list(order.lines.select_related("package", "listing")),
            "keys": keys,
            # Free orders show their keys on this page only once; paid ones from the license.
            "keys_shown_before": not keys and bool(licenses) and order.total_amount == 0,
            "licenses": licenses,
        },
    )


# Order payment page states (what the buyer is told and offered).
_PAY_STATES = {"succeeded": "confirming", "processing": "confirming"}


@loads_stripe_js
@login_required
def order_pay(request: HttpRequest, number: str) -> HttpResponse:
    """Pay a pending order: the card in the browser (Stripe.js confirms the order's
    PaymentIntent), or, without JavaScript, Stripe's hosted payment page (POST). The order is
    paid only when Stripe's webhook says so; until then this page says where the payment is."""
    order = get_object_or_404(Order.objects.owned_by(request.user), number=number)
    user = unwrapped_user(request)
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


# --- buyer account ---------------------------------------------------------------------------


@login_required
def account_orders(request: HttpRequest) -> HttpResponse:
    orders = Order.objects.owned_by(request.user).prefetch_related(
        Prefetch("lines", OrderLine.objects.order_by("id"))
    )
    page = Paginator(orders, 25).get_page(request.GET.get("page"))
    return render(request, "marketplace/orders.html", {"page": page})


@login_required
def account_invoice(request: HttpRequest, number: str) -> HttpResponse:
    order = get_object_or_404(Order.objects.owned_by(request.user), number=number)
    lines = order.lines.select_related("package").order_by("id")
    return render(request, "marketplace/invoice.html", {"order": order, "lines": lines})


# --- creator console (the marketplace's half) -------------------------------------------------


@login_required
def console_listings(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    package = get_object_or_404(Package.objects.owned_by(request.user), slug=slug)
    form = ListingForm(request.POST or None, initial={"license_template": package.license_text})
    if request.method == "POST":
        try:
            if request.POST.get("action") == "deactivate":
                listing = get_object_or_404(
                    Listing, pk=request.POST.get("listing"), package=package
                )
                services.deactivate_listing(listing, request.user)
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
    creator = Creator.objects.filter(user=request.user).first()
    return render(
        request,
        "marketplace/console_listings.html",
        {
            "package": package,
            "listings": listings,
            "form": form,
            "has_creator": creator is not None,
            "can_sell": creator is not None and creator.can_sell,
        },
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
        {
            "page": page,
            "creator": creator,
            "balance": balance,
            "seller_currency": services.seller_currency(request.user),
        },
    )
