"""Prepared statements for the hottest hand-written queries (PostgreSQL only).

Django binds parameters client-side and never prepares, so PostgreSQL parses and plans every
statement again; for a three-table lookup that is most of its cost. ``prepared_cursor()`` gives
a Django cursor (query logging, execute wrappers and error translation as usual) whose
statements are prepared once per connection and then reused by psycopg.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper


class _PreparingCursor(psycopg.Cursor):
    """Server-side binding, and every statement prepared (psycopg keeps up to
    ``prepared_max`` per connection, least recently used dropped first)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


@contextlib.contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    assert connection.vendor == "postgresql", "prepared statements are PostgreSQL's"
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        # Private Django API (issue #15 removes this use): not in django-stubs.
        cursor = connection._prepare_cursor(  # type: ignore[attr-defined]
            _PreparingCursor(connection.connection)
        )
    with cursor:
        yield cursor
