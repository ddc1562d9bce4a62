"""Unit acceptance (specs/coverage.toml): the evidence run measures line and branch coverage of
every unit of core/, the bundle fails a unit below the criterion or a line excluded without a
reason, and it says so when coverage was not measured at all."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "evidence"))
import build  # noqa: E402

CRITERIA = tomllib.loads((ROOT / "specs" / "coverage.toml").read_text("utf-8"))
UNITS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "core").rglob("*.py"))


def _file(statements: int, missing: list[int], branches: int, missing_branches: list[list[int]]) -> dict:
    return {"missing_lines": missing, "missing_branches": missing_branches, "excluded_lines": [],
            "summary": {"num_statements": statements, "covered_lines": statements - len(missing),
                        "num_branches": branches,
                        "covered_branches": branches - len(missing_branches)}}


def test_the_criterion_is_stated_and_is_full_line_and_branch_coverage() -> None:
    assert CRITERIA["line_percent"] == 100 and CRITERIA["branch_percent"] == 100
    assert "pragma: no cover" in CRITERIA["statement"]


def test_a_unit_below_the_criterion_or_not_measured_fails_the_bundle() -> None:
    files = {unit: _file(10, [], 4, []) for unit in UNITS}
    rows, problems = build.coverage_units({"branch": True, "files": files}, CRITERIA)
    assert problems == [] and all(r["meets"] for r in rows) and len(rows) == len(UNITS)
    files["core/shaping.py"] = _file(10, [7, 8, 9], 4, [[12, -1]])
    del files["core/dose.py"]
    rows, problems = build.coverage_units({"branch": True, "files": files}, CRITERIA)
    assert problems == [
        "coverage: unit core/dose.py was not measured",
        "coverage: core/shaping.py 70.0 % of lines, 75.0 % of branches (criterion 100 % / 100 %): "
        "lines 7-9; branches 12->exit"]
    summary = build.coverage_summary({"tool": "coverage.py"}, CRITERIA, rows, [])
    assert not summary["met"] and summary["text"].endswith("NOT MET")
    assert build.coverage_units({"branch": False, "files": {}}, CRITERIA)[1][0] == \
        "coverage: branch coverage not measured"
    assert build.coverage_units(None, CRITERIA)[1][0].startswith("coverage of core/ not measured")
    assert build.coverage_units({"error": "coverage.py is not installed"}, CRITERIA)[1] == [
        "coverage of core/ not measured: coverage.py is not installed"]


def test_every_exclusion_gives_its_reason(tmp_path: Path) -> None:
    core = tmp_path / "core"
    core.mkdir()
    (core / "m.py").write_text("x = 1\nif x:  # pragma: no cover: only on a big-endian host, never here\n"
                               "    pass\nelse:  # pragma: no cover\n    pass\n")
    found, problems = build.exclusions(core)
    assert [(e["line"], e["reason"]) for e in found] == [
        (2, "only on a big-endian host, never here"), (4, "")]
    assert problems == ["core/m.py:4: excluded from coverage without a reason "
                        "(# pragma: no cover: <reason>)"]
    assert build.exclusions()[1] == []  # the real core/


def test_the_evidence_run_measures_line_and_branch_coverage_of_core_only(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text("utf-8").replace(
        'ROOT = Path(__file__).resolve().parents[1]', f'ROOT = Path({str(ROOT)!r})'))
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_k.py").write_text(
        "from iontocore import shaping\nfrom iontocore.hal import sim\n\n"
        "def test_a():\n    assert shaping is not None and sim is not None\n")
    (pytester.path / "tests" / "test_record.py").write_text(  # untraced (specs/coverage.toml)
        "from iontocore import shaping\n\ndef test_b():\n    assert shaping.max_step_ua(1000, 10) == 10\n")
    out = pytester.path / "t.json"
    pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--evidence-json={out}").assert_outcomes(passed=2)
    cov = json.loads(out.read_text())["coverage"]
    assert cov["tool"].startswith("coverage.py ") and cov["imported_before_start"] == []
    assert cov["untraced_tests"] == ["tests/test_record.py::test_b"]
    step = next(n for n, line in enumerate((ROOT / "core" / "shaping.py").read_text().splitlines(), 1)
                if "return -(-slew_ua_per_s * tick_ms // NA_PER_UA)" in line)
    assert step in cov["files"]["core/shaping.py"]["missing_lines"]  # run, but untraced
    assert sorted(cov["files"]) == UNITS  # core/ only, every unit, imported or not
    shaping = cov["files"]["core/shaping.py"]
    assert shaping["summary"]["num_branches"] > 0 and shaping["missing_branches"]  # branch data
    assert 0 < shaping["summary"]["covered_lines"] < shaping["summary"]["num_statements"]
    rows, problems = build.coverage_units(cov, CRITERIA)
    assert any(p.startswith("coverage: core/shaping.py") for p in problems)


def test_a_unit_held_to_a_floor_fails_below_it_and_passes_at_it() -> None:
    files = {unit: _file(10, [], 4, []) for unit in UNITS}
    files["core/shaping.py"] = _file(10, [7], 4, [[12, -1]])  # 90 % lines, 75 % branches
    criteria = {**CRITERIA, "floors": {"core/shaping.py": {"line_percent": 90, "branch_percent": 75}}}
    rows, problems = build.coverage_units({"branch": True, "files": files}, criteria)
    assert problems == [] and next(r for r in rows if r["unit"] == "core/shaping.py")["criterion"] == \
        "90 % / 75 % (floor)"
    criteria["floors"]["core/shaping.py"]["branch_percent"] = 76
    assert build.coverage_units({"branch": True, "files": files}, criteria)[1] == [
        "coverage: core/shaping.py 90.0 % of lines, 75.0 % of branches (criterion 90 % / 76 % (floor)): "
        "lines 7; branches 12->exit"]
