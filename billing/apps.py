from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing import checks, openapi_auth, signals  # noqa: F401  (checks, schema extensions)
        from billing.stripe import client, connect, event_handlers

        client.configure()
        event_handlers.connect()
        connect.connect()  # creators' Connect accounts and payout transfers
        signals.connect()
