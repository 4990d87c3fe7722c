"""The job page's results table: one server-side page of rows at a time, so a result of a
million rows costs the page no more than one of fifty (local files are memory-mapped: only the
rows shown are read). Headers carry units; values are shown exactly (shortest round-trip text)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.core.files.storage import FileSystemStorage
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, QueryDict
from django.urls import reverse

from execution import results
from execution.models import JobStatus, SimulationJob
from execution.services.job_settings import _Catalog
from registry.models import PackageVersion

PAGE_PARAM = "table_page"
SIZE_PARAM = "table_rows"
PAGE_SIZES = (50, 200, 1000)
ANCHOR = "results-table"


def variable_units(version: PackageVersion) -> dict[str, str]:
    """Unit of each variable of the version that has one (cached per version)."""
    return {name: info.unit for name, info in _Catalog(version).by_name.items() if info.unit}


def open_result(npy_key: str) -> np.ndarray:
    """The stored result; memory-mapped when the storage is a local directory."""
    storage = results.results_storage()
    if isinstance(storage, FileSystemStorage):
        return np.load(storage.path(npy_key), mmap_mode="r", allow_pickle=False)
    return results.load_array(npy_key)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same double
    return str(value)


def _base_unit(column: str, units: dict[str, str]) -> str:
    # An FMI 3 array variable's element columns are named ``name[i,j]``.
    return units.get(column) or units.get(column.split("[", 1)[0], "")


@dataclass
class ResultsTable:
    headers: list[tuple[str, str]]  # (column, unit)
    rows: list[tuple[int, list[str]]]  # (row number from 1, cells)
    page: Page
    page_size: int
    downloads: dict[str, str]
    page_sizes: tuple[int, ...] = PAGE_SIZES
    links: dict[str, str] = field(default_factory=dict)  # previous/next/first/last -> URL
    size_links: dict[int, str] = field(default_factory=dict)
    anchor: str = ANCHOR

    @property
    def first_row(self) -> int:
        return self.page.start_index()

    @property
    def last_row(self) -> int:
        return self.page.end_index()

    @property
    def total_rows(self) -> int:
        return self.page.paginator.count


def _link(request: HttpRequest, **changes: int) -> str:
    query: QueryDict = request.GET.copy()
    for name, value in changes.items():
        query[name] = str(value)
    return f"?{query.urlencode()}#{ANCHOR}"


def downloads(job: SimulationJob) -> dict[str, str]:
    return {
        "csv": reverse("api-job-results-csv", kwargs={"pk": job.pk}),
        # JSON even for a browser (whose Accept header would get the browsable API's page).
        "json": reverse("api-job-results", kwargs={"pk": job.pk}) + "?format=json",
        "mat": reverse("api-job-results-mat", kwargs={"pk": job.pk}),
    }


def for_job(request: HttpRequest, job: SimulationJob) -> ResultsTable | None:
    """The page of the job's results asked for by ``?table_page=`` and ``?table_rows=``
    (anything else: the first page of 50), or None while there are no results."""
    if job.status != JobStatus.SUCCEEDED or not job.result_npy_key:
        return None
    try:
        size = int(request.GET.get(SIZE_PARAM, ""))
    except ValueError:
        size = PAGE_SIZES[0]
    if size not in PAGE_SIZES:
        size = PAGE_SIZES[0]
    array = open_result(job.result_npy_key)
    page = Paginator(range(len(array)), size).get_page(request.GET.get(PAGE_PARAM))
    start, stop = page.start_index() - 1, page.end_index()
    if not len(array):
        start, stop = 0, 0
    columns = results._flat_columns(array[start:stop])
    units = variable_units(job.version)
    headers = [
        (name, _base_unit(name, units) or ("s" if name == "time" else "")) for name, _ in columns
    ]
    values = [column.tolist() for _, column in columns]
    rows = [
        (start + offset + 1, [_text(column[offset]) for column in values])
        for offset in range(stop - start)
    ]
    links = {}
    if page.has_previous():
        links["first"] = _link(request, **{PAGE_PARAM: 1, SIZE_PARAM: size})
        links["previous"] = _link(
            request, **{PAGE_PARAM: page.previous_page_number(), SIZE_PARAM: size}
        )
    if page.has_next():
        links["next"] = _link(request, **{PAGE_PARAM: page.next_page_number(), SIZE_PARAM: size})
        links["last"] = _link(request, **{PAGE_PARAM: page.paginator.num_pages, SIZE_PARAM: size})
    return ResultsTable(
        headers=headers,
        rows=rows,
        page=page,
        page_size=size,
        downloads=downloads(job),
        links=links,
        size_links={
            option: _link(request, **{PAGE_PARAM: 1, SIZE_PARAM: option}) for option in PAGE_SIZES
        },
    )
