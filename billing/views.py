from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
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
from billing.stripe.invoices import invoices_of
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
            "hold_days": settings.CREATOR_EARNINGS_HOLD_DAYS,
            "interval_days": settings.PAYOUT_INTERVAL_DAYS,
        },
    )
