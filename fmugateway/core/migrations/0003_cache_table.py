"""Create the database cache table when the cache is database-backed (no REDIS_URL), so that
``migrate`` alone prepares a database (``createcachetable`` is idempotent)."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("core", "0002_audit_append_only_trigger")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
