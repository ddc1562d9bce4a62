"""The anomaly register (specs/anomalies.toml) and the tests agree: every test that can end
skipped or as an expected failure has an entry, and every entry names such a test."""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "evidence"))
import build  # noqa: E402

ANOMALIES = tomllib.loads((ROOT / "specs" / "anomalies.toml").read_text("utf-8"))


def test_the_register_and_the_skippable_tests_are_in_step() -> None:
    declared = build.declared_skips()
    assert "tests/test_record.py::test_sigkill_from_outside_at_a_random_wall_moment" in declared
    assert not build.anomaly_problems(ANOMALIES, declared)


@pytest.fixture
def tests_dir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "tests", tmp_path / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "tests"


@pytest.mark.parametrize("planted", [
    '@pytest.mark.xfail(reason="known")\ndef test_planted() -> None:\n    assert False\n',
    '@pytest.mark.skip\ndef test_planted() -> None:\n    pass\n',
    '@pytest.mark.skipif(True, reason="x")\ndef test_planted() -> None:\n    pass\n',
    'def test_planted() -> None:\n    pytest.skip("later")\n',
    'class TestX:\n    def test_planted(self) -> None:\n        pytest.xfail("known")\n',
    'pytestmark = pytest.mark.skip\ndef test_planted() -> None:\n    pass\n',
])
def test_a_new_skipped_or_xfail_test_without_an_entry_is_a_problem(tests_dir: Path, planted: str) -> None:
    (tests_dir / "test_zz_planted.py").write_text("import pytest\n\n" + planted)
    problems = build.anomaly_problems(ANOMALIES, build.declared_skips(tests_dir))
    assert len(problems) == 1 and "test_planted can skip or xfail but has no entry" in problems[0]


def test_an_entry_must_name_a_test_that_skips(tests_dir: Path) -> None:
    anomalies = {**ANOMALIES, "ANOM-099": {**ANOMALIES["ANOM-001"], "tests": ["tests/test_record.py::test_a_complete_record"]}}
    assert build.anomaly_problems(anomalies, build.declared_skips(tests_dir)) == [
        "ANOM-099 names tests/test_record.py::test_a_complete_record, which is not a test that can skip or xfail"]
    no_test = {**ANOMALIES, "ANOM-099": {**ANOMALIES["ANOM-001"], "tests": []}}
    assert "ANOM-099 names no test that is marked skipped or xfail" in build.anomaly_problems(
        no_test, build.declared_skips(tests_dir))
    blank = {**ANOMALIES, "ANOM-001": {**ANOMALIES["ANOM-001"], "why_acceptable": ""}}
    assert "ANOM-001: no why_acceptable" in build.anomaly_problems(blank, build.declared_skips(tests_dir))


def test_a_test_skipped_in_the_run_must_be_covered() -> None:
    tests = {"tests/test_record.py::test_sigkill_from_outside_at_a_random_wall_moment[3]": {"outcome": "skipped"},
             "tests/test_x.py::test_y[a]": {"outcome": "xfailed"}}
    assert build.anomaly_problems(ANOMALIES, build.declared_skips(), tests) == [
        "tests/test_x.py::test_y[a] xfailed in this run and no anomaly covers it"]


def test_the_recorder_reports_an_expected_failure_as_xfailed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text("utf-8").replace(
        'ROOT = Path(__file__).resolve().parents[1]', f'ROOT = Path({str(ROOT)!r})'))
    pytester.makepyfile(test_k='import pytest\n@pytest.mark.xfail\ndef test_a():\n    assert False\n'
                               'def test_b():\n    pytest.skip("no")\n')
    out = pytester.path / "t.json"
    pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--evidence-json={out}")
    import json
    got = {k.split("::")[-1]: v["outcome"] for k, v in json.loads(out.read_text())["tests"].items()}
    assert got == {"test_a": "xfailed", "test_b": "skipped"}
