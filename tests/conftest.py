"""Test configuration: Hypothesis profiles and the requirement-ID marker.

Hypothesis profiles (one switch: HYPOTHESIS_PROFILE):
- ci:   derandomized, no deadline, no example database (chosen when CI=true);
- dev:  the default elsewhere: random, no deadline;
- fuzz: randomized, many more examples and steps, with an example database under
        .hypothesis/ (HYPOTHESIS_PROFILE=fuzz pytest).
Every failure ever found becomes an @example or a plain regression test.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = tomllib.loads((ROOT / "specs" / "requirements.toml").read_text("utf-8"))

settings.register_profile("ci", derandomize=True, deadline=None, database=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", deadline=None, max_examples=5_000, stateful_step_count=200,
                          print_blob=True,
                          database=DirectoryBasedExampleDatabase(str(ROOT / ".hypothesis" / "fuzz")),
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
settings.load_profile(PROFILE)


def pytest_report_header(config: pytest.Config) -> str:
    return f"hypothesis profile: {PROFILE}; requirements: {len(REQUIREMENTS)}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unknown: dict[str, list[str]] = {}
    for item in items:
        for mark in item.iter_markers("req"):
            if not mark.args:
                unknown.setdefault("(no ID)", []).append(item.nodeid)
            for rid in mark.args:
                if rid not in REQUIREMENTS:
                    unknown.setdefault(str(rid), []).append(item.nodeid)
    if unknown:
        lines = [f"{rid}: {len(ids)} test(s), e.g. {ids[0]}" for rid, ids in sorted(unknown.items())]
        raise pytest.UsageError("tests name requirement IDs that specs/requirements.toml does "
                                "not define:\n" + "\n".join(lines))
