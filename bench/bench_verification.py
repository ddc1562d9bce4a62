"""Benchmark the verification machinery: Hypothesis stateful steps per second on the real
controller, and model-check states per second. Run from the repository root:

    python bench/bench_verification.py            # prints a table; --json for one line

Targets (issue 5): at least 5,000 stateful steps/s on this machine. A step here is one
call into the controller made by the stateful test (a tick or a request), counted by wrapping
Controller.step and the request path; the counting adds a little overhead. The wall time of the whole evidence run is
printed by `python evidence/build.py` itself (target under 15 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

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


def bench_model_check(depth: int) -> dict[str, float]:
    r = model_check.explore(depth)
    return {"depth": depth, "states": r.states, "transitions": r.transitions,
            "seconds": round(r.seconds, 2), "states_per_s": round(r.states / r.seconds),
            "transitions_per_s": round(r.transitions / r.seconds)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--examples", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    args = ap.parse_args()
    res = {"stateful": bench_stateful(args.examples), "model_check": bench_model_check(args.depth)}
    if args.json:
        print(json.dumps(res))
        return
    s, m = res["stateful"], res["model_check"]
    print(f"Hypothesis stateful test: {s['steps']} controller steps in {s['seconds']} s = "
          f"{s['steps_per_s']} steps/s (target >= 5000), {s['examples']} examples")
    print(f"model checking (depth {m['depth']}): {m['states']} states, {m['transitions']} "
          f"transitions in {m['seconds']} s = {m['states_per_s']} states/s, "
          f"{m['transitions_per_s']} transitions/s")


if __name__ == "__main__":
    main()
