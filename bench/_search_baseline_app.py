"""The search benchmark's baseline: a minimal WSGI app (no Django) that gunicorn serves like the
site, answering ``GET /catalog/?q=...`` by running the statements the catalog page's search sends
for that URL (captured by ``bench_search.py`` into ``BENCH_SEARCH_STATEMENTS``, a JSON object of
path -> statements, each sent the way the page sent it) with ``psycopg`` on one persistent
connection per worker thread, and returning the ids. What the page costs above this is what
Django and our code add.
"""

from __future__ import annotations

import json
import os
import threading

import psycopg

_statements: dict[str, list[dict]] | None = None
_local = threading.local()  # one connection per thread, as Django keeps them


def _conn() -> psycopg.Connection:
    connection = getattr(_local, "connection", None)
    if connection is None or connection.closed:
        # The site's session settings (random_page_cost...): the same plans for the same SQL.
        connection = _local.connection = psycopg.connect(
            os.environ["BENCH_SEARCH_DSN"],
            autocommit=True,
            options=os.environ.get("BENCH_SEARCH_PG_OPTIONS", ""),
        )
    return connection


def execute_statement(conn: psycopg.Connection, statement: dict) -> psycopg.Cursor:
    """Run one recorded statement the way the page sent it: its literal text, or its text and
    parameters as a prepared statement."""
    if "params" in statement:
        return conn.execute(statement["sql"], statement["params"], prepare=True)
    return conn.execute(statement["sql"])


def application(environ, start_response):
    global _statements
    if _statements is None:
        with open(os.environ["BENCH_SEARCH_STATEMENTS"]) as fh:
            _statements = json.load(fh)
    path = environ.get("PATH_INFO", "")
    if environ.get("QUERY_STRING"):
        path += "?" + environ["QUERY_STRING"]
    statements = _statements.get(path)
    if statements is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"unknown query\n"]
    conn = _conn()
    rows = []
    for statement in statements:
        rows = execute_statement(conn, statement).fetchall()
    # The statement's rows are (capped count, card columns...): answer with the cards' ids.
    body = json.dumps([row[1] for row in rows if row[1] is not None]).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
