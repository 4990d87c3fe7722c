from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("execution", "0001_jobs_batches")]

    operations = [
        migrations.AddField(
            model_name="simulationjob",
            name="license_id",
            field=models.BigIntegerField(
                blank=True,
                null=True,
            ),
        ),
    ]
