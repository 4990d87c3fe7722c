"""Keys that held every scope before ``orders`` and ``account`` existed keep doing all they could.

Until then buying and managing keys needed no particular scope; full keys keep that ability,
narrower keys (e.g. ``read`` only) gain nothing.
"""

from django.db import migrations, models

FORMER_SCOPES = {"read", "run", "publish", "licenses"}
NEW_SCOPES = ["orders", "account"]


def grant_new_scopes_to_full_keys(apps, schema_editor):
    ApiKey = apps.get_model("billing", "ApiKey")
    for key in ApiKey.objects.all().only("pk", "scopes").iterator():
        scopes = list(key.scopes or [])
        if set(scopes) >= FORMER_SCOPES:
            ApiKey.objects.filter(pk=key.pk).update(
                scopes=scopes + [scope for scope in NEW_SCOPES if scope not in scopes]
            )


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_account_plan_overage_rate_override")]

    operations = [
        migrations.AlterField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(
                default=list, help_text="Subset of fmugateway.core.scopes.SCOPES."
            ),
        ),
        migrations.RunPython(grant_new_scopes_to_full_keys, migrations.RunPython.noop),
    ]
