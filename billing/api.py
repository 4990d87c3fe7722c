"""Billing API: API keys, tokens and JWKS, plans, balance, ledger, quotes and payments."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView, ListCreateAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest, signed_in_user
from accounts.models import Creator
from billing import token_keys
from billing.authentication import ApiKeyAuthentication
from billing.models import ApiKey, CreditEntry, PayoutItem
from billing.serializers import (
    ApiKeySerializer,
    CancelResultSerializer,
    CancelSerializer,
    ConnectOnboardingSerializer,
    CreditBalanceSerializer,
    CreditEntrySerializer,
    CreditPackResultSerializer,
    CreditPackSerializer,
    InvoiceSerializer,
    JwksSerializer,
    NewApiKeySerializer,
    PayoutsSerializer,
    PlanSerializer,
    QuoteRequestSerializer,
    QuoteSerializer,
    SubscribeResultSerializer,
    SubscribeSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from billing.services import api_keys, credits, earnings, plans, quotes, tokens
from billing.stripe import credit_packs, plan_subscriptions
from billing.stripe import invoices as stripe_invoices
from billing.stripe.connect import start_connect_onboarding
from fmugateway.core.api import BoundedPageSize
from fmugateway.core.errors import DomainError, NotFoundError
from fmugateway.core.idempotency import idempotent
from fmugateway.core.scopes import public, scopes_of, signed_in

RECENT_ENTRIES = 10
PAYMENT_ERRORS = {402, 502, 503}  # payment_declined; payment_provider_error; unavailable


def _insufficient_scope(missing) -> DomainError:
    return DomainError(
        f"This credential lacks the scope(s): {', '.join(sorted(missing))}.",
        code="insufficient_scope",
        status_code=403,
    )


@extend_schema(tags=["api keys"])
class ApiKeyListCreateView(ListCreateAPIView):
    """Your API keys (never their secrets). POST creates one and shows its key once."""

    required_scopes = {"GET": "read", "POST": "account"}
    serializer_class = ApiKeySerializer

    def get_queryset(self):
        return ApiKey.objects.owned_by(self.request.user)

    @extend_schema(request=ApiKeySerializer, responses={201: NewApiKeySerializer})
    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        requested = set(serializer.validated_data["scopes"])
        # A credential can only hand out scopes it holds itself (sessions hold them all).
        missing = requested - scopes_of(request)
        if missing:
            raise _insufficient_scope(missing)
        owner = signed_in_user(request)
        new = api_keys.create_api_key(
            owner,
            name=serializer.validated_data["name"],
            scopes=sorted(requested),
            expires_at=serializer.validated_data.get("expires_at"),
            actor=owner,
        )
        body = NewApiKeySerializer(new.key).data
        body["key"] = new.secret
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


@extend_schema(tags=["api keys"])
class ApiKeyDetailView(APIView):
    """One of your API keys; DELETE revokes it (at once, and every token minted from it)."""

    required_scopes = {"GET": "read", "DELETE": "account"}

    def _get(self, request: Request, pk: int) -> ApiKey:
        key = ApiKey.objects.owned_by(request.user).filter(pk=pk).first()
        if key is None:
            raise NotFoundError("No such API key.")
        return key

    @extend_schema(responses=ApiKeySerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ApiKeySerializer(self._get(request, pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: AuthenticatedRequest, pk: int) -> Response:
        api_keys.revoke_api_key(self._get(request, pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class TokenView(APIView):
    """Exchange an API key (``X-API-Key`` or ``Authorization: Bearer``) for a short-lived JWT."""

    authentication_classes = [ApiKeyAuthentication]
    required_scopes = {"POST": signed_in()}
    error_statuses = {503}  # token_signing_unavailable

    @extend_schema(request=TokenRequestSerializer, responses=TokenSerializer)
    def post(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiKey):
            raise DomainError(
                "Only an API key can be exchanged for a token.",
                code="api_key_required",
                status_code=403,
            )
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = tokens.mint_token(request.auth, scopes=serializer.validated_data.get("scopes"))
        body = {
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": issued.expires_at - issued.claims["iat"],
            "expires_at": issued.expires_at,
            "scope": " ".join(issued.claims["scopes"]),
        }
        return Response(TokenSerializer(body).data, headers={"Cache-Control": "no-store"})


@extend_schema(tags=["auth"])
class JwksView(APIView):
    """The public keys that verify API tokens (JSON Web Key Set)."""

    authentication_classes = []
    required_scopes = {"GET": public()}

    @extend_schema(responses=JwksSerializer)
    def get(self, request: Request) -> Response:
        body = JwksSerializer(token_keys.jwks()).data
        return Response(body, headers={"Cache-Control": "public, max-age=300"})


@extend_schema(tags=["billing"])
class PlanListView(ListAPIView):
    """The pricing tiers (public), paginated like every list."""

    required_scopes = {"GET": public()}
    serializer_class = PlanSerializer

    # A list of tiers, not a queryset: ListAPIView only iterates (and pages) it.
    def get_queryset(self) -> list[dict]:  # type: ignore[override]
        loaded = plans.tiers()
        return [{**tier.as_dict(), "is_default": tier.code == loaded.default} for tier in loaded]


@extend_schema(tags=["billing"])
class BalanceView(APIView):
    """Your balance, plan and most recent ledger entries."""

    required_scopes = {"GET": "read"}

    @extend_schema(responses=CreditBalanceSerializer)
    def get(self, request: AuthenticatedRequest) -> Response:
        account = credits.get_account(request.user)
        plan = plans.plan_for(request.user)
        recent = account.entries.order_by("-id")[:RECENT_ENTRIES]
        held = account.reservations.filter(status="held").values_list("amount", flat=True)
        body = {
            "balance": account.balance,
            "reserved": sum(held),
            "available": account.balance + plan.overage_limit_credits,
            "plan": {
                **plan.tier.as_dict(),
                "rate_limit_per_minute": plan.rate_limit_per_minute,
                "included_credits": plan.included_credits,
                "overage_limit_credits": plan.overage_limit_credits,
                "overage_rate_per_credit_usd": plan.overage_rate_per_credit_usd,
            },
            "cycle": credits.current_cycle(),
            "recent_entries": recent,
        }
        return Response(CreditBalanceSerializer(body).data)


class LedgerPagination(BoundedPageSize, CursorPagination):
    # Cursor pagination: stable while entries are appended, and no COUNT(*) per page.
    ordering = "-id"
    page_size = 50


@extend_schema(tags=["billing"])
class LedgerView(ListAPIView):
    """Your credit ledger, newest first."""

    required_scopes = {"GET": "read"}
    serializer_class = CreditEntrySerializer
    pagination_class = LedgerPagination

    def get_queryset(self):
        return CreditEntry.objects.for_user(self.request.user)


@extend_schema(tags=["billing"])
class QuoteView(APIView):
    """What a run with these resources (or a job with these limits) would cost you."""

    required_scopes = {"POST": "read"}

    @extend_schema(request=QuoteRequestSerializer, responses=QuoteSerializer)
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = QuoteRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = quotes.quote(
            request.user,
            {key: data[key] for key in ("cpu_seconds", "memory_mb", "wall_seconds")},
            model_size_class=data["model_size_class"],
            premium=data["premium"],
        )
        body = {
            "credits": result.credits,
            "breakdown": result.breakdown.as_dict(),
            "plan": result.plan,
            "balance": result.balance,
            "available": result.available,
            "sufficient": result.sufficient,
        }
        return Response(QuoteSerializer(body).data)


# --- Payments (Stripe) ------------------------------------------------------------------------


@extend_schema(tags=["billing"])
class SubscribeView(APIView):
    """Subscribe to Pro. With a ``payment_method`` (from Stripe.js) the first invoice is charged
    now (``client_secret`` when the bank asks the buyer to authenticate); without one the answer
    is a Stripe Checkout URL. The plan changes when Stripe confirms the payment (webhook).
    503 ``payments_unavailable`` without Stripe. Honours ``Idempotency-Key``."""

    required_scopes = {"POST": "orders"}
    error_statuses = PAYMENT_ERRORS

    @extend_schema(request=SubscribeSerializer, responses={201: SubscribeResultSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        form = SubscribeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = plan_subscriptions.subscribe(
            request.user, payment_method=form.validated_data.get("payment_method") or None
        )
        result["publishable_key"] = settings.STRIPE_PUBLISHABLE_KEY
        return Response(SubscribeResultSerializer(result).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["billing"])
class CancelSubscriptionView(APIView):
    """Cancel your subscription at the end of the paid period (or now, ``at_period_end``
    false). 404 ``no_subscription`` when you have none."""

    required_scopes = {"POST": "orders"}
    error_statuses = {502, 503}

    @extend_schema(request=CancelSerializer, responses=CancelResultSerializer)
    def post(self, request: Request) -> Response:
        form = CancelSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = plan_subscriptions.cancel(
            request.user, at_period_end=form.validated_data["at_period_end"]
        )
        return Response(CancelResultSerializer(result).data)


@extend_schema(tags=["billing"])
class CreditPackView(APIView):
    """Buy ``credits`` credits in one payment, priced at your plan's overage rate. Answers the
    PaymentIntent's ``client_secret`` for Stripe.js (or, with a saved ``payment_method``, pays
    now); the credits arrive with Stripe's confirmation. Honours ``Idempotency-Key``."""

    required_scopes = {"POST": "orders"}
    error_statuses = PAYMENT_ERRORS

    @extend_schema(request=CreditPackSerializer, responses={201: CreditPackResultSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        form = CreditPackSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = credit_packs.start_purchase(
            request.user,
            form.validated_data["credits"],
            payment_method=form.validated_data.get("payment_method") or None,
        )
        result["publishable_key"] = settings.STRIPE_PUBLISHABLE_KEY
        return Response(CreditPackResultSerializer(result).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["billing"])
class InvoiceListView(ListAPIView):
    """Your Stripe invoices (Pro renewals and overage), newest first."""

    required_scopes = {"GET": "read"}
    serializer_class = InvoiceSerializer

    def get_queryset(self):
        return stripe_invoices.invoices_for(self.request.user)


@extend_schema(tags=["marketplace"], request=None, responses={201: ConnectOnboardingSerializer})
class CreatorConnectView(APIView):
    """Your Stripe Connect (Express) onboarding link; the account is created on first call.
    Its state (charges and payouts enabled) follows Stripe's ``account.updated`` events."""

    required_scopes = {"POST": "publish"}
    error_statuses = {503}  # payments_unavailable

    def post(self, request: Request) -> Response:
        onboarding = start_connect_onboarding(request.user)
        return Response(
            ConnectOnboardingSerializer(onboarding).data, status=status.HTTP_201_CREATED
        )


@extend_schema(tags=["marketplace"], responses=PayoutsSerializer)
class CreatorPayoutsView(APIView):
    """Your balances per currency (minor units: pending, available, in payout, paid) and your
    latest 100 payouts. 404 ``not_a_creator`` without a creator profile."""

    required_scopes = {"GET": "read"}
    error_statuses = {404}

    def get(self, request: AuthenticatedRequest) -> Response:
        creator = Creator.objects.filter(user=request.user).first()
        if creator is None:
            raise NotFoundError("You have no creator profile.", code="not_a_creator")
        items = (
            PayoutItem.objects.for_user(request.user)
            .filter(creator=creator)
            .select_related("batch")[:100]
        )
        return Response(
            PayoutsSerializer({"balances": earnings.balances(creator), "payouts": list(items)}).data
        )
