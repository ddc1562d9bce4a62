"""Fuzzing rates on this machine: test cases per second per core for each fuzz target, and
how the rate scales from 1 to 2 workers (measured side by side in this one run).

    .venv/bin/python bench/bench_fuzz.py [--cases 300] [--seconds 3] [--window 30] [--runs 40000]

HypoFuzz targets (the campaign's, fuzz.campaign.TARGETS): each target's rate in one process
(HypoFuzz's own FuzzTarget.run_one, the campaign's loop without the bookkeeping), after
collection and a short warm-up. Scaling: 1 then 2 worker processes, each taking every target
in turn (up to 25 cases or 0.5 s each) for --window seconds after all have collected (a
barrier); the rate is all cases over the slowest worker's time. atheris: each byte-level
target for --runs executions (libFuzzer's final stats), then two processes at once. Prints numbers only; the
machine is shared, so a number is as good as the load beside it (printed first).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _targets(directory: str) -> list[Any]:
    os.environ.update(HYPOTHESIS_PROFILE="campaign", IONTO_CAMPAIGN_DIR=directory)
    os.environ.pop("IONTO_EVIDENCE_JSON", None)
    from fuzz.campaign import TARGETS, _compat, _rekey
    from hypofuzz import detection
    from hypofuzz.collection import collect_tests

    detection._in_hypofuzz_run = True
    _compat()
    targets = collect_tests(["-p", "no:cacheprovider", "-q", *TARGETS]).fuzz_targets
    for target in targets:
        _rekey(target)
    return targets


def _run(target: Any, cases: int, seconds: float) -> tuple[int, float]:
    """Up to `cases` test cases or `seconds`, whichever comes first: (cases, seconds)."""
    start, done = time.perf_counter(), 0
    while done < cases and time.perf_counter() - start < seconds:
        target.run_one()
        done += 1
    return done, time.perf_counter() - start


def _rate(target: Any, cases: int, seconds: float) -> tuple[float, int]:
    target._enter_fixtures()
    try:
        _run(target, 10, seconds / 4)  # warm-up: the provider's first inputs are replays
        done, took = _run(target, cases, seconds)
        return done / took, done
    finally:
        target._exit_fixtures()


SLOW = {"tests/test_stateful.py::TestControllerMachine::runTest",
        "tests/test_trend.py::test_a_fall_slower_than_the_window_allows_never_acts"}
"""Targets that take seconds per case under HypoFuzz's tracer: one case would outlast a
worker's slice and the window, and measure that target's luck instead of the scaling."""


def _scaling_worker(directory: str, seconds: float, barrier: Any, out: Any) -> None:
    targets = [t for t in _targets(directory) if t.nodeid not in SLOW]
    barrier.wait()
    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        for target in targets:  # a slice of each: up to 25 cases or 0.5 s
            target._enter_fixtures()
            done += _run(target, 25, min(0.5, seconds - (time.perf_counter() - start)))[0]
            target._exit_fixtures()
    out.put((done, time.perf_counter() - start))


def _scaling(seconds: float, workers: int) -> float:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    with tempfile.TemporaryDirectory() as directory:
        procs = [ctx.Process(target=_scaling_worker, args=(directory, seconds, barrier, out))
                 for _ in range(workers)]
        for p in procs:
            p.start()
        results = [out.get(timeout=900) for _ in procs]
        for p in procs:
            p.join()
    return sum(n for n, _ in results) / max(s for _, s in results)


def _atheris(target: str, runs: int, parallel: int) -> float:
    cmd = [sys.executable, "-m", "fuzz.bytelevel", target, "--runs", str(runs), "--",
           "-print_final_stats=1"]
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "HOME": scratch}
        procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(parallel)]
        rates = []
        for p in procs:
            _, err = p.communicate(timeout=900)
            found = re.search(r"stat::average_exec_per_sec:\s+(\d+)", err)
            rates.append(float(found.group(1)) if found else float("nan"))
    return sum(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=300,
                        help="HypoFuzz cases per target, at most (default 300)")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="HypoFuzz seconds per target, at most (default 3)")
    parser.add_argument("--window", type=float, default=30.0,
                        help="seconds of each scaling measurement (default 30)")
    parser.add_argument("--only", choices=["targets", "scaling", "atheris"], default=None,
                        help="one part of the bench only")
    parser.add_argument("--runs", type=int, default=40_000,
                        help="atheris runs of the decoder (the record reader: a tenth)")
    args = parser.parse_args()
    print(f"cores available: {len(os.sched_getaffinity(0))}; load average: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if args.only in (None, "targets"):
        _per_target(args)
    if args.only in (None, "scaling"):
        _scaling_report(args)
    if args.only in (None, "atheris"):
        _atheris_report(args)


def _per_target(args: argparse.Namespace) -> None:
    print(f"\nHypoFuzz, one process, up to {args.cases} cases or {args.seconds} s per target "
          "(cases/s per core, cases measured):")
    with tempfile.TemporaryDirectory() as directory:
        for target in _targets(directory):
            try:
                rate, n = _rate(target, args.cases, args.seconds)
            except Exception as exc:  # noqa: BLE001 - a bench reports, it does not stop
                print(f"  {target.nodeid}: not measured ({type(exc).__name__})")
                continue
            note = " (failed: see its test)" if target.has_found_failure else ""
            print(f"  {rate:10,.1f} {n:5d}  {target.nodeid}{note}")


def _scaling_report(args: argparse.Namespace) -> None:
    one = _scaling(args.window, 1)
    two = _scaling(args.window, 2)
    print(f"\nHypoFuzz, every target but {len(SLOW)} slow ones in turn, {args.window:.0f} s per "
          "configuration:")
    print(f"  1 worker : {one:8,.0f} cases/s")
    print(f"  2 workers: {two:8,.0f} cases/s  (scaling 1 -> 2: x{two / one:.2f})")


def _atheris_report(args: argparse.Namespace) -> None:
    print("\natheris (execs/s, libFuzzer's final stats):")
    for target, runs in (("decoder", args.runs), ("record", args.runs // 10)):
        a, b = _atheris(target, runs, 1), _atheris(target, runs, 2)
        print(f"  {target:8s} 1 process: {a:8,.0f}/s   2 processes: {b:8,.0f}/s  "
              f"(scaling x{b / a:.2f})")


if __name__ == "__main__":
    main()
