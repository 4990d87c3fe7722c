from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0003_cache_table")]

    operations = [
        migrations.AddField(
            model_name="workerheartbeat",
            name="status",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
