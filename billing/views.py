from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify

from accounts.http import AuthenticatedHttpRequest
from accounts.models import Creator
from accounts.services.creators import apply_as_creator
from billing.forms import ApiKeyForm
from billing.models import ApiKey, CreditEntry, PayoutItem
from billing.services import (
    balance_of,
    create_api_key,
    earnings,
    payouts,
    plan_for,
    revoke_api_key,
    tiers,
)
from billing.stripe import credit_packs, plan_subscriptions, products
from billing.stripe.client import is_enabled
from billing.stripe.connect import start_connect_onboarding
from billing.stripe.invoices import invoices_of
from fmugateway.core.csp import loads_stripe_js
from fmugateway.core.errors import DomainError
from fmugateway.core.views import keep_shown_once, take_shown_once, unwrapped_user


@login_required
def account_billing(request: AuthenticatedHttpRequest) -> HttpResponse:

    entries = CreditEntry.objects.filter(account__user=request.user).order_by("-id")[:50]
    return render(
        request,
        "billing/billing.html",
        {
            "plan": plan_for(unwrapped_user(request)),
            "balance": balance_of(request.user),
            "entries": entries,
            "tiers": list(tiers()),
            "invoices": invoices_of(request.user, limit=24),
        },
    )


@login_required
def account_api_keys(request: AuthenticatedHttpRequest) -> HttpResponse:

    form = ApiKeyForm(request.POST or None)
    # The new key crosses the redirect once (a refresh neither creates another nor shows it).
    held = take_shown_once(request, "api-key")
    new_key = held if isinstance(held, dict) else None
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
                created = create_api_key(
                    request.user,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    actor=request.user,
                )
                keep_shown_once(
                    request,
                    "api-key",
                    {"key": {"name": created.key.name}, "secret": created.secret},
                )
                return redirect("account-api-keys")
            except DomainError as exc:
                messages.error(request, exc.detail)
    keys = ApiKey.objects.owned_by(request.user).order_by("-created_at")[:100]
    return render(
        request, "billing/api_keys.html", {"form": form, "keys": keys, "new_key": new_key}
    )


@login_required
def console_payouts(request: AuthenticatedHttpRequest) -> HttpResponse:
    creator = Creator.objects.filter(user=request.user).first()
    if request.method == "POST" and creator is None:
        try:
            creator = apply_as_creator(
                request.user,
                display_name=request.POST.get("display_name", "").strip(),
                slug=slugify(request.POST.get("slug", "") or request.POST.get("display_name", "")),
                support_email=request.POST.get("support_email", "").strip() or request.user.email,
            )
            messages.success(request, "Application received. A moderator will review it.")
            return redirect("console-payouts")
        except DomainError as exc:
            messages.error(request, exc.detail)
    if request.method == "POST" and creator is not None and "connect" in request.POST:
        try:
            return redirect(start_connect_onboarding(request.user)["url"])
        except DomainError as exc:
            messages.error(request, exc.detail)
            return redirect("console-payouts")
    balances: list[earnings.Balance] = []
    items: list[PayoutItem] = []
    if creator is not None:
        balances = earnings.balances(creator)
        items = list(
            PayoutItem.objects.for_user(request.user)
            .filter(creator=creator)
            .select_related("batch")[:50]
        )
    return render(
        request,
        "billing/console_payouts.html",
        {
            "creator": creator,
            "balances": balances,
            "items": items,
            "skip_reason": payouts.skip_reason(creator) if creator else "",
            "payments_enabled": is_enabled(),
            "connect_outcome": request.GET.get("connect", ""),
            "hold_days": settings.CREATOR_EARNINGS_HOLD_DAYS,
            "interval_days": settings.PAYOUT_INTERVAL_DAYS,
        },
    )


# --- Upgrade to Pro and buy credits (the account pages of billing's Stripe services) ---------


def _card_form(client_secret: str | None, mode: str, return_url: str, then: str = "") -> dict:
    """What ``static/js/checkout.js`` needs to confirm a card with Stripe.js."""
    return {
        "client_secret": client_secret or "",
        "mode": mode,
        "return_url": return_url,
        "then": then,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "stripe_js_url": settings.STRIPE_JS_URL,
    }


@loads_stripe_js
@login_required
def account_plan(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The plans side by side with the current one; Upgrade to Pro by card (Stripe.js keeps the
    card on a SetupIntent, then the subscription charges it) or on Stripe's Checkout page;
    cancel at the end of the paid period. The plan changes when Stripe's webhook says so."""
    user = unwrapped_user(request)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "cancel":
                plan_subscriptions.cancel(user)
                messages.success(request, "Your subscription ends with the period already paid.")
            elif action == "checkout":
                return redirect(plan_subscriptions.subscribe(user)["checkout_url"])
            else:
                result = plan_subscriptions.subscribe_with_card(
                    user, request.POST.get("setup_intent", "")
                )
                if result.get("client_secret"):  # the bank asks the buyer to authenticate
                    return render(
                        request,
                        "billing/plan.html",
                        _plan_context(user)
                        | {"card": _card_form(result["client_secret"], "payment", request.path)},
                    )
                messages.success(
                    request, "Payment received: Pro starts as soon as Stripe confirms it."
                )
        except DomainError as exc:
            messages.error(request, exc.detail)
        return redirect("account-plan")
    context = _plan_context(user)
    if request.GET.get("upgrade") and context["can_upgrade"]:
        try:
            setup = plan_subscriptions.start_card_setup(user)
        except DomainError as exc:
            context["problem"] = exc.detail
        else:
            context["card"] = _card_form(
                setup["client_secret"], "setup", request.path, then="subscribe-form"
            )
            context["setup_intent"] = setup["setup_intent"]
    return render(request, "billing/plan.html", context)


def _plan_context(user) -> dict:
    plan = plan_for(user)
    subscription = plan_subscriptions.subscription_in_force(user) if is_enabled() else None
    pro = products.PRO_PLAN
    confirming = subscription is not None and plan.code != pro
    return {
        "plan": plan,
        "tiers": list(tiers()),
        "pro": pro,
        "subscription": subscription,
        "ending": bool(subscription and subscription.get("cancel_at_period_end")),
        "confirming": confirming,
        # Pro is offered from the default plan only (a plan staff set stays as it is).
        "on_default": plan.code == tiers().default,
        "can_upgrade": is_enabled() and subscription is None and plan.code == tiers().default,
    }


# Pack sizes offered on the page (the API takes any size between the configured bounds).
CREDIT_PACKS = (1000, 5000, 20000, 100000)


@loads_stripe_js
@login_required
def account_credits(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Credit packs with their prices for this account's plan; buying one takes the card with
    Stripe.js (the pack's PaymentIntent), and the credits arrive with Stripe's webhook."""
    user = unwrapped_user(request)
    context: dict = {"balance": balance_of(request.user), "plan": plan_for(user)}
    if request.method == "POST":
        try:
            number = int(request.POST.get("credits", ""))
        except ValueError:
            number = 0
        try:
            purchase = credit_packs.start_purchase(user, number)
        except DomainError as exc:
            messages.error(request, exc.detail)
            return redirect("account-credits")
        back = f"{reverse('account-credits')}?paid={purchase['payment_intent']}"
        context["purchase"] = purchase
        context["card"] = _card_form(purchase["client_secret"], "payment", back)
        return render(request, "billing/credits.html", context)
    paid = request.GET.get("paid", "")
    if paid:
        reference = credit_packs.purchase_reference({"id": paid})
        context["arrived"] = CreditEntry.objects.filter(
            account__user=request.user, reference=reference
        ).first()
        context["confirming"] = context["arrived"] is None
    packs = []
    if is_enabled():
        low, high = settings.CREDIT_PACK_MIN_CREDITS, settings.CREDIT_PACK_MAX_CREDITS
        try:
            packs = [
                credit_packs.price_pack(user, size) for size in CREDIT_PACKS if low <= size <= high
            ]
        except DomainError as exc:
            context["problem"] = exc.detail
    context["packs"] = packs
    return render(request, "billing/credits.html", context)
