"""Stripe for billing, through dj-stripe and stripe-python.

``client`` (keys, base URL, errors), ``customers`` (one Stripe customer per account),
``products`` (the Pro price), ``plan_subscriptions`` (Pro and the plan it drives),
``credit_packs`` (one-off payments for credits), ``overage_invoices`` (overage charges sent as
invoice items), ``invoices`` (what the account page lists), ``objects`` (objects re-read from
Stripe), ``endpoint`` (the webhook endpoint dj-stripe verifies), ``receivers`` (how a handler
becomes a webhook receiver, for every app) and ``event_handlers`` (billing's event handlers).
"""
