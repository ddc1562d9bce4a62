"""Benchmark the verification machinery: Hypothesis stateful steps per second on the real
controller, and model-check states per second. Run from the repository root:

    python bench/bench_verification.py            # prints a table; --json for one line

Targets (issue 5): at least 5,000 stateful steps/s on this machine. Issue 11: model
checking with the fast clone at least 10x the states/s of the pickled clone (both run
side by side here, --seconds each on the full and on the session alphabet), and the
session alphabet exhausted to depth 12 in under a minute. A step here is one
call into the controller made by the stateful test (a tick or a request), counted by wrapping
Controller.step and the request path; the counting adds a little overhead. The wall time of the whole evidence run is
printed by `python evidence/build.py` itself (target under 15 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "support")]

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.stateful import run_state_machine_as_test  # noqa: E402

import model_check  # noqa: E402
import stateful_model  # noqa: E402
from iontocore import controller as controller_mod  # noqa: E402


def bench_stateful(examples: int) -> dict[str, float]:
    calls = {"steps": 0}
    real_step = controller_mod.Controller.step
    real_request = controller_mod.Controller._request

    def counting_step(self: controller_mod.Controller, sample: object) -> object:
        calls["steps"] += 1
        return real_step(self, sample)  # type: ignore[arg-type]

    def counting_request(self: controller_mod.Controller, fn: object) -> object:
        calls["steps"] += 1
        return real_request(self, fn)  # type: ignore[arg-type]

    controller_mod.Controller.step = counting_step  # type: ignore[method-assign,assignment]
    controller_mod.Controller._request = counting_request  # type: ignore[method-assign,assignment]
    try:
        start = time.perf_counter()
        run_state_machine_as_test(stateful_model.ControllerMachine, settings=settings(
            max_examples=examples, derandomize=True, database=None, deadline=None,
            suppress_health_check=list(HealthCheck)))
        seconds = time.perf_counter() - start
    finally:
        controller_mod.Controller.step = real_step  # type: ignore[method-assign]
        controller_mod.Controller._request = real_request  # type: ignore[method-assign]
    return {"examples": examples, "seconds": round(seconds, 2), "steps": calls["steps"],
            "steps_per_s": round(calls["steps"] / seconds)}


def bench_model_check(seconds: float, session_depth: int) -> dict[str, object]:
    """Model checking with the former clone (pickle) and the fast clone, side by side in
    this run: on each alphabet, as deep as `seconds` allow (states/s, transitions/s, the
    depth every state of which was found); then the time to exhaust the session alphabet
    to `session_depth`."""
    out: dict[str, object] = {}
    for alphabet_name, alphabet in (("full", model_check.ALPHABET),
                                    ("session", model_check.SESSION)):
        for clone_name, cloner in (("pickle", model_check.clone_by_pickle),
                                   ("fast", model_check.clone_fast)):
            gc.collect()
            r = model_check.explore(99, alphabet, 10**9, seconds=seconds, cloner=cloner)
            assert r.counterexample is None, (r.counterexample, r.violation)
            out[f"{alphabet_name}_{clone_name}"] = {
                "states": r.states, "transitions": r.transitions, "seconds": round(r.seconds, 1),
                "states_per_s": round(r.states / r.seconds),
                "transitions_per_s": round(r.transitions / r.seconds),
                "complete_depth": r.complete_depth, "max_depth": r.max_depth}
        new, old = out[f"{alphabet_name}_fast"], out[f"{alphabet_name}_pickle"]
        out[f"{alphabet_name}_ratio"] = round(new["states_per_s"] / old["states_per_s"], 1)  # type: ignore[index]
    for clone_name, cloner in (("pickle", model_check.clone_by_pickle),
                               ("fast", model_check.clone_fast)):
        gc.collect()
        r = model_check.explore(session_depth, model_check.SESSION, 10**9, cloner=cloner)
        assert r.exhausted and r.counterexample is None
        out[f"session_depth_{session_depth}_{clone_name}"] = {
            "states": r.states, "seconds": round(r.seconds, 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--examples", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="time per model-checking run (4 runs)")
    ap.add_argument("--session-depth", type=int, default=12)
    ap.add_argument("--no-stateful", action="store_true")
    args = ap.parse_args()
    res: dict[str, Any] = {}
    if not args.no_stateful:
        res["stateful"] = bench_stateful(args.examples)
    res["model_check"] = bench_model_check(args.seconds, args.session_depth)
    if args.json:
        print(json.dumps(res))
        return
    if "stateful" in res:
        s = res["stateful"]
        print(f"Hypothesis stateful test: {s['steps']} controller steps in {s['seconds']} s = "
              f"{s['steps_per_s']} steps/s (target >= 5000), {s['examples']} examples")
    m = res["model_check"]
    print(f"model checking, {args.seconds:g} s per run, pickled clone vs fast clone, same run:")
    print(f"  {'alphabet':9} {'clone':7} {'states':>8} {'transitions':>11} {'states/s':>9} "
          f"{'trans/s':>8} {'depth':>6} {'max':>4}")
    for a in ("full", "session"):
        for c in ("pickle", "fast"):
            r = m[f"{a}_{c}"]
            print(f"  {a:9} {c:7} {r['states']:8} {r['transitions']:11} {r['states_per_s']:9} "
                  f"{r['transitions_per_s']:8} {r['complete_depth']:6} {r['max_depth']:4}")
        print(f"  {a:9} ratio {m[f'{a}_ratio']}x states/s (target >= 10x)")
    d = args.session_depth
    for c in ("pickle", "fast"):
        r = m[f"session_depth_{d}_{c}"]
        print(f"session alphabet exhausted to depth {d} with the {c} clone: {r['states']} states "
              f"in {r['seconds']} s" + (" (target < 60 s)" if c == "fast" else ""))
    print("  depth: every state within that many inputs found and checked; max: deepest state "
          "seen")


if __name__ == "__main__":
    main()
