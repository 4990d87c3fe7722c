"""Overhead of the FMU sandbox versus plain in-process fmpy.

    .venv/bin/python bench/bench_sandbox.py [--rounds N] [--fmus DIR]

For every good FMU in ../shared/fmus: median wall time (as seen by the caller) of
``fmpy.simulate_fmu(path)`` in this process versus ``Sandbox.run`` with a warm zygote and a warm
FMU cache. Target: at most 15 ms added per run, or at most 1.5x plain, whichever is larger.
Also shown: the time per run of ``Sandbox.run_many`` over ``--batch`` runs (one sandbox for
all of them, as a sweep chunk uses it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import fmpy
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fmusandbox import (  # noqa: E402 - after the sys.path tweak for script use
    Sandbox,
    SandboxConfig,
    SandboxLimits,
    SimulationRequest,
    sha256_file,
)

GOOD_FMUS = [
    "Dymola/2020/0004_Atmos/0004_Atmos.fmu",
    "Dymola/2024x/edrive_mass/edrive_mass.fmu",
    "Dymola/2025x/Consumer/Consumer.fmu",
    "Dymola/2016/pump/pump.fmu",
    "20-sim/unknown/MassSpringDamper1/MassSpringDamper1.fmu",
    "20-sim/unknown/Body_Block/Body_Block.fmu",
    "FMUSDK-via-PyFMI/ME1.0/bouncingBall/bouncingBall.fmu",
    "FMUSDK-via-PyFMI/CS1.0/bouncingBall/bouncingBall.fmu",
    "FMUSDK-via-PyFMI/ME2.0/bouncingBall/bouncingBall.fmu",
    "FMUSDK-via-PyFMI/CS2.0/bouncingBall/bouncingBall.fmu",
    "OpenModelica/1.18/0001_addP/0001_addP.fmu",
    "AltairActivate/unknown/sinewave_array/sinewave_array.fmu",
]
TARGET_ADDED_MS = 15.0
TARGET_RATIO = 1.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--fmus", type=Path, default=REPO.parent / "shared" / "fmus")
    parser.add_argument("--batch", type=int, default=10, help="runs per run_many (0: skip)")
    args = parser.parse_args()
    if not args.fmus.is_dir():
        print(f"FMU folder {args.fmus} not found", file=sys.stderr)
        return 2

    limits = SandboxLimits(wall_seconds=60, cpu_seconds=60)
    rows = []
    with Sandbox(SandboxConfig()) as sandbox:
        print(f"isolated: {sandbox.isolated}; rounds: {args.rounds}\n")
        for relative in GOOD_FMUS:
            path = args.fmus / relative
            if not path.is_file():
                print(f"skip (missing): {relative}")
                continue
            request = SimulationRequest(path, sha256=sha256_file(path))
            plain_result = np.asarray(fmpy.simulate_fmu(str(path)))  # warm both paths once
            warm = sandbox.run(request, limits)
            if not warm.succeeded:
                print(f"FAIL {relative}: {warm.code} {warm.message}")
                rows.append((relative, float("nan"), float("nan"), False, False, float("nan")))
                continue
            same = warm.result is not None and warm.result.tobytes() == plain_result.tobytes()
            plain_times, sandbox_times, batch_times = [], [], []
            batch = [request] * args.batch
            many = getattr(sandbox, "run_many", None)
            for _ in range(args.rounds):  # interleaved, so drift hits both sides alike
                started = time.perf_counter()
                fmpy.simulate_fmu(str(path))
                plain_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                result = sandbox.run(request, limits)
                sandbox_times.append(time.perf_counter() - started)
                assert result.succeeded, result.message
                if many is not None and batch:
                    started = time.perf_counter()
                    results = many(batch, limits)
                    batch_times.append((time.perf_counter() - started) / len(batch))
                    assert all(r.result.tobytes() == plain_result.tobytes() for r in results)
            plain_ms = statistics.median(plain_times) * 1000
            sandbox_ms = statistics.median(sandbox_times) * 1000
            batch_ms = statistics.median(batch_times) * 1000 if batch_times else float("nan")
            ok = sandbox_ms - plain_ms <= TARGET_ADDED_MS or sandbox_ms <= TARGET_RATIO * plain_ms
            rows.append((relative, plain_ms, sandbox_ms, ok, same, batch_ms))

    name_width = max(len(r[0]) for r in rows) if rows else 10
    header = (
        f"{'FMU':<{name_width}}  {'plain ms':>9}  {'sandbox ms':>10}  {'added ms':>8}  "
        f"{'ratio':>5}  {'same result':>11}  verdict  {'batch ms/run':>12}"
    )
    print(header)
    print("-" * len(header))
    for relative, plain_ms, sandbox_ms, ok, same, batch_ms in rows:
        print(
            f"{relative:<{name_width}}  {plain_ms:9.1f}  {sandbox_ms:10.1f}  "
            f"{sandbox_ms - plain_ms:8.1f}  {sandbox_ms / plain_ms:5.2f}  "
            f"{'bit-for-bit' if same else 'DIFFERENT':>11}  {'OK  ' if ok else 'SLOW'}     "
            f"{batch_ms:12.1f}"
        )
    print(
        f"\nmedian over FMUs: plain {statistics.median(r[1] for r in rows):.1f} ms, "
        f"sandbox {statistics.median(r[2] for r in rows):.1f} ms, "
        f"added {statistics.median(r[2] - r[1] for r in rows):.1f} ms, "
        f"run_many {statistics.median(r[5] for r in rows):.1f} ms/run"
    )
    all_ok = bool(rows) and all(r[3] for r in rows)
    print(
        f"\ntarget: <= {TARGET_ADDED_MS:g} ms added or <= {TARGET_RATIO:g}x plain -> "
        f"{'MET for every FMU' if all_ok else 'NOT MET'}"
    )
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
