"""``fmugateway.core.db.prepared_cursor``: an ordinary Django cursor that binds server-side and
prepares its statements once per connection where the connection prepares."""

from __future__ import annotations

import pytest
from django.db import ProgrammingError, connection, transaction

from fmugateway.core.db import prepared_cursor

pytestmark = pytest.mark.django_db

QUERY = "SELECT %s::int + 1"


@pytest.fixture
def preparing_on():
    """The connection as ``OPTIONS["prepare_threshold"]`` would open it (Django's is None)."""
    connection.ensure_connection()
    connection.connection.prepare_threshold = 5
    yield
    connection.connection.prepare_threshold = None


def prepared_statements(text: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement = %s", [text])
        return cursor.fetchone()[0]


def test_parameters_are_bound_server_side_and_the_query_is_logged(django_assert_num_queries):
    with django_assert_num_queries(1) as captured, prepared_cursor() as cursor:
        cursor.execute(QUERY, [41])
        assert cursor.fetchone() == (42,)

    assert captured.captured_queries[0]["sql"] == "SELECT $1::int + 1"


def test_a_statement_is_prepared_once_and_reused_on_the_connection(preparing_on):
    with prepared_cursor() as cursor:
        cursor.execute(QUERY, [1])
        first = cursor.fetchone()
    with prepared_cursor() as cursor:
        cursor.execute(QUERY, [41])
        second = cursor.fetchone()

    assert (first, second) == ((2,), (42,))
    assert prepared_statements("SELECT $1::int + 1") == 1


def test_the_connections_other_cursors_bind_client_side_as_before(preparing_on):
    with prepared_cursor() as cursor:
        cursor.execute(QUERY, [1])

    with connection.cursor() as cursor:
        for _ in range(6):  # past the threshold
            cursor.execute("SELECT %s::int + 2", [1])

    assert prepared_statements("SELECT $1::int + 2") == 0
    assert prepared_statements("SELECT 1::int + 2") == 0


def test_its_errors_are_djangos():
    with pytest.raises(ProgrammingError), transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table WHERE id = %s", [1])
