"""The fuzz campaign's example database, and its replay by the ordinary test run.

A campaign (`python -m fuzz.campaign`, HypoFuzz) saves what it finds as Hypothesis examples
in CAMPAIGN_DIR/db: a shrunk failure is stored under the failing test's own database key,
where Hypothesis's reuse phase looks first. Every Hypothesis test the suite collects
replays that database read-only (nothing is ever written to it by a test run), so a
failure found overnight fails the next `pytest` with its minimal example.

The `ci` profile is derandomized, and Hypothesis refuses `derandomize=True` together with a
database (InvalidArgument). So `replaying()` gives a collected test the settings
`derandomize=False, database=ReadOnlyDatabase(campaign)` plus the very seed that
derandomize would have used (the digest of the test function): the examples it generates
are the derandomized ones, and the campaign's are replayed first. Tests that run Hypothesis
programmatically (run_state_machine_as_test in a test body) keep their own settings.

CAMPAIGN_DIR is `.hypothesis/campaign/` in the repository (not committed; a nightly job
keeps it as an artifact), or the directory named by IONTO_CAMPAIGN_DIR.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    ReadOnlyDatabase,
)
from hypothesis.internal.compat import int_from_bytes
from hypothesis.internal.reflection import function_digest

ROOT = Path(__file__).resolve().parents[2]


def campaign_dir() -> Path:
    return Path(os.environ.get("IONTO_CAMPAIGN_DIR") or ROOT / ".hypothesis" / "campaign")


def database_dir() -> Path:
    return campaign_dir() / "db"


def writable_database() -> ExampleDatabase:
    """The campaign's own database (the `campaign` profile: HypoFuzz workers write here)."""
    return DirectoryBasedExampleDatabase(str(database_dir()))


def replay_database() -> ExampleDatabase | None:
    """The campaign's database, read-only; None when no campaign has run here (the
    directory is not created by a test run)."""
    path = database_dir()
    return ReadOnlyDatabase(DirectoryBasedExampleDatabase(str(path))) if path.is_dir() else None


def _seed_of(inner_test: Any) -> int:
    """The seed `derandomize=True` gives a test (hypothesis.core.get_random_for_wrapped_test)."""
    return int_from_bytes(function_digest(inner_test))


@contextmanager
def replaying(item: Any, database: ExampleDatabase | None) -> Iterator[None]:
    """Around one pytest item's call: if it is a Hypothesis test whose settings are
    derandomized without a database (the `ci` profile), run it with the same seed and the
    campaign's database, read-only. Anything else runs unchanged."""
    obj = getattr(item, "obj", None)
    machine = getattr(obj, "_hypothesis_state_machine_class", None)
    if database is None or obj is None:
        yield
        return
    if machine is not None:  # RuleBasedStateMachine.TestCase
        from hypothesis.stateful import get_state_machine_test

        case = item.cls
        original = case.settings
        if not (original.derandomize and original.database is None):
            yield
            return
        test = get_state_machine_test(machine, settings=original)
        had = machine.__dict__.get("_hypothesis_internal_use_seed")
        case.settings = settings(original, derandomize=False, database=database)
        machine._hypothesis_internal_use_seed = had if had is not None else _seed_of(
            test.hypothesis.inner_test)  # type: ignore[attr-defined]
        try:
            yield
        finally:
            case.settings = original
            if had is None:
                del machine._hypothesis_internal_use_seed
        return
    fn = getattr(obj, "__func__", obj)
    original = getattr(fn, "_hypothesis_internal_use_settings", None)
    if (not hasattr(fn, "hypothesis") or original is None
            or not (original.derandomize and original.database is None)):
        yield
        return
    had = fn._hypothesis_internal_use_seed
    fn._hypothesis_internal_use_settings = settings(original, derandomize=False,
                                                    database=database)
    if had is None:
        # after Hypothesis's own pytest hook, which adds a parametrized test's node id
        # to the digest: the key and seed are then the ones Hypothesis itself uses
        fn._hypothesis_internal_use_seed = _seed_of(fn.hypothesis.inner_test)
    try:
        yield
    finally:
        fn._hypothesis_internal_use_settings = original
        fn._hypothesis_internal_use_seed = had
