"""The catalog index under concurrent writers: sibling versions validated at once both count,
and a failed re-index never fails the change that triggered it."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from catalog.models import PackageSearch, PackageTag
from catalog.services import search
from catalog.tests.catalog_helpers import published_version
from registry.models import PackageVersion, ValidationRun

TAGS = ["pendulum", "Control Systems"]
TAG_SLUGS = {"pendulum", "control-systems"}


def tag_slugs(package) -> set[str]:
    return set(PackageTag.objects.filter(package=package).values_list("tag__slug", flat=True))


def blocked(pid: int) -> bool:
    """Whether that PostgreSQL backend is waiting for a lock another transaction holds."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", [pid])
        return cursor.fetchone()[0]


class Writer(threading.Thread):
    """Runs ``work`` in one transaction on its own connection; keeps its backend pid and error."""

    def __init__(self, work):
        super().__init__()
        self.work = work
        self.pid: int | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.ready.set()
            with transaction.atomic():
                self.work()
        except BaseException as exc:
            self.error = exc
        finally:
            self.ready.set()
            connections.close_all()

    def start_and_wait_blocked(self, timeout: float = 20.0) -> None:
        self.start()
        self.ready.wait(timeout)
        deadline = time.monotonic() + timeout
        while not (self.pid and blocked(self.pid)):
            assert self.is_alive(), f"the writer ended without waiting: {self.error!r}"
            assert time.monotonic() < deadline, "the writer never waited for the catalog row"
            time.sleep(0.02)


def lock_catalog_row(package) -> None:
    """Lock the package's catalog row as an index write does (the package row stays free:
    versions can still be added to it)."""
    rows = PackageSearch.objects.filter(pk=package.pk).order_by()
    assert len(rows.select_for_update(no_key=True, of=("self",))) == 1


def one_after_another(package, *works) -> list[Writer]:
    """Start each ``work`` in its own transaction while this test holds the package's catalog
    row, each once the one before it waits for a lock; then let them all go: the writers
    overlap the way two workers finishing validations at the same moment do."""
    writers = [Writer(work) for work in works]
    with transaction.atomic():
        lock_catalog_row(package)
        for writer in writers:
            writer.start_and_wait_blocked()
    for writer in writers:
        writer.join(30)
    return writers


@pytest.fixture
def tagged(package):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    package.tags = TAGS
    package.save()  # indexed: its tag rows exist
    assert tag_slugs(package) == TAG_SLUGS
    return package


@pytest.mark.django_db(transaction=True)
def test_two_transactions_reindexing_one_package_at_once_both_commit(tagged):
    def reindex():
        search.index_packages([tagged.pk])

    writers = one_after_another(tagged, reindex, reindex)

    assert [writer.error for writer in writers] == [None, None]
    assert tag_slugs(tagged) == TAG_SLUGS


@pytest.mark.django_db(transaction=True)
def test_sibling_versions_validated_at_once_both_count_and_the_newest_is_shown(tagged):
    older = published_version(tagged, version="1.0.0")
    newer = published_version(tagged, version="2.0.0")
    PackageVersion.objects.filter(pk__in=[older.pk, newer.pk]).update(
        validation_status=PackageVersion.ValidationStatus.RUNNING
    )
    search.index_packages([tagged.pk])

    def validated(version):
        def work():
            # What validation does when a run passes: the save re-indexes the package.
            version.validation_status = PackageVersion.ValidationStatus.PASSED
            version.save(update_fields=["validation_status", "updated_at"])

        return work

    # The newer version's transaction reaches the catalog first, the older one's right after:
    # each saw only its own version validated.
    writers = one_after_another(tagged, validated(newer), validated(older))

    assert [writer.error for writer in writers] == [None, None]
    assert set(PackageVersion.objects.published().values_list("version", flat=True)) == {
        "1.0.0",
        "2.0.0",
    }
    assert PackageSearch.objects.get(pk=tagged.pk).latest_version_id == newer.pk
    assert tag_slugs(tagged) == TAG_SLUGS


FAIL_CATALOG_WRITES = """
CREATE FUNCTION test_refuse_catalog_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'catalog write refused by the test' USING ERRCODE = 'deadlock_detected';
END $$;
CREATE TRIGGER test_refuse_catalog_write BEFORE INSERT OR UPDATE ON marketplace_packagesearch
    FOR EACH ROW EXECUTE FUNCTION test_refuse_catalog_write();
"""


@pytest.mark.django_db
def test_a_failed_reindex_does_not_fail_the_validation_and_is_retried_after_it(
    package, sample_fmus, artifacts_dir, django_capture_on_commit_callbacks
):
    if connection.vendor != "postgresql":
        pytest.skip("needs a PostgreSQL trigger")
    from fmugateway.celery import app
    from registry.tests.fixtures import upload_sample
    from registry.validation import run_validation

    version = upload_sample(package, sample_fmus[("mass_spring_damper", "2.0")])
    run = version.validation_runs.get()
    with connection.cursor() as cursor:
        cursor.execute(FAIL_CATALOG_WRITES)  # DDL: undone with the test's transaction

    with django_capture_on_commit_callbacks() as after_commit:
        run_validation(run.pk)

    version.refresh_from_db()
    assert version.validation_status == PackageVersion.ValidationStatus.PASSED
    assert list(PackageVersion.objects.published()) == [version]
    assert PackageSearch.objects.get(pk=package.pk).latest_version_id is None  # not yet
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER test_refuse_catalog_write ON marketplace_packagesearch")
    previous, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        for callback in after_commit:  # what the commit would have run: the re-index task
            callback()
    finally:
        app.conf.task_always_eager = previous
    assert PackageSearch.objects.get(pk=package.pk).latest_version_id == version.pk


def blocked_backends() -> int:
    """Backends of this database waiting for a lock another transaction holds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # a fresh look inside a transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND cardinality(pg_blocking_pids(pid)) > 0"
        )
        return cursor.fetchone()[0]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_validating_two_versions_at_once_makes_both_visible(
    celery_worker_process, tagged, sample_fmus, api_client
):
    from registry.tests.fixtures import upload_sample
    from registry.tests.test_validation_worker import wait_finished

    held = threading.Event()
    release = threading.Event()

    def hold_catalog_row():
        # Both validations reach the catalog while this holds the package's row: they finish
        # at the same moment, as on a busy worker.
        try:
            with transaction.atomic():
                lock_catalog_row(tagged)
                held.set()
                release.wait(120)
        finally:
            held.set()
            connections.close_all()

    holder = threading.Thread(target=hold_catalog_row)
    holder.start()
    try:
        held.wait(10)
        older = upload_sample(tagged, sample_fmus[("mass_spring_damper", "2.0")], "1.0.0")
        newer = upload_sample(tagged, sample_fmus[("mass_spring_damper", "3.0")], "2.0.0")
        deadline = time.monotonic() + 90
        while blocked_backends() < 2:
            runs = list(ValidationRun.objects.filter(version__package=tagged))
            assert not any(run.finished for run in runs), "a validation finished alone"
            assert time.monotonic() < deadline, "the validations never reached the catalog"
            time.sleep(0.1)
    finally:
        release.set()
        holder.join(30)
    runs = [older.validation_runs.get(), newer.validation_runs.get()]
    wait_finished(runs, timeout=60)

    assert [run.status for run in runs] == [ValidationRun.Status.PASSED] * 2
    listed = api_client.get(f"/api/v1/packages/{tagged.slug}/versions")
    assert listed.status_code == 200
    assert {row["version"] for row in listed.json()["results"]} == {"1.0.0", "2.0.0"}
    assert PackageSearch.objects.get(pk=tagged.pk).latest_version_id == newer.pk
    assert tag_slugs(tagged) == TAG_SLUGS
