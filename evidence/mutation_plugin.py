"""pytest plugin staged into mutant runs by evidence/mutation.py (not used by the suite).

Contracts: within one mutant's run the selected tests run fastest first (durations from
mutmut's stats, so `-x` stops a killed mutant early); the first failing test's node ID is
written to $IONTO_MUTATION_KILLERS/<mutant name>, which the results cache keys a killed
verdict on (evidence/mutation_cache.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    try:
        durations = json.loads(Path("mutmut-stats.json").read_text("utf-8"))["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    folder = os.environ.get("IONTO_MUTATION_KILLERS")
    if report.failed and folder and "__mutmut_" in mutant:
        path = Path(folder) / mutant
        if not path.exists():
            path.write_text(report.nodeid, "utf-8")
