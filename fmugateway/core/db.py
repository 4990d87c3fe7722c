"""Prepared statements for the hottest hand-written queries (PostgreSQL only).

Django binds parameters client-side and never prepares, so PostgreSQL parses and plans every
statement again; for a three-table lookup that is most of its cost. ``prepared_cursor()`` gives
a Django cursor (query logging, execute wrappers and error translation as usual) that binds
parameters server-side and asks psycopg to prepare every statement, once per connection.

psycopg prepares only on connections whose ``prepare_threshold`` is not ``None``, and Django
opens its connections with ``None`` (for transaction-mode connection poolers) unless
``DATABASES["default"]["OPTIONS"]["prepare_threshold"]`` says otherwise. This project does not
set it, so today these statements are bound server-side but not prepared; setting the option
turns preparing on for these cursors alone (Django's own bind client-side and never prepare).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper


class _PreparingCursor(psycopg.Cursor):
    """Server-side binding, and every statement prepared where the connection prepares at all
    (psycopg keeps up to ``prepared_max`` per connection, least recently used dropped first)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


@contextlib.contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    assert connection.vendor == "postgresql", "prepared statements are PostgreSQL's"
    # Django's cursor() makes its cursor with psycopg's ``cursor_factory``: lend it ours for
    # that one call. The health check first, so that cursor() cannot reconnect in between.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    psycopg_connection = connection.connection
    default_factory = psycopg_connection.cursor_factory
    psycopg_connection.cursor_factory = _PreparingCursor
    try:
        cursor = connection.cursor()
    finally:
        psycopg_connection.cursor_factory = default_factory
    with cursor:
        yield cursor
