"""Time inspection + scan of every FMU in ../shared/fmus (median of 5 runs each).

Usage: .venv/bin/python bench/bench_inspection.py [--runs 5] [--budget-ms 200]
Exit status 1 when any file is over budget.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fmugateway.testing import shared_fmus_dir  # noqa: E402
from registry.inspection import InspectionError, inspect_fmu  # noqa: E402
from registry.scan import scan_fmu  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--budget-ms", type=float, default=200.0)
    args = parser.parse_args()
    folder = shared_fmus_dir()
    if not folder.is_dir():
        print(f"shared FMUs folder {folder} is absent", file=sys.stderr)
        return 2
    paths = sorted(folder.rglob("*.fmu"))
    over = 0
    print(f"{'file':<88} {'inspect':>8} {'scan':>8} {'total':>8}  verdict  result")
    for path in paths:
        inspect_times: list[float] = []
        scan_times: list[float] = []
        outcome = ""
        for _ in range(args.runs):
            started = time.perf_counter()
            try:
                card = inspect_fmu(path)
            except InspectionError as exc:
                inspect_times.append(time.perf_counter() - started)
                scan_times.append(0.0)
                outcome = f"rejected: {exc.code}"
                continue
            inspect_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            report = scan_fmu(path, card)
            scan_times.append(time.perf_counter() - started)
            outcome = f"ok, risk {report.risk_score} ({report.risk_level})"
        ins = statistics.median(inspect_times) * 1000
        sc = statistics.median(scan_times) * 1000
        total = ins + sc
        ok = total < args.budget_ms
        over += not ok
        name = path.relative_to(folder).as_posix()
        print(
            f"{name:<88} {ins:7.1f}ms {sc:7.1f}ms {total:7.1f}ms  "
            f"{'PASS' if ok else 'FAIL'}     {outcome}"
        )
    print(f"\n{len(paths) - over}/{len(paths)} files under {args.budget_ms:.0f} ms")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
