"""Sweep throughput: 1,000 runs of a small FMU as one batch vs plain fmpy in 2 processes.

Batch: ``POST /api/v1/batches`` with a 1,000-point grid over the mass-spring-damper's
stiffness ``k``, until ``GET /api/v1/batches/{id}`` reports it finished (summary written,
credits settled). The API runs in this process (Django test client); the runs execute in a
real Celery worker (prefork, 2 processes, Redis) in the FMU sandbox, ``SWEEP_CHUNK_SIZE`` runs
per task. Baseline, same run: plain ``fmpy.simulate_fmu`` over the same 1,000 start values in a
``multiprocessing.Pool(2)`` (each call extracts the FMU, as plain fmpy does with a file).

The two sides are measured in alternating rounds (``--rounds``, default 3) and the ratio of
each round compares neighbours in time; the median is reported. Both worker processes are
warmed first (a two-chunk batch), as a worker in service is. ``--ceilings`` also times the
sandbox alone in 2 processes (no Django, Celery or database): one ``Sandbox.run`` per run, and
``Sandbox.run_many`` over chunks of ``SWEEP_CHUNK_SIZE`` runs.

Reported: wall times, runs/s and the ratio plain/batch of each round with the load average,
and the median ratio (target >= 0.5). Exit status 1 when ``--min-ratio`` is given and the
median is below it.

Usage: .venv/bin/python bench/bench_sweep.py [--runs 1000] [--rounds 3] [--ceilings] [--min-ratio 0]
(set-up and environment: bench/_execution_harness.py)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
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
    from fmusandbox import SandboxConfig, SimulationRequest, get_sandbox, sha256_file

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
    from fmusandbox import SandboxConfig, SimulationRequest, get_sandbox, sha256_file

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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-ratio", type=float, default=0.0)
    parser.add_argument(
        "--ceilings", action="store_true", help="also time the sandbox alone (no Django/Celery)"
    )
    args = parser.parse_args()

    harness.configure()
    from django.conf import settings

    fmu = harness.sample_fmu()
    user, version = harness.bench_user_and_version(fmu)
    client = harness.api_client(user)
    values = [1.0 + index / 100 for index in range(args.runs)]
    chunk = settings.SWEEP_CHUNK_SIZE
    print(f"runs: {args.runs} of {fmu.name} (stop_time {STOP_TIME}), 2 processes each side")

    def plain_round(pool) -> float:
        started = time.perf_counter()
        rows = pool.map(_plain_run, [(str(fmu), k) for k in values], chunksize=10)
        elapsed = time.perf_counter() - started
        assert all(rows)
        return elapsed

    def batch_round() -> float:
        started = time.perf_counter()
        response = client.post(
            "/api/v1/batches",
            {"version_id": version.pk, "stop_time": STOP_TIME, "grid": {"k": values}},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = _wait(client, response.json()["id"])
        elapsed = time.perf_counter() - started
        assert body["runs_succeeded"] == args.runs, body
        return elapsed

    ratios = []
    with (
        multiprocessing.get_context("spawn").Pool(2) as pool,
        harness.celery_worker(),
    ):
        pool.map(_plain_run, [(str(fmu), 1.0)] * 4)  # import fmpy in both processes first
        # Two chunks, so that both worker processes have their sandbox and FMU cache warm.
        warm = client.post(
            "/api/v1/batches",
            {"version_id": version.pk, "stop_time": STOP_TIME, "grid": {"k": values[: 2 * chunk]}},
            format="json",
        ).json()["id"]
        _wait(client, warm)
        # Rounds alternate which side goes first and each ratio compares neighbours in time:
        # the machine's load (other users of these 2 cores) drifts between minutes, and a
        # ratio of two measurements taken minutes apart measured that drift as much as us.
        for index in range(args.rounds):
            order = ("plain", "batch") if index % 2 == 0 else ("batch", "plain")
            times = {}
            for side in order:
                times[side] = plain_round(pool) if side == "plain" else batch_round()
            ratio = times["plain"] / times["batch"]
            ratios.append(ratio)
            plain_s, batch_s = times["plain"], times["batch"]
            print(
                f"round {index + 1}: plain {plain_s:6.2f} s ({args.runs / plain_s:6.1f} runs/s), "
                f"batch (chunks of {chunk}) {batch_s:6.2f} s ({args.runs / batch_s:6.1f} runs/s), "
                f"ratio {ratio:.3f}, load {_load()}"
            )

    if args.ceilings:
        _ceilings(fmu, values, chunk)
    ratio = statistics.median(ratios)
    print(
        f"ratio plain/batch: median {ratio:.3f} of {len(ratios)} rounds "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}; target >= 0.5)"
    )
    return 1 if args.min_ratio and ratio < args.min_ratio else 0


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _ceilings(fmu, values: list[float], chunk: int) -> None:
    """The sandbox alone in 2 processes: a fresh sandbox per run, and run_many per chunk."""
    halves = [values[0::2], values[1::2]]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_sandbox_runs, [(str(fmu), [1.0, 2.0])] * 2)  # start both zygotes
        started = time.perf_counter()
        done = sum(pool.map(_sandbox_runs, [(str(fmu), half) for half in halves], chunksize=1))
        single_s = time.perf_counter() - started
    assert done == len(values)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_sandbox_many, [(str(fmu), [1.0, 2.0], chunk)] * 2)
        started = time.perf_counter()
        done = sum(pool.map(_sandbox_many, [(str(fmu), h, chunk) for h in halves], chunksize=1))
        many_s = time.perf_counter() - started
    assert done == len(values)
    print(f"sandbox only, a sandbox per run   {single_s:7.2f} s   load {_load()}")
    print(f"sandbox only, run_many({chunk:>3})      {many_s:7.2f} s   load {_load()}")


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
