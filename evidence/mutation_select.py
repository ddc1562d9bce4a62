"""Per-function test selection for mutant runs, from mutmut's stats.

mutmut's stats phase runs the selected test files once with every mutated function traced
and records, per function, the tests that called it and each test's duration. `prune` keeps,
per function, up to `budget_s` seconds of those tests (at least one): first the tests of the
files that *own* the function's module (`tests/test_<module>.py` and the files named for it
in evidence/mutation.toml, [selection.owners]), fastest first, then the fastest of the
others. A function nearly every test calls (Persistence.update, Controller.step) is reached
by hundreds of quick scenario tests; without the owners first the budget filled with those
and the tests written to check the function (test_persistence.py) were left out.
Besides the budget, every test of the *targeted* files ([selection] targeted: quick files of
tests written against particular rules and mutants, whatever module they own) that calls the
function is kept: owner-first still left out the controller's edge tests that kill mutants
of Supervisor.observe, because supervision's own owners filled its budget.
Contract: every function keeps at least one test if it had any; every targeted test that
called it is kept; of the rest, owners' tests come before any other and within each group
the kept tests are the fastest, within the budget; the stats file stays in mutmut's format.
"""

from __future__ import annotations

import json
from collections.abc import Set
from pathlib import Path


def module_of(function: str) -> str:
    """The core module of a mutmut mangled name: `iontocore.controller.xǁControllerǁstep`
    -> `controller`."""
    parts = function.split(".")
    return parts[1] if len(parts) > 2 else ""


def owned(test: str, files: Set[str]) -> bool:
    return test.split("::", 1)[0] in files


def choose(tests: list[str], durations: dict[str, float], budget_s: float,
           owners: Set[str] = frozenset(), targeted: Set[str] = frozenset()) -> list[str]:
    """Every test of `tests` in the `targeted` files, then others whose durations sum to at
    most `budget_s` (one at least): those in the `owners` files first, fastest first, then
    the fastest others."""
    chosen = sorted((t for t in tests if owned(t, targeted)),
                    key=lambda t: (durations.get(t, 0.0), t))
    total = 0.0
    order = sorted((t for t in tests if not owned(t, targeted)),
                   key=lambda t: (not owned(t, owners), durations.get(t, 0.0), t))
    for test in order:
        cost = durations.get(test, 0.0)
        if chosen and total + cost > budget_s:
            continue  # a slow owner test must not shut out the quick others
        chosen.append(test)
        total += cost
    return chosen


def owners_of(function: str, table: dict[str, list[str]]) -> set[str]:
    module = module_of(function)
    return {f"tests/test_{module}.py", *table.get(module, [])}


def prune(stats_path: Path, budget_s: float,
          table: dict[str, list[str]] | None = None,
          targeted: Set[str] = frozenset()) -> dict[str, list[str]]:
    """Rewrite mutmut's stats file with the pruned selection; return it (function -> tests).
    `table`: module -> the test files that own it, besides tests/test_<module>.py;
    `targeted`: the files whose every calling test is kept."""
    data = json.loads(stats_path.read_text("utf-8"))
    durations = data["duration_by_test"]
    selection = {fn: choose(list(tests), durations, budget_s, owners_of(fn, table or {}),
                            targeted)
                 for fn, tests in data["tests_by_mangled_function_name"].items()}
    data["tests_by_mangled_function_name"] = selection
    stats_path.write_text(json.dumps(data, indent=1), "utf-8")
    return selection
