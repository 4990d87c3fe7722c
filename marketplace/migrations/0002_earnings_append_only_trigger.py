"""On PostgreSQL, refuse UPDATE and DELETE on the creators' earnings ledger in the database.

The model refuses already; this also stops raw SQL and other code paths (TRUNCATE, used by test
database flushes, is not affected).
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION marketplace_creatorearning_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'marketplace_creatorearning is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER marketplace_creatorearning_append_only
    BEFORE UPDATE OR DELETE ON marketplace_creatorearning
    FOR EACH ROW EXECUTE FUNCTION marketplace_creatorearning_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS marketplace_creatorearning_append_only ON marketplace_creatorearning;
DROP FUNCTION IF EXISTS marketplace_creatorearning_append_only();
"""


def _run(sql):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return apply


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_creators_listings_orders_licenses")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
