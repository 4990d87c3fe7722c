"""End-to-end latency of one small simulation job against the plain simulation, in one run.

Measured: ``POST /api/v1/jobs`` (with an ``Idempotency-Key``, as the SDK sends one) until
``GET /api/v1/jobs/{id}/results`` returns the columns, for the mass-spring-damper sample FMU.
In between the client long-polls ``GET /api/v1/jobs/{id}?wait=30`` as the SDK's
``Job.wait()`` does: the answer comes when the worker announces the end of the job (Redis
pub/sub). The API runs in this process through the Django test client (views, middleware,
services, PostgreSQL, credits reserved and settled); the job runs in a real Celery worker
process (prefork, 2 processes, Redis broker) in the FMU sandbox. Baseline, same run: plain
in-process ``fmpy.simulate_fmu`` of the same FMU with the same settings, alternating with the
end-to-end runs.

Reported: p50/p90 of both, the overhead (e2e p50 - plain p50; target <= 100 ms), and the ratio
plain/e2e. Exit status 1 when ``--max-overhead-ms`` is given and exceeded.

Usage: .venv/bin/python bench/bench_e2e.py [--runs 40] [--max-overhead-ms 0]
(set-up and environment: bench/_execution_harness.py)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _execution_harness as harness

SETTINGS = {"stop_time": 1.0, "timeout_seconds": 10}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=6)
    parser.add_argument("--max-overhead-ms", type=float, default=0.0)
    args = parser.parse_args()

    harness.configure()
    import fmpy

    from execution.services.job_settings import validate_settings

    fmu = harness.sample_fmu()
    user, version = harness.bench_user_and_version(fmu)
    client = harness.api_client(user)
    effective = validate_settings(version, SETTINGS, user=user)

    plain: list[float] = []
    e2e: list[float] = []
    with harness.celery_worker():
        # Plain and end-to-end runs alternate, so both see the same load on the machine.
        for index in range(args.warmup + args.runs):
            started = time.perf_counter()
            fmpy.simulate_fmu(str(fmu), **effective.fmpy_kwargs())
            plain_s = time.perf_counter() - started

            started = time.perf_counter()
            response = client.post(
                "/api/v1/jobs",
                {"version_id": version.pk, **SETTINGS},
                format="json",
                headers={"Idempotency-Key": uuid.uuid4().hex},  # as the SDK sends one
            )
            assert response.status_code == 201, response.content
            job_id = response.json()["id"]
            while True:
                job = client.get(f"/api/v1/jobs/{job_id}", {"wait": 30}).json()
                if job["status"] not in ("queued", "running"):
                    break
            assert job["status"] == "succeeded", job
            body = client.get(f"/api/v1/jobs/{job_id}/results").json()
            assert body["rows"] > 0
            if index >= args.warmup:
                e2e.append(time.perf_counter() - started)
                plain.append(plain_s)

    p50_plain, p50_e2e = statistics.median(plain), statistics.median(e2e)
    overhead_ms = (p50_e2e - p50_plain) * 1000
    print(f"runs: {args.runs} (+{args.warmup} warm-up), FMU: {fmu.name}, settings: {SETTINGS}")
    print(
        f"plain fmpy in-process   p50 {p50_plain * 1000:7.1f} ms   "
        f"p90 {harness.percentile(plain, 90) * 1000:7.1f} ms"
    )
    print(
        f"POST /jobs -> results   p50 {p50_e2e * 1000:7.1f} ms   "
        f"p90 {harness.percentile(e2e, 90) * 1000:7.1f} ms"
    )
    print(f"overhead (p50 e2e - p50 plain): {overhead_ms:.1f} ms (target <= 100 ms)")
    print(f"ratio plain/e2e (p50): {p50_plain / p50_e2e:.3f}")
    print("load average: " + " ".join(f"{value:.2f}" for value in os.getloadavg()))
    if args.max_overhead_ms and overhead_ms > args.max_overhead_ms:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
