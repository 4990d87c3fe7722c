"""One way to dispatch a task: ``task.delay(pk)``, which waits for the transaction to commit."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from celery import Task
from django.db import transaction

from fmugateway.celery import app
from fmugateway.core.tasks import TransactionAwareTask, ping

REPO = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".venv", ".git", "var", "node_modules", "__pycache__"}


@pytest.fixture
def sent(monkeypatch):
    """What reaches Celery's own ``apply_async`` (the broker, or an eager run): name, args, id."""
    messages = []

    def record(task, args=None, kwargs=None, task_id=None, **options):
        messages.append((task.name, tuple(args or ()), task_id))

    monkeypatch.setattr(Task, "apply_async", record)
    return messages


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_in_a_transaction_that_rolls_back_is_never_sent(sent):
    with pytest.raises(RuntimeError), transaction.atomic():
        ping.delay("x")
        raise RuntimeError("rollback")

    assert sent == []


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_in_a_savepoint_that_rolls_back_is_never_sent(sent):
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            ping.delay("x")
            raise RuntimeError("rollback to the savepoint")
        ping.delay("y")

    assert [args for _name, args, _id in sent] == [("y",)]


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_in_a_transaction_is_sent_once_after_the_commit(sent):
    with transaction.atomic():
        result = ping.delay("x")
        assert sent == []  # not before the commit

    assert sent == [("fmugateway.core.tasks.ping", ("x",), result.id)]


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_outside_a_transaction_is_sent_at_once(sent):
    ping.apply_async(("x",), task_id="chosen-id")

    assert sent == [("fmugateway.core.tasks.ping", ("x",), "chosen-id")]


@pytest.mark.django_db(transaction=True)
def test_a_retry_inside_a_transaction_is_sent_at_once(sent):
    # The Retry raised out of the block rolls it back; a retry waiting for its commit would be lost.
    ping.push_request(
        id="first", args=["x"], kwargs={}, retries=0, delivery_info={}, called_directly=False
    )
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            ping.retry(countdown=5, throw=False)
            raise RuntimeError("the task's transaction rolls back")
    finally:
        ping.pop_request()

    assert sent == [("fmugateway.core.tasks.ping", ("x",), "first")]


def test_every_task_of_the_app_waits_for_the_commit():
    app.autodiscover_tasks(force=True)  # every installed app's tasks module, now
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}

    assert {"execution.run_job", "registry.validate_version"} <= set(ours)
    assert [name for name, task in ours.items() if not isinstance(task, TransactionAwareTask)] == []


def hand_written_dispatches(source: str) -> list[int]:
    """Lines of ``on_commit(...)`` calls whose arguments mention ``.delay`` or ``.apply_async``
    (``TransactionAwareTask`` itself excepted: it is the one place that may)."""
    lines = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.ClassDef) and node.name == TransactionAwareTask.__name__:
            return
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "on_commit":
                arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
                if any(
                    isinstance(inner, ast.Attribute) and inner.attr in {"delay", "apply_async"}
                    for argument in arguments
                    for inner in ast.walk(argument)
                ):
                    lines.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return lines


def test_no_task_is_dispatched_by_a_hand_written_on_commit():
    assert hand_written_dispatches(
        "transaction.on_commit(lambda: run.apply_async(args=(pk,)))\non_commit(partial(t.delay, 1))"
    ) == [1, 2]

    found = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [name for name in dirs if name not in SKIPPED_DIRS]
        for name in files:
            path = Path(root, name)
            source = path.read_text(encoding="utf-8") if name.endswith(".py") else ""
            if "on_commit" in source:
                found += [f"{path.relative_to(REPO)}:{n}" for n in hand_written_dispatches(source)]

    assert found == [], "call task.delay(pk) inside the transaction instead (TransactionAwareTask)"
