"""Display of a 1,000,000-point result: the decimated results the job page's plot asks for
against the full JSON columns, in one run.

A job's stored result of ``--rows`` rows (time, ``h`` in m, ``v`` in m/s; a one-sample spike in
``h``) is read through the API in this process (Django test client: views, middleware,
serializers, the results storage): ``GET /api/v1/jobs/{id}/results?columns=h,v&max_points=2000``
(what static/js/plot.js fetches) and ``GET /api/v1/jobs/{id}/results?columns=h,v`` (every row),
alternating, ``--repeats`` times each. Checked on every answer: the decimated one has at most
``max_points`` rows and still the spike, the full one every row.

Reported: the median time and the size of both, and the ratios full/decimated (target: the
display is at least 10x faster). Exit status 1 when ``--min-ratio`` is given and the time ratio
is below it. ``--smoke``: 20,000 rows, 3 repeats (seconds; what the suite runs).

Usage: .venv/bin/python bench/bench_plot_display.py [--rows 1000000] [--repeats 5]
    [--max-points 2000] [--min-ratio 0] [--smoke]
(set-up and environment: bench/_execution_harness.py; no worker, no FMU)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _execution_harness as harness

SPIKE = 42.0


@dataclass(frozen=True)
class Figures:
    rows: int
    points: int
    display_ms: float
    full_ms: float
    display_bytes: int
    full_bytes: int

    @property
    def time_ratio(self) -> float:
        return self.full_ms / self.display_ms

    @property
    def size_ratio(self) -> float:
        return self.full_bytes / self.display_bytes


def stored_job(rows: int):
    """A user's finished job holding a ``rows``-row result, as the worker leaves it."""
    import numpy as np

    from accounts.models import User
    from execution import results
    from execution.models import JobStatus, SimulationJob
    from registry.factories import PackageVersionFactory
    from registry.models import Variable

    mark = uuid.uuid4().hex[:8]  # the bench database keeps earlier runs' rows
    user = User.objects.create_user(email=f"bench-{mark}@example.com")
    version = PackageVersionFactory.create(package__owner=user, package__slug=f"bench-{mark}")
    for reference, (name, unit) in enumerate((("h", "m"), ("v", "m/s"))):
        Variable.objects.create(
            version=version, name=name, value_reference=reference, type="Real", unit=unit
        )
    array = np.zeros(rows, dtype=[("time", "f8"), ("h", "f8"), ("v", "f8")])
    array["time"] = np.linspace(0.0, 1000.0, rows)
    array["h"] = np.abs(np.cos(array["time"] / 7.0)) * np.exp(-array["time"] / 400.0)
    array["v"] = np.gradient(array["h"], array["time"])
    array["h"][rows * 7 // 9] = SPIKE
    job = SimulationJob.objects.create(
        owner=user, version=version, sha256=version.sha256, status=JobStatus.SUCCEEDED
    )
    stored = results.store_result(f"bench/{job.pk}", array, with_csv=False)
    SimulationJob.objects.filter(pk=job.pk).update(
        result_npy_key=stored.npy_key,
        result_rows=stored.rows,
        result_columns=stored.columns,
    )
    return user, job


def measure(client, job_id, *, rows: int, repeats: int, max_points: int) -> Figures:
    """Alternate the decimated and the full request; check each answer; medians."""
    display_url = f"/api/v1/jobs/{job_id}/results?columns=h,v&max_points={max_points}"
    full_url = f"/api/v1/jobs/{job_id}/results?columns=h,v"
    times: dict[str, list[float]] = {"display": [], "full": []}
    sizes: dict[str, int] = {}
    points = 0
    for _ in range(repeats):
        for side, url in (("display", display_url), ("full", full_url)):
            started = time.perf_counter()
            response = client.get(url)
            content = response.content  # rendered: what goes on the wire
            times[side].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, content[:500]
            sizes[side] = len(content)
            body = response.json()
            assert body["rows"] == rows, body["rows"]
            if side == "display":
                points = body["points"]
                assert points <= max_points and max(body["columns"]["h"]) == SPIKE
            else:
                assert len(body["columns"]["time"]) == rows and not body["decimated"]
    return Figures(
        rows=rows,
        points=points,
        display_ms=statistics.median(times["display"]),
        full_ms=statistics.median(times["full"]),
        display_bytes=sizes["display"],
        full_bytes=sizes["full"],
    )


def report(figures: Figures) -> str:
    return (
        f"rows {figures.rows:,}: display ({figures.points:,} points) "
        f"{figures.display_ms:8.1f} ms {figures.display_bytes / 1e6:8.2f} MB | "
        f"full {figures.full_ms:8.1f} ms {figures.full_bytes / 1e6:8.2f} MB | "
        f"ratio full/display: time {figures.time_ratio:.1f}x, size {figures.size_ratio:.1f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-points", type=int, default=2000)
    parser.add_argument("--min-ratio", type=float, default=0.0)
    parser.add_argument("--smoke", action="store_true", help="20,000 rows, 3 repeats")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.repeats = 20_000, 3

    harness.configure()
    user, job = stored_job(args.rows)
    client = harness.api_client(user)
    client.get(f"/api/v1/jobs/{job.pk}/results?columns=h&max_points=100")  # warm imports
    figures = measure(
        client, job.pk, rows=args.rows, repeats=args.repeats, max_points=args.max_points
    )
    print(report(figures))
    return 1 if args.min_ratio and figures.time_ratio < args.min_ratio else 0


if __name__ == "__main__":
    sys.exit(main())
