"""Sweep throughput: 1,000 runs of a small FMU as one batch vs plain fmpy in 2 processes.

Batch: ``POST /api/v1/batches`` with a 1,000-point grid over the mass-spring-damper's
stiffness ``k``, until ``GET /api/v1/batches/{id}`` reports it finished (summary written,
credits settled). The API runs in this process (Django test client); the runs execute in a
real Celery worker (prefork, 2 processes, Redis) in the FMU sandbox, ``SWEEP_CHUNK_SIZE`` runs
per task. Baseline, same run: plain ``fmpy.simulate_fmu`` over the same 1,000 start values in a
``multiprocessing.Pool(2)`` (each call extracts the FMU, as plain fmpy does with a file).

Also measured, same run: the sandbox alone in 2 processes, no Django, Celery or database:
one ``Sandbox.run`` per run (a fresh sandbox each), and ``Sandbox.run_many`` over chunks of
``SWEEP_CHUNK_SIZE`` runs (what a batch chunk uses): the ceilings of the batch path.

Reported: the wall times, runs/s, and the ratio plain/batch (target >= 0.5). Exit status 1
when ``--min-ratio`` is given and not reached.

Usage: .venv/bin/python bench/bench_sweep.py [--runs 1000] [--min-ratio 0]
(set-up and environment: bench/_execution_harness.py)
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _execution_harness as harness

STOP_TIME = 1.0


def _plain_run(args: tuple[str, float]) -> int:
    import fmpy

    path, k = args
    return len(fmpy.simulate_fmu(path, stop_time=STOP_TIME, start_values={"k": k}))


def _sandbox_runs(args: tuple[str, list[float]]) -> int:
    """The sandbox alone (no Django, Celery or database): the ceiling of the batch path."""
    sys.path.insert(0, str(harness.REPO))
    from execution.sandbox import SandboxConfig, SimulationRequest, get_sandbox, sha256_file

    path, values = args
    sandbox = get_sandbox(SandboxConfig())
    sha = sha256_file(path)
    done = 0
    for k in values:
        result = sandbox.run(
            SimulationRequest(fmu_path=path, sha256=sha, stop_time=STOP_TIME, start_values={"k": k})
        )
        done += result.succeeded
    return done


def _sandbox_many(args: tuple[str, list[float], int]) -> int:
    """The sandbox alone with ``run_many`` over chunks: the ceiling of the batch path."""
    sys.path.insert(0, str(harness.REPO))
    from execution.sandbox import SandboxConfig, SimulationRequest, get_sandbox, sha256_file

    path, values, chunk = args
    sandbox = get_sandbox(SandboxConfig())
    sha = sha256_file(path)
    done = 0
    for start in range(0, len(values), chunk):
        requests = [
            SimulationRequest(fmu_path=path, sha256=sha, stop_time=STOP_TIME, start_values={"k": k})
            for k in values[start : start + chunk]
        ]
        done += sum(result.succeeded for result in sandbox.run_many(requests))
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--min-ratio", type=float, default=0.0)
    args = parser.parse_args()

    harness.configure()
    from django.conf import settings

    fmu = harness.sample_fmu()
    user, version = harness.bench_user_and_version(fmu)
    client = harness.api_client(user)
    values = [1.0 + index / 100 for index in range(args.runs)]

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_plain_run, [(str(fmu), 1.0)] * 4)  # import fmpy in both processes first
        started = time.perf_counter()
        rows = pool.map(_plain_run, [(str(fmu), k) for k in values], chunksize=10)
        plain_s = time.perf_counter() - started
    assert all(rows)

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_sandbox_runs, [(str(fmu), [1.0, 2.0])] * 2)  # start both zygotes
        started = time.perf_counter()
        halves = [values[0::2], values[1::2]]
        done = sum(pool.map(_sandbox_runs, [(str(fmu), half) for half in halves], chunksize=1))
        sandbox_s = time.perf_counter() - started
    assert done == len(values)

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        chunk = settings.SWEEP_CHUNK_SIZE
        pool.map(_sandbox_many, [(str(fmu), [1.0, 2.0], chunk)] * 2)  # start both zygotes
        started = time.perf_counter()
        halves = [values[0::2], values[1::2]]
        done = sum(pool.map(_sandbox_many, [(str(fmu), h, chunk) for h in halves], chunksize=1))
        many_s = time.perf_counter() - started
    assert done == len(values)

    with harness.celery_worker():
        warm = client.post(
            "/api/v1/batches",
            {"version_id": version.pk, "stop_time": STOP_TIME, "grid": {"k": [1.0, 2.0]}},
            format="json",
        ).json()["id"]
        _wait(client, warm)
        started = time.perf_counter()
        response = client.post(
            "/api/v1/batches",
            {"version_id": version.pk, "stop_time": STOP_TIME, "grid": {"k": values}},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = _wait(client, response.json()["id"])
        batch_s = time.perf_counter() - started
    assert body["runs_succeeded"] == args.runs, body

    print(f"runs: {args.runs} of {fmu.name} (stop_time {STOP_TIME}), 2 processes each side")
    print(f"plain fmpy, Pool(2)          {plain_s:7.2f} s   {args.runs / plain_s:7.1f} runs/s")
    print(
        f"batch (chunks of {settings.SWEEP_CHUNK_SIZE:>3})      {batch_s:7.2f} s   "
        f"{args.runs / batch_s:7.1f} runs/s"
    )
    print(f"sandbox only, 2 processes    {sandbox_s:7.2f} s   {args.runs / sandbox_s:7.1f} runs/s")
    print(
        f"sandbox run_many({settings.SWEEP_CHUNK_SIZE:>3}), 2 pr {many_s:7.2f} s   "
        f"{args.runs / many_s:7.1f} runs/s"
    )
    ratio = plain_s / batch_s
    print(f"ceiling plain/sandbox-only: {plain_s / sandbox_s:.3f}")
    print(f"ceiling plain/run_many:     {plain_s / many_s:.3f}")
    print(f"ratio plain/batch: {ratio:.3f} (target >= 0.5)")
    return 1 if args.min_ratio and ratio < args.min_ratio else 0


def _wait(client, batch_id: str, timeout: float = 600.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/batches/{batch_id}").json()
        if body["status"] not in ("queued", "running"):
            return body
        time.sleep(0.05)
    raise TimeoutError(f"batch {batch_id} did not finish")


if __name__ == "__main__":
    sys.exit(main())
