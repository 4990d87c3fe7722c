"""On PostgreSQL, refuse UPDATE and DELETE on the credit ledger inside the database itself.

The model refuses already; this also stops raw SQL and other code paths. (TRUNCATE, used by test
database flushes, is a different statement and is not affected.)
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION billing_creditentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'billing_creditentry is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_creditentry_append_only
    BEFORE UPDATE OR DELETE ON billing_creditentry
    FOR EACH ROW EXECUTE FUNCTION billing_creditentry_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS billing_creditentry_append_only ON billing_creditentry;
DROP FUNCTION IF EXISTS billing_creditentry_append_only();
"""


def _run(sql):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return apply


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_api_keys_plans_ledger")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
