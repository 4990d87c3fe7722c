"""Refunds and chargebacks: licenses revoked, entitlements gone, earnings reversed, audited."""

import pytest
from django.db import connection
from django.db.models import Sum
from django.db.utils import DatabaseError

from billing.models import CreatorEarning
from billing.services.earnings import creator_balance
from fmugateway.core.errors import ConflictError, DomainError
from fmugateway.core.models import AuditEntry
from licensing.models import License
from marketplace import services
from marketplace.models import Order
from marketplace.tests.fixtures import buy

pytestmark = pytest.mark.django_db


def net(**filters) -> int:
    return CreatorEarning.objects.filter(**filters).aggregate(s=Sum("net_amount"))["s"] or 0


def test_sale_splits_the_platform_fee(user, seller, download_listing):
    order = buy(user, download_listing).order

    sale = CreatorEarning.objects.get(order_line__order=order)

    assert (sale.gross_amount, sale.platform_fee_amount, sale.net_amount) == (4900, 735, 4165)
    assert sale.kind == "sale" and sale.creator == seller
    assert creator_balance(seller) == {"EUR": 4165}


def test_listing_revenue_share_sets_the_split(user, download_listing):
    download_listing.revenue_share_bps = 7000
    download_listing.save()

    order = buy(user, download_listing).order

    sale = CreatorEarning.objects.get(order_line__order=order)
    assert (sale.platform_fee_amount, sale.net_amount) == (1470, 3430)


def test_full_refund_revokes_licenses_and_reverses_earnings(user, seller, execute_listing):
    order = buy(user, execute_listing).order

    refund = services.refund_order(order, reason="requested_by_customer", actor=None)

    order.refresh_from_db()
    license = License.objects.get(order=order)
    assert order.status == "refunded" and order.refunded_amount == 1900
    assert refund.amount == 1900
    assert license.status == "revoked" and license.runs_remaining == 0
    assert net(creator=seller) == 0
    reversal = CreatorEarning.objects.get(kind="refund")
    assert (reversal.gross_amount, reversal.platform_fee_amount) == (-1900, -285)
    entry = AuditEntry.objects.get(action="marketplace.order.refunded")
    assert entry.before["status"] == "paid" and entry.after["status"] == "refunded"
    assert AuditEntry.objects.filter(action="marketplace.license.revoked").exists()


def test_partial_refund_keeps_licenses(user, seller, download_listing):
    order = buy(user, download_listing).order

    services.refund_order(order, 1000, reason="goodwill")

    order.refresh_from_db()
    assert order.status == "partially_refunded" and order.refundable_amount == 3900
    assert License.objects.get(order=order).status == "active"
    assert net(creator=seller) == 4165 - (1000 - 150)


def test_partial_refunds_adding_up_to_everything_net_to_zero(user, seller, download_listing):
    order = buy(user, download_listing).order

    for amount in (333, 1111, 3456):
        services.refund_order(order, amount, reason="split")

    order.refresh_from_db()
    assert order.status == "refunded"
    assert net(creator=seller) == 0
    assert License.objects.get(order=order).status == "revoked"


def test_refund_of_one_line_revokes_only_its_license(user, download_listing, execute_listing):
    order = buy(user, download_listing, execute_listing).order
    execute_line = order.lines.get(kind="execute_only")

    services.refund_order(order, reason="wrong item", lines=[execute_line])

    statuses = dict(License.objects.filter(order=order).values_list("kind", "status"))
    assert statuses == {"download": "active", "execute_only": "revoked"}
    order.refresh_from_db()
    assert order.status == "partially_refunded" and order.refunded_amount == 1900


def test_refund_is_idempotent_per_reference(user, download_listing):
    order = buy(user, download_listing).order

    first = services.refund_order(order, 500, reason="r", reference="re_1")
    again = services.refund_order(order, 500, reason="r", reference="re_1")

    assert first.pk == again.pk
    order.refresh_from_db()
    assert order.refunded_amount == 500


def test_refund_amount_must_fit(user, download_listing):
    order = buy(user, download_listing).order

    with pytest.raises(DomainError) as error:
        services.refund_order(order, 4901, reason="too much")

    assert error.value.code == "refund_amount_invalid"


def test_pending_orders_cannot_be_refunded(user, download_listing):
    services.add_to_cart(user, download_listing.pk)
    order = services.checkout(user).order

    with pytest.raises(ConflictError):
        services.refund_order(order, reason="nothing paid")


def test_chargeback_uses_the_same_path(user, seller, download_listing):
    order = buy(user, download_listing).order

    services.refund_order(order, reason="fraudulent", kind="chargeback", reference="dp_1")

    assert Order.objects.get(pk=order.pk).status == "refunded"
    assert CreatorEarning.objects.filter(kind="chargeback").count() == 1
    assert net(creator=seller) == 0
    assert AuditEntry.objects.filter(action="marketplace.order.chargeback").exists()


def test_earnings_ledger_is_append_only(user, download_listing):
    buy(user, download_listing)
    earning = CreatorEarning.objects.get()

    with pytest.raises(PermissionError):
        earning.save()
    with pytest.raises(PermissionError):
        CreatorEarning.objects.all().delete()
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), connection.cursor() as cursor:
            cursor.execute("UPDATE marketplace_creatorearning SET net_amount = 0")
