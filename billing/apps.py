from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing import checks, schema  # noqa: F401  (registers checks and schema extensions)
        from billing.stripe import client, webhooks

        client.configure()
        webhooks.connect()
