"""Fuzz campaigns feed the ordinary test run (issue 17).

End to end, in a scratch project that uses this suite's conftest.py: a property with a
planted bug passes the ordinary derandomized run (its 20 examples miss the one sequence
number in a hundred that the planted decoder loses), a campaign bounded by a number of test
cases (not by time) finds it, and the ordinary run then fails on the saved example, without
writing to the campaign's database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.database import InMemoryExampleDatabase, ReadOnlyDatabase, choices_to_bytes
from hypothesis.internal.reflection import function_digest
from hypothesis.stateful import RuleBasedStateMachine, rule

import campaign_db

ROOT = Path(__file__).resolve().parents[1]

PLANTED = '''
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iontocore.hal import protocol as p

PLANTED = 37


def decode(wire: bytes) -> list[p.Frame]:
    frames = p.Decoder().feed(wire)
    if frames and frames[0].seq % 100 == PLANTED:  # the planted bug: 1 frame in 100 lost
        return []
    return frames


@pytest.mark.req("LINK-001")
@settings(max_examples=20)
@given(st.integers(1, 999))
def test_command_frames_round_trip(seq):
    assert [f.seq for f in decode(p.command(seq, 1000, True, 1000))] == [seq]
'''


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "specs").mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", project / "tests" / "conftest.py")
    shutil.copy(ROOT / "specs" / "requirements.toml", project / "specs" / "requirements.toml")
    (project / "tests" / "test_planted.py").write_text(PLANTED, "utf-8")
    (project / "pytest.ini").write_text(
        "[pytest]\naddopts = --import-mode=importlib -p no:cacheprovider\n"
        f"pythonpath = {ROOT / 'tests' / 'support'}\n"
        "markers =\n    req(*ids): requirement IDs\n", "utf-8")
    return project


def _env(campaign: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HYPOTHESIS_PROFILE", "IONTO_EVIDENCE_JSON", "PYTEST_ADDOPTS")}
    return {**env, "CI": "true", "IONTO_CAMPAIGN_DIR": str(campaign)}


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.req("LINK-001")
@pytest.mark.slow
def test_a_campaign_finds_a_planted_bug_and_the_ordinary_run_then_fails_on_it(
        tmp_path: Path) -> None:
    project, campaign = _project(tmp_path), tmp_path / "campaign"
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "tests"]

    before = subprocess.run(pytest_cmd, cwd=project, env=_env(campaign), capture_output=True,
                            text=True, timeout=300)
    assert before.returncode == 0, before.stdout + before.stderr  # CI's run misses it
    assert not campaign.exists()  # an ordinary run creates no campaign directory

    # bounded by test cases: the planted bug hits 1 case in 100, so 5,000 cases miss it
    # with a probability of about 1e-22 (it is found after a few hundred; the campaign
    # stops as soon as every target has failed)
    run = subprocess.run([sys.executable, "-m", "fuzz.campaign", "--max-cases", "5000",
                          "--workers", "1", "--dir", str(campaign), "--quiet", "--",
                          str(project / "tests" / "test_planted.py")],
                         cwd=ROOT, env=_env(campaign), capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr
    summary = json.loads((campaign / "summary.json").read_text("utf-8"))
    assert summary["failures"] == ["tests/test_planted.py::test_command_frames_round_trip"]
    assert 0 < summary["cases"] <= 5000 and summary["workers"] == 1
    assert summary["stopped_by"] == "every target failed"
    assert len(list((campaign / "failures").iterdir())) == 1

    saved = _files(campaign / "db")
    after = subprocess.run(pytest_cmd, cwd=project, env=_env(campaign), capture_output=True,
                           text=True, timeout=300)
    assert after.returncode == 1, after.stdout + after.stderr
    # the saved example, replayed and shrunk (to a local minimum: 37, 137, ... 937 all fail)
    found = re.search(r"Failing test case: test_command_frames_round_trip\(\s+seq=(\d+),",
                      after.stdout)
    assert found and int(found.group(1)) % 100 == 37, after.stdout
    assert _files(campaign / "db") == saved  # read-only: the test run wrote nothing


# ---- the replay keeps the ci profile's derandomized examples ----------------------------------

def _item(obj: object, cls: type | None = None) -> object:
    return type("Item", (), {"obj": obj, "cls": cls})()


@pytest.mark.req("LINK-001")
def test_replaying_generates_exactly_the_derandomized_examples() -> None:
    seen: list[int] = []

    @settings(derandomize=True, database=None, max_examples=30)
    @given(st.integers(0, 10**6))
    def prop(x: int) -> None:
        seen.append(x)

    prop()
    plain, seen[:] = list(seen), []
    with campaign_db.replaying(_item(prop), ReadOnlyDatabase(InMemoryExampleDatabase())):
        assert prop._hypothesis_internal_use_settings.database is not None
        prop()
    assert seen == plain and len(set(plain)) > 10
    assert prop._hypothesis_internal_use_settings.database is None  # restored


class Walk(RuleBasedStateMachine):
    steps: list[int] = []

    @rule(n=st.integers(0, 10**6))
    def step(self, n: int) -> None:
        Walk.steps.append(n)


@pytest.mark.req("SM-002")
def test_replaying_a_state_machine_keeps_its_derandomized_steps() -> None:
    case = Walk.TestCase
    case.settings = settings(derandomize=True, database=None, max_examples=10,
                             stateful_step_count=5)
    case().runTest()
    plain, Walk.steps = list(Walk.steps), []
    with campaign_db.replaying(_item(case().runTest, case),
                               ReadOnlyDatabase(InMemoryExampleDatabase())):
        assert case.settings.database is not None
        case().runTest()
    assert Walk.steps == plain and len(plain) > 10
    assert case.settings.database is None and "_hypothesis_internal_use_seed" not in vars(Walk)


@pytest.mark.req("LINK-001")
def test_a_saved_failure_is_replayed_under_the_derandomized_settings() -> None:
    db = InMemoryExampleDatabase()

    @settings(derandomize=True, database=None, max_examples=5)
    @given(st.integers(0, 10**6))
    def prop(x: int) -> None:
        assert x != 123_457

    prop()  # the derandomized run alone misses it
    db.save(function_digest(prop.hypothesis.inner_test), choices_to_bytes((123_457,)))
    with campaign_db.replaying(_item(prop), ReadOnlyDatabase(db)):
        with pytest.raises(AssertionError):
            prop()


# ---- the nightly workflow runs the command the README documents ------------------------------

@pytest.mark.req("LINK-001")
def test_the_nightly_workflow_parses_and_runs_the_readme_campaign() -> None:
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "fuzz.yml").read_text("utf-8"))
    readme = (ROOT / "README.md").read_text("utf-8")
    command = "    .venv/bin/python -m fuzz.campaign --minutes 10 --workers 2\n"
    assert command in readme
    trigger = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "schedule" in trigger
    steps = workflow["jobs"]["campaign"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any(r.startswith(".venv/bin/python -m fuzz.campaign --minutes ") for r in runs)
    assert any(".venv/bin/python -m fuzz.bytelevel decoder --runs" in r for r in runs)
    assert any("-c constraints.txt -e '.[test]'" in r for r in runs)
    uses = [(s.get("uses", ""), s.get("with", {})) for s in steps]
    assert any("download-artifact" in u and w.get("path") == ".hypothesis/campaign"
               for u, w in uses)
    uploads = [w for u, w in uses if u.startswith("actions/upload-artifact")]
    assert any(w["path"] == ".hypothesis/campaign" for w in uploads)
    assert any("failures" in w["path"] for w in uploads)
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert ".venv/bin/python -m fuzz.campaign --max-cases " in ci
