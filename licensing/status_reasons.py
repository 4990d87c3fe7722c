"""Why a license is in its status, said in words for its holder.

``License.status_reason`` stores what the services record: codes such as ``dmca_restored``,
``kind: reason`` for refunds and chargebacks, or a sentence from an administrator. Known codes
read as sentences; unknown codes lose their underscores; sentences are shown as they are."""

from __future__ import annotations

import re

REASONS = {
    "dmca_takedown": (
        "suspended while a copyright (DMCA) complaint about this model is handled; "
        "it is restored if the complaint is withdrawn or a counter-notice succeeds"
    ),
    "dmca_restored": "restored after a copyright (DMCA) complaint about this model was resolved",
    "renewed": "renewed by your subscription's latest payment",
}

# What ended a paid license (``refund: <reason>`` / ``chargeback: <reason>``, see orders).
ENDINGS = {"refund": "refunded", "chargeback": "the payment was charged back"}

# Stripe's refund reasons.
PAYMENT_REASONS = {
    "requested_by_customer": "at your request",
    "duplicate": "a duplicate payment",
    "fraudulent": "the payment was reported as fraudulent",
}

_CODE = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)+")


def _words(text: str) -> str:
    text = text.strip()
    if text in PAYMENT_REASONS:
        return PAYMENT_REASONS[text]
    return text.replace("_", " ") if _CODE.fullmatch(text) else text


def describe(reason: str) -> str:
    """``reason`` as a phrase to follow the status ("Active — …"); empty for no reason."""
    reason = (reason or "").strip()
    if not reason:
        return ""
    if reason in REASONS:
        return REASONS[reason]
    kind, sep, detail = reason.partition(":")
    if sep and kind.strip() in ENDINGS:
        ending = ENDINGS[kind.strip()]
        detail = _words(detail)
        return f"{ending} ({detail})" if detail else ending
    return _words(reason)
