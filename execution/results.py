"""Job results in the ``results`` storage, and short-lived signed links to them.

A result is stored as ``result.npy`` (the structured array exactly as the sandbox returned it:
the columnar form, bit for bit) and ``result.csv`` (17 significant digits, so it parses back to
the same floats). Batch runs store the ``.npy`` only; their CSV is written on first request.
Results hold time series only: never the FMU file, its binaries or their paths.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.urls import reverse
from django.utils import timezone

from execution import matfile
from fmugateway.core.errors import DomainError

SALT = "execution.result"


class LinkInvalid(DomainError):
    status_code = 404
    code = "result_link_invalid"
    detail = "This result link is not valid."


class LinkNotYours(DomainError):
    status_code = 403
    code = "result_link_not_yours"
    detail = "This result link was issued to someone else; ask for your own."


class LinkExpired(DomainError):
    status_code = 410
    code = "result_link_expired"
    detail = "This result link has expired; ask for a new one."


def results_storage():
    return storages["results"]


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def read_npy(data: bytes) -> np.ndarray:
    return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return repr(value)  # shortest text that parses back to the same float
    return value


def _flat_columns(array: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(header, 1-D column) pairs; array variables (FMI 3) become ``name[i]`` columns."""
    out = []
    for name in array.dtype.names or ():
        column = array[name]
        if column.ndim == 1:
            out.append((name, column))
            continue
        flat = column.reshape(len(column), -1)
        for index in range(flat.shape[1]):
            position = np.unravel_index(index, column.shape[1:])
            out.append((f"{name}[{','.join(str(i + 1) for i in position)}]", flat[:, index]))
    return out


def csv_bytes(array: np.ndarray) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = _flat_columns(array)
    writer.writerow([name for name, _ in columns])
    for row in zip(*(column.tolist() for _, column in columns), strict=True):
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue().encode()


def mat_bytes(array: np.ndarray) -> bytes:
    """The result as a MATLAB MAT-file (level 5): the CSV's columns, each with its own type."""
    return matfile.write_mat(_flat_columns(array))


def table_csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) if value is not None else "" for value in row])
    return buffer.getvalue().encode()


@dataclass(frozen=True)
class StoredResult:
    npy_key: str
    csv_key: str
    sha256: str
    rows: int
    columns: list[str]


def save(key: str, data: bytes) -> str:
    return results_storage().save(key, ContentFile(data))


def store_result(prefix: str, array: np.ndarray, *, with_csv: bool = True) -> StoredResult:
    data = npy_bytes(array)
    npy_key = save(f"{prefix}/result.npy", data)
    csv_key = save(f"{prefix}/result.csv", csv_bytes(array)) if with_csv else ""
    return StoredResult(
        npy_key=npy_key,
        csv_key=csv_key,
        sha256=hashlib.sha256(data).hexdigest(),
        rows=len(array),
        columns=list(array.dtype.names or ()),
    )


def delete_quietly(*keys: str) -> None:
    storage = results_storage()
    for key in keys:
        if key:
            with contextlib.suppress(OSError):
                storage.delete(key)


def load_array(npy_key: str) -> np.ndarray:
    with results_storage().open(npy_key, "rb") as handle:
        return read_npy(handle.read())


# Per variable: final value (a list for an FMI 3 array variable), minimum and maximum.
ColumnStats = dict[str, dict[str, float | list[float | None] | None]]


def column_stats(array: np.ndarray) -> ColumnStats:
    """Final value, minimum and maximum of every recorded variable (not time)."""
    stats: ColumnStats = {}
    for name in (array.dtype.names or ())[1:]:
        column = np.asarray(array[name], dtype=np.float64)
        if column.size == 0:
            stats[name] = {"final": None, "min": None, "max": None}
            continue
        last = column[-1]
        stats[name] = {
            "final": _finite(last) if last.ndim == 0 else [_finite(v) for v in last.ravel()],
            "min": _finite(np.nanmin(column)) if not np.all(np.isnan(column)) else None,
            "max": _finite(np.nanmax(column)) if not np.all(np.isnan(column)) else None,
        }
    return stats


def json_safe(value):
    """Nested lists of numbers with NaN and infinities replaced by None."""
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _finite(value) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def json_columns(array: np.ndarray, names: list[str] | None = None) -> dict[str, list]:
    """Columns as JSON lists; NaN and infinities become null (JSON has no such numbers)."""
    out: dict[str, list] = {}
    for name in names or list(array.dtype.names or ()):
        column = array[name]
        if column.dtype.kind == "f" and not np.all(np.isfinite(column)):
            out[name] = json_safe(column.tolist())
        else:
            out[name] = column.tolist()
    return out


# --- signed links ------------------------------------------------------------------------------


def issue_link(request, *, kind: str, object_id: str, name: str) -> dict[str, str]:
    """A signed, expiring URL for one stored file of a job or batch (``kind`` job|batch).

    The URL is bound to the user it is issued to (like download links): it serves them, with
    their credentials, for ``SIGNED_URL_TTL_SECONDS``, and nobody else. Callers check access
    before issuing it; redeeming it checks access again.
    """
    claims = {"k": kind, "o": object_id, "n": name, "u": request.user.pk}
    token = signing.TimestampSigner(salt=SALT).sign_object(claims)
    ttl = settings.SIGNED_URL_TTL_SECONDS
    return {
        "url": request.build_absolute_uri(reverse("api-result-file", kwargs={"token": token})),
        "expires_at": (timezone.now() + timedelta(seconds=ttl)).isoformat(),
    }


def unsign_link(token: str) -> dict[str, str]:
    try:
        claims = signing.TimestampSigner(salt=SALT).unsign_object(
            token, max_age=settings.SIGNED_URL_TTL_SECONDS
        )
    except signing.SignatureExpired as exc:
        raise LinkExpired() from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise LinkInvalid() from exc
    if not isinstance(claims, dict) or not {"k", "o", "n", "u"} <= set(claims):
        raise LinkInvalid()
    return claims


def redirect_url(key: str) -> str | None:
    """For remote storages, a presigned URL (expires as quickly); None for local files."""
    storage = results_storage()
    return None if isinstance(storage, FileSystemStorage) else storage.url(key)


# --- display decimation ------------------------------------------------------------------------

#: Rows a page asks for to draw a result: a few per pixel of a wide plot.
DISPLAY_POINTS = 2000


def display_rows(array: np.ndarray, names: list[str], max_points: int) -> np.ndarray:
    """Sorted indices of the rows to draw ``names`` of ``array`` with about ``max_points`` rows.

    Every row when there are no more than ``max_points`` (the display is then exact). Otherwise
    the first and the last row and, in each of equal buckets of the rows between them, the rows
    where each column (each element of an array variable) has its minimum and its maximum: the
    envelope survives, so a peak one sample wide still shows. At most ``max_points`` rows, or
    ``2 + 2 * columns`` where the columns alone need more. For display only: never for downloads.
    """
    rows = len(array)
    if rows <= max_points:
        return np.arange(rows)
    columns: list[np.ndarray] = []
    for name in names:
        column = np.asarray(array[name], dtype=np.float64)
        columns.extend(column.reshape(rows, -1).T)
    interior = rows - 2
    per_bucket = 2 * max(len(columns), 1)
    size = -(-interior // max((max_points - 2) // per_bucket, 1))  # rows per bucket (ceil)
    buckets = -(-interior // size)  # the last bucket is partly filled, never empty
    starts = 1 + np.arange(buckets) * size
    chosen = [np.array([0, rows - 1]), *([] if columns else [starts])]
    pad = buckets * size - interior
    for column in columns:
        body = column[1:-1]
        missing = np.isnan(body)
        # NaN never wins; padding never wins over a real row (ties go to the first).
        low = np.concatenate([np.where(missing, np.inf, body), np.full(pad, np.inf)])
        high = np.concatenate([np.where(missing, -np.inf, body), np.full(pad, -np.inf)])
        chosen.append(starts + low.reshape(buckets, size).argmin(axis=1))
        chosen.append(starts + high.reshape(buckets, size).argmax(axis=1))
    return np.unique(np.concatenate(chosen))
