"""Per-function test selection for mutant runs, from mutmut's stats.

mutmut's stats phase runs the selected test files once with every mutated function traced
and records, per function, the tests that called it and each test's duration. `prune` keeps,
per function, the fastest of those tests up to `budget_s` seconds in total (at least one), so
a surviving mutant of a function every test calls (Controller.step) costs the budget, not the
whole selection. Contract: every function keeps at least one test if it had any; the kept
tests are the fastest ones; the stats file stays in mutmut's format.
"""

from __future__ import annotations

import json
from pathlib import Path


def choose(tests: list[str], durations: dict[str, float], budget_s: float) -> list[str]:
    """The fastest tests of `tests` whose durations sum to at most `budget_s` (one at least)."""
    chosen: list[str] = []
    total = 0.0
    for test in sorted(tests, key=lambda t: (durations.get(t, 0.0), t)):
        cost = durations.get(test, 0.0)
        if chosen and total + cost > budget_s:
            break
        chosen.append(test)
        total += cost
    return chosen


def prune(stats_path: Path, budget_s: float) -> dict[str, list[str]]:
    """Rewrite mutmut's stats file with the pruned selection; return it (function -> tests)."""
    data = json.loads(stats_path.read_text("utf-8"))
    durations = data["duration_by_test"]
    selection = {fn: choose(list(tests), durations, budget_s)
                 for fn, tests in data["tests_by_mangled_function_name"].items()}
    data["tests_by_mangled_function_name"] = selection
    stats_path.write_text(json.dumps(data, indent=1), "utf-8")
    return selection
