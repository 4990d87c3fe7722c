"""Stripe for billing, through dj-stripe and stripe-python.

``client`` (keys, base URL, errors), ``customers`` (one Stripe customer per account),
``products`` (the Pro price), ``subscriptions`` (Pro and the plan it drives), ``credit_packs``
(one-off payments for credits), ``invoices`` (what the account page lists), ``endpoint`` (the
webhook endpoint dj-stripe verifies) and ``webhooks`` (billing's event handlers).
"""
