"""The marketplace's domain verbs; the API, the admin, tasks and webhooks all call these.

    creator = apply_as_creator(user, display_name=..., slug=..., support_email=...)
    approve_creator(creator, moderator)
    listing = create_listing(package, owner, kind="download", pricing_model="paid", ...)
    add_to_cart(buyer, listing.pk); result = checkout(buyer)       # free orders: keys now
    mark_order_paid(order, "pi_123")                                # the payment webhook
    refund_order(order, reason="requested_by_customer", reference="re_123")
    verify_license(key, "ball", fingerprint)                        # a signed answer

Execution's run entitlements live in ``licensing.entitlements``.
"""

from accounts.services.creators import (
    apply_as_creator,
    approve_creator,
    creator_of,
    is_creator,
    reject_creator,
    require_creator,
    suspend_creator,
)
from billing.services.earnings import creator_balance
from licensing.services.licenses import (
    IssuedKey,
    VerifyCode,
    activate_license,
    claim_key,
    deactivate_activation,
    deactivate_license,
    issue_license,
    offline_license_file,
    reinstate_license,
    revoke_license,
    rotate_key,
    suspend_license,
    verify_license,
)
from licensing.services.seats import assign_seat, bind_pending_seats, remove_seat
from marketplace.services.listings import (
    create_listing,
    deactivate_listing,
    seller_currency,
    update_listing,
)
from marketplace.services.orders import (
    CheckoutResult,
    add_to_cart,
    apply_coupon,
    cancel_order,
    checkout,
    fail_order,
    get_cart,
    mark_order_paid,
    refund_order,
    remove_from_cart,
    set_payment_reference,
)

__all__ = [
    "CheckoutResult",
    "IssuedKey",
    "VerifyCode",
    "activate_license",
    "add_to_cart",
    "apply_as_creator",
    "apply_coupon",
    "approve_creator",
    "assign_seat",
    "bind_pending_seats",
    "cancel_order",
    "checkout",
    "claim_key",
    "create_listing",
    "creator_balance",
    "creator_of",
    "deactivate_activation",
    "deactivate_license",
    "deactivate_listing",
    "fail_order",
    "get_cart",
    "is_creator",
    "issue_license",
    "mark_order_paid",
    "offline_license_file",
    "refund_order",
    "reinstate_license",
    "reject_creator",
    "remove_from_cart",
    "remove_seat",
    "require_creator",
    "revoke_license",
    "rotate_key",
    "seller_currency",
    "set_payment_reference",
    "suspend_creator",
    "suspend_license",
    "update_listing",
    "verify_license",
]
