"""The evidence builder's checks can fail: duplicated and dangling IDs, hazards without
controls, requirements without a passing verification of each kind they declare."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "evidence"))
import browser  # noqa: E402  (tests/support)
import build  # noqa: E402


def test_the_real_specs_are_consistent() -> None:
    reqs, hazards, soup, problems = build.load_specs()
    assert not problems, problems
    assert len(reqs) >= 30 and len(hazards) == 6 and "transitions" in soup
    rows, soup_problems = build.soup_table(soup)
    assert not soup_problems
    transitions = next(r for r in rows if r["name"] == "transitions")
    assert transitions["version"].startswith("0.9") and "MIT" in transitions["licence"]


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path / "specs"


def test_a_duplicated_id_is_a_problem(specs: Path) -> None:
    text = (specs / "requirements.toml").read_text()
    (specs / "requirements.toml").write_text(text + '\n[SM-001]\nstatement = "again"\n')
    assert any("duplicated ID" in p for p in build.load_specs(specs)[3])


def test_dangling_references_and_uncontrolled_hazards_are_problems(specs: Path) -> None:
    hz = (specs / "hazards.toml").read_text()
    hz = re.sub(r'(\[HAZ-003\][^\[]*?)controls = \[[^\]]*\]', r'\1controls = []', hz)
    hz += '\n[HAZ-099]\nhazard = "x"\ncause = "x"\nharm = "x"\nseverity = 1\ncontrols = ["NOPE-001"]\n'
    (specs / "hazards.toml").write_text(hz)
    problems = build.load_specs(specs)[3]
    assert "HAZ-003 has no control" in problems
    assert "HAZ-099: dangling control NOPE-001" in problems


@pytest.mark.parametrize("hid", ["HAZ-001", "HAZ-002", "HAZ-003", "HAZ-004", "HAZ-005"])
def test_hazard_controls_and_requirement_hazards_must_agree(specs: Path, hid: str) -> None:
    import tomllib

    hazards = tomllib.loads((specs / "hazards.toml").read_text())
    assert hid in hazards  # the register is the one SAFETY.md describes
    first = hazards[hid]["controls"][0]
    text = (specs / "hazards.toml").read_text()
    start = text.index(f"[{hid}]")
    end = text.index("controls = [", start)
    (specs / "hazards.toml").write_text(text[:end] + text[end:].replace(f'"{first}", ', "", 1))
    assert f"{first} names {hid}, which does not list it as a control" in build.load_specs(specs)[3]


def test_a_requirement_without_each_declared_kind_is_not_verified() -> None:
    reqs = {"CTL-001": {"statement": "s", "hazards": ["HAZ-001"], "verification": ["test", "symbolic"]},
            "CTL-002": {"statement": "s", "hazards": ["HAZ-001"], "verification": ["test"]},
            "SM-001": {"statement": "s", "hazards": ["HAZ-001"], "verification": ["review"]}}
    tests = {"a": {"requirements": ["CTL-001"], "kind": "test", "outcome": "passed"},
             "b": {"requirements": ["CTL-002"], "kind": "test", "outcome": "passed"},
             "c": {"requirements": ["CTL-002"], "kind": "property", "outcome": "failed"},
             "d": {"requirements": ["XYZ-999"], "kind": "test", "outcome": "passed"}}
    accepted = {"REV-001": {"reviewer": "a person", "what": "the table", "items": ["SM-001"],
                            "commit": "a" * 40, "outcome": "accepted"}}
    rows, problems = build.trace(reqs, {}, tests, reviews=accepted)
    status = {r["id"]: r["status"] for r in rows}
    assert status == {"CTL-001": "NOT VERIFIED", "CTL-002": "NOT VERIFIED", "SM-001": "verified"}
    assert "CTL-001: no passing verification of kind symbolic" in problems
    assert "CTL-002: failing tests ['c']" in problems
    assert "tests name unknown requirement XYZ-999" in problems
    rows, problems = build.trace(reqs, {}, tests, reviews={})
    assert "SM-001: no passing verification of kind review (no accepted review record in specs/reviews.toml)" in problems
    rejected = {"REV-001": {**accepted["REV-001"], "outcome": "changes requested"}}
    assert "SM-001: no passing verification of kind review (no accepted review record in specs/reviews.toml)" in \
        build.trace(reqs, {}, tests, reviews=rejected)[1]
    bad = {"REV-001": {**accepted["REV-001"], "commit": "abc", "items": ["NOPE-001"], "reviewer": ""}}
    assert build.review_problems(bad, reqs) == ["review REV-001: no reviewer",
                                                "review REV-001: commit 'abc' is not a full SHA-1",
                                                "review REV-001: dangling requirement NOPE-001"]
    assert build.review_problems({}, reqs) == []


def test_an_unlisted_runtime_dependency_is_a_problem() -> None:
    soup = build.load_specs()[2]
    del soup["transitions"]
    assert "runtime dependency transitions is not in specs/soup.toml" in build.soup_table(soup)[1]


def test_the_staged_mutation_config_parses_and_names_real_modules(tmp_path: Path) -> None:
    import tomllib

    import mutation

    mutation.stage(tmp_path / "stage")
    config = tomllib.loads((tmp_path / "stage" / "pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]
    assert all((tmp_path / "stage" / m).is_file() for m in config["only_mutate"])
    assert all((tmp_path / "stage" / t).is_file() for t in config["pytest_add_cli_args_test_selection"])
    import re
    assert any(re.search(p, "def render_spec() -> str:") for p in config["do_not_mutate_patterns"])


def test_mutant_runs_do_not_overwrite_the_test_results(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    import mutation

    seen: dict[str, str] = {}
    monkeypatch.setenv("IONTO_EVIDENCE_JSON", "/somewhere/tests.json")
    monkeypatch.setattr(subprocess, "run", lambda *a, env, **k: seen.update(env))
    mutation.mutmut(Path("."), "results")
    assert "IONTO_EVIDENCE_JSON" not in seen and seen["HYPOTHESIS_PROFILE"] == "mutation"


def test_a_control_that_does_not_name_its_hazard_is_a_problem(specs: Path) -> None:
    text = (specs / "requirements.toml").read_text()
    start = text.index("[CTL-001]")
    end = text.index('hazards = ["HAZ-001", "HAZ-003"]', start)
    (specs / "requirements.toml").write_text(
        text[:end] + text[end:].replace('hazards = ["HAZ-001", "HAZ-003"]', 'hazards = ["HAZ-001"]', 1))
    assert "HAZ-003 lists control CTL-001, which does not name HAZ-003" in build.load_specs(specs)[3]


RISK = __import__("tomllib").loads((ROOT / "specs" / "risk.toml").read_text("utf-8"))


def test_the_risk_file_is_complete_and_every_residual_risk_is_the_matrix_verdict() -> None:
    hazards = build.load_specs()[1]
    assert not build.risk_problems(hazards, RISK)
    assert all(h["residual_risk"] != "unacceptable" for h in hazards.values())


def test_a_residual_risk_that_disagrees_with_the_matrix_is_a_problem() -> None:
    hazards = build.load_specs()[1]
    hazards["HAZ-003"]["probability_after"] = 3  # severity 4 at P3: unacceptable
    problems = build.risk_problems(hazards, RISK)
    assert "HAZ-003: residual_risk is 'alarp', the matrix says 'unacceptable' (severity 4, probability 3)" in problems
    hazards["HAZ-003"]["residual_risk"] = "unacceptable"
    assert "HAZ-003: residual risk unacceptable" in build.risk_problems(hazards, RISK)
    hazards = build.load_specs()[1]
    hazards["HAZ-001"]["probability_after"] = 5
    assert "HAZ-001: probability after controls (5) above before (4)" in build.risk_problems(hazards, RISK)
    del hazards["HAZ-002"]["probability_before"]
    assert "HAZ-002: needs severity, probability_before and probability_after" in build.risk_problems(hazards, RISK)


def test_the_risk_file_must_state_the_class_and_the_overall_residual_risk() -> None:
    hazards = build.load_specs()[1]
    risk = {**RISK, "safety_class": {"class": "C"}, "overall": {}}
    problems = build.risk_problems(hazards, risk)
    assert "specs/risk.toml: no safety_class justification" in problems
    assert "specs/risk.toml: no overall residual-risk statement" in problems


def test_the_test_run_identifies_what_it_tested(pytester: pytest.Pytester) -> None:
    """The recorder writes the commit, dirty flag, source and constraints hashes, Python and
    platform, and they are those of this tree and install."""
    import json

    import provenance  # evidence/, on sys.path above

    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text("utf-8").replace(
        'ROOT = Path(__file__).resolve().parents[1]', f'ROOT = Path({str(ROOT)!r})'))
    pytester.makepyfile(test_k="def test_a():\n    pass\n")
    out = pytester.path / "t.json"
    pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--evidence-json={out}")
    tested = json.loads(out.read_text())["tested"]
    now = provenance.identify()
    assert len(tested["commit"]) == 40 and tested["commit"] == now["commit"]
    for key in ("sources_sha256", "constraints_sha256", "python", "platform", "dirty"):
        assert tested[key] == now[key], key
    assert "iontocore/controller.py" in tested["sources"] and "iontocore/hal/sim.py" in tested["sources"]
    assert build.compare_tested(tested, now) == ([], []) or tested["dirty"]


def test_a_bundle_from_other_sources_or_commit_says_so() -> None:
    import provenance

    now = provenance.identify()
    tested = {**now, "commit": "0" * 40, "dirty": False}
    notes, problems = build.compare_tested(tested, now)
    assert notes == [f"the bundle is built at commit {now['commit']}, the tests ran at commit {'0' * 40}"]
    assert problems == []
    changed = {**now["sources"], "iontocore/supervision.py": "f" * 64}
    tested = {**now, "sources": changed, "sources_sha256": provenance.digest(changed),
              "constraints_sha256": "x"}
    notes, problems = build.compare_tested(tested, now)
    assert problems == ["the installed iontocore sources differ from those tested: iontocore/supervision.py",
                        "constraints.txt differs from the one the tests ran with"]
    assert build.compare_tested(None, now)[1][0].startswith("the test results do not identify")


def test_counts_are_by_test_function_and_skipped_tests_do_not_verify() -> None:
    reqs = {"SM-001": {"statement": "s", "hazards": ["HAZ-001"], "verification": ["test"]},
            "REC-001": {"statement": "s", "hazards": ["HAZ-001"], "verification": ["test", "property"]}}
    tests = {f"t.py::test_a[{i}]": {"requirements": ["SM-001"], "kind": "test", "outcome": "passed"}
             for i in range(108)}
    tests |= {"t.py::test_b": {"requirements": ["SM-001"], "kind": "test", "outcome": "passed"},
              "t.py::test_k[0]": {"requirements": ["REC-001"], "kind": "test", "outcome": "passed"},
              "t.py::test_k[1]": {"requirements": ["REC-001"], "kind": "test", "outcome": "skipped"},
              "t.py::test_p": {"requirements": ["REC-001"], "kind": "property", "outcome": "skipped"}}
    rows, problems = build.trace(reqs, {}, tests, reviews={})
    by_id = {r["id"]: r for r in rows}
    assert by_id["SM-001"]["by_function"]["test"] == {
        "functions": 2, "functions_passed": 2, "functions_only_skipped": 0, "cases": 109,
        "cases_passed": 109, "cases_skipped": 0}
    assert by_id["REC-001"]["by_function"]["test"]["cases_skipped"] == 1
    assert by_id["REC-001"]["status"] == "NOT VERIFIED"
    assert "REC-001: no passing verification of kind property (only skipped tests)" in problems


def test_crosshair_facts_per_module_and_per_requirement_are_both_read() -> None:
    tests = {"a": {"properties": {"crosshair": {"module": "iontocore.shaping", "confirmed": 4, "not_confirmed": []}}},
             "b": {"properties": {"crosshair": {"requirement": "SUP-001", "properties": ["p"], "confirmed": 1,
                                                "not_confirmed": []}}}}
    assert [c["module"] for c in build.facts(tests)["crosshair"]] == ["SUP-001", "iontocore.shaping"]


def test_the_junit_xml_of_the_run_carries_each_test_s_requirement_ids(pytester: pytest.Pytester) -> None:
    import json
    import xml.etree.ElementTree as ET

    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text("utf-8").replace(
        'ROOT = Path(__file__).resolve().parents[1]', f'ROOT = Path({str(ROOT)!r})'))
    pytester.makepyfile(test_k="import pytest\n\n"
                               "@pytest.mark.req('SM-001', 'CTL-001')\ndef test_a():\n    pass\n\n"
                               "class TestC:\n    @pytest.mark.req('SUP-001')\n"
                               "    @pytest.mark.parametrize('x', [1, 2])\n    def test_b(self, x):\n        pass\n\n"
                               "def test_none():\n    pass\n")
    pytester.makeini("[pytest]\njunit_family = xunit1\n")  # as pyproject.toml: file names in the XML
    out = pytester.path / "t.json"
    pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--evidence-json={out}").assert_outcomes(passed=4)
    junit = out.with_name("junit.xml")
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    props = {name: [(p.get("name"), p.get("value")) for p in c.iter("property")] for name, c in cases.items()}
    assert props["test_a"] == [("requirement", "CTL-001"), ("requirement", "SM-001"),
                               ("verification_kind", "test")]
    assert props["test_b[1]"] == props["test_b[2]"] == [("requirement", "SUP-001"), ("verification_kind", "test")]
    assert props["test_none"] == [("verification_kind", "test")]
    tests = json.loads(out.read_text())["tests"]
    assert all("requirement" not in t["properties"] for t in tests.values())  # JUnit only
    summary, problems = build.junit_check(junit, tests)
    assert problems == [] and summary["testcases"] == 4 and summary["requirement_properties"] == 4
    tests["test_k.py::TestC::test_b[1]"]["requirements"] = ["SUP-002"]
    assert build.junit_check(junit, tests)[1] == [
        "JUnit XML: 1 tests carry other requirement IDs than the run recorded, e.g. "
        "test_k.py::TestC::test_b[1]: ['SUP-001']"]
    tests["test_k.py::test_gone"] = {"requirements": []}
    assert "JUnit XML: 1 tests of the run are not in it, e.g. test_k.py::test_gone" in build.junit_check(junit, tests)[1]
    assert build.junit_check(pytester.path / "none.xml", tests)[1] == [
        "JUnit XML none.xml not written by the test run"]

    (pytester.path / "x2.xml").write_text('<testsuites><testsuite><testcase classname="a" name="t"/></testsuite></testsuites>')
    assert "junit_family" in build.junit_check(pytester.path / "x2.xml", tests)[1][0]


def test_the_html_is_rendered_by_markdown_it_with_failures_marked_and_html_escaped() -> None:
    md = ("# iontocore evidence (FAIL)\n\n- **requirements**: 1 of 2 `verified`\n\n"
          "| requirement | result |\n|---|---|\n| SM-001 <script>x</script> | verified |\n"
          "| SM-002 | NOT VERIFIED |\n\n```mermaid\nA --> B\n```\n")
    page = build.html_page(md, {"summary": {"passed": False}})
    assert "<h1>iontocore evidence (FAIL)</h1>" in page and "<p class='fail'><b>FAIL</b></p>" in page
    assert "<li><strong>requirements</strong>: 1 of 2 <code>verified</code></li>" in page
    assert "<td>SM-001 &lt;script&gt;x&lt;/script&gt; |" not in page and "<script>" not in page
    assert '<tr class="bad">\n<td>SM-002</td>' in page and page.count('class="bad"') == 1
    assert "A --&gt; B" in page  # code blocks escaped, kept as text


def test_the_architecture_document_is_a_section_of_the_bundle() -> None:
    text = (ROOT / "specs" / "architecture.md").read_text("utf-8")
    section = build.architecture_section()
    headings = [line for line in text.splitlines()[1:] if line.startswith("## ") or line.startswith("### ")]
    assert headings and all("#" + h in section.splitlines() for h in headings)
    assert text.splitlines()[0] not in section and "```mermaid" in section
    assert all(not line.startswith(("# ", "## ")) for line in section.splitlines()
               if not line.startswith("    "))


def test_the_state_machine_is_drawn_as_svg_inline_in_the_html(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil as sh

    from iontocore.machine import STATES

    svg, note = build.state_svg(tmp_path)
    if sh.which("dot"):  # Debian's graphviz (installed where the bundle is built)
        assert svg is not None and note.startswith("drawn by dot")
        assert (tmp_path / "state_machine.svg").read_text() == svg
        assert all(f">{s.name}</text>" in svg for s in STATES)
        md = "## State machine\n\n![the state machine](state_machine.svg) (drawn)\n"
        page = build.html_page(md, {"summary": {"passed": True}}, svg)
        assert "<img" not in page and page.count("<svg") == 1 and "<?xml" not in page
    monkeypatch.setattr(sh, "which", lambda name: None)
    assert build.state_svg(tmp_path) == (
        None, "not drawn: Graphviz's dot is not installed (apt-get install graphviz)")


def test_a_junit_case_whose_class_lives_in_another_file_is_matched(tmp_path: Path) -> None:
    """A Hypothesis state machine's TestCase: pytest names hypothesis/stateful.py as its file."""
    xml = tmp_path / "junit.xml"
    xml.write_text('<testsuites><testsuite><testcase classname="tests.test_stateful.TestControllerMachine" '
                   'name="runTest" file=".venv/lib/python3.11/site-packages/hypothesis/stateful.py">'
                   '<properties><property name="requirement" value="SM-002"/></properties></testcase>'
                   '</testsuite></testsuites>')
    tests = {"tests/test_stateful.py::TestControllerMachine::runTest": {"requirements": ["SM-002"]}}
    assert build.junit_check(xml, tests)[1] == []


# ---- what a reviewer sees on the first screen of the HTML, rendered in headless Chromium ----

FABRICATED_RUN = {  # a small test run: 2 passed, 2 failed (one naming no requirement), 1 skipped
    "tests/test_controller.py::test_within_the_limit": ("passed", ["CTL-001"]),
    "tests/test_controller.py::test_the_limit_is_exceeded": ("failed", ["CTL-001"]),
    "tests/test_sim.py::test_the_plant_answers": ("passed", []),
    "tests/test_sim.py::test_the_plant_loses_a_sample": ("failed", []),
    "tests/test_sim.py::test_a_real_port": ("skipped", ["LINK-002"]),
}


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle built by evidence/build.py (as CI does, --reuse-tests) from FABRICATED_RUN;
    no SBOM (no runtime interpreter given), so it fails for that too."""
    tmp = tmp_path_factory.mktemp("bundle")
    tests = {nid: {"requirements": reqs, "kind": "test", "outcome": outcome, "seconds": 0.1,
                   "properties": {}} for nid, (outcome, reqs) in FABRICATED_RUN.items()}
    (tmp / "tests.json").write_text(json.dumps({"hypothesis_profile": "ci", "tests": tests}))
    out = subprocess.run([sys.executable, str(ROOT / "evidence" / "build.py"), "--out", str(tmp / "out"),
                          "--reuse-tests", str(tmp / "tests.json"), "--skip-mutation",
                          "--runtime-python", str(tmp / "no-such-python")],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 1 and "evidence: FAIL" in out.stdout, (out.stdout[-2000:], out.stderr[-2000:])
    return tmp / "out"


def _screen_text(screen: dict[str, Any]) -> str:
    return "\n".join(b["text"] for b in browser.shown_without_scrolling(screen))


def test_the_first_screen_of_a_failing_bundle_shows_the_verdict_counts_and_failures(
        small_bundle: Path) -> None:
    bundle = json.loads((small_bundle / "evidence.json").read_text("utf-8"))
    s = bundle["summary"]
    assert s["failed_tests"] == ["tests/test_controller.py::test_the_limit_is_exceeded",
                                 "tests/test_sim.py::test_the_plant_loses_a_sample"]
    screen = browser.first_screen(small_bundle / "index.html")  # a 1280 x 800 window
    shown = browser.shown_without_scrolling(screen)
    text = _screen_text(screen)
    verdict = [b for b in shown if b["tag"] == "p" and b["text"] == "FAIL"]
    assert verdict and verdict[0]["color"] == "rgb(204, 0, 0)", shown[:3]  # red, at the top
    assert any(b["tag"] == "h1" and b["text"] == "iontocore evidence (FAIL)" for b in shown)
    assert f"requirements: {s['requirements_verified']} of {s['requirements']} verified" in text
    assert "tests: 2 passed, 2 failed, 1 skipped or xfailed" in text, text
    for nid in s["failed_tests"]:  # also the one naming no requirement
        assert nid in text, (nid, text)
    assert f"problems: {len(bundle['problems'])}, listed below" in text
    assert any(b["tag"] == "h2" and b["text"] == "Problems" for b in shown), text
    assert bundle["problems"][0] in text  # the list begins on the first screen
    below = [b for b in screen["blocks"] if b not in shown]
    assert any(b["text"].startswith("Risk file") for b in below)  # the window really cuts


def test_the_first_screen_of_a_passing_bundle_shows_the_verdict_and_counts(
        small_bundle: Path) -> None:
    """The same bundle as if every test had passed and nothing were wrong (the real one is
    built in CI): the verdict in green, the counts, and no failure or problem line."""
    bundle = json.loads((small_bundle / "evidence.json").read_text("utf-8"))
    bundle["problems"] = []
    bundle["summary"].update(passed=True, tests_passed=4, tests_failed=0, failed_tests=[],
                             pytest_exit=0)
    svg = small_bundle / "state_machine.svg"
    page = small_bundle / "passing.html"
    page.write_text(build.html_page(build.markdown(bundle), bundle,
                                    svg.read_text("utf-8") if svg.exists() else None), "utf-8")
    screen = browser.first_screen(page)
    shown = browser.shown_without_scrolling(screen)
    text = _screen_text(screen)
    verdict = [b for b in shown if b["tag"] == "p" and b["text"] == "PASS"]
    assert verdict and verdict[0]["color"] == "rgb(26, 127, 55)", shown[:3]  # green
    assert any(b["tag"] == "h1" and b["text"] == "iontocore evidence (PASS)" for b in shown)
    assert "tests: 4 passed, 0 failed, 1 skipped or xfailed" in text, text
    assert "failed tests" not in text and "problems:" not in text and "\nProblems\n" not in text
