"""Build the evidence bundle a reviewer reads: run every verification, trace each hazard
to its requirements, their tests and proofs and the results, and write it as HTML (people),
JSON (tools) and Markdown (diffs).

    python evidence/build.py [--out build/evidence] [--skip-mutation]

Runs: the spec checks (duplicated or dangling IDs, hazards without controls), the whole
test suite with deeper model checking (it includes CrossHair on every safety-path module
and the fault matrix), and mutation testing. Exits non-zero when any requirement lacks a
passing verification of each kind it declares, an ID is duplicated or dangling, a hazard
has no control, a test fails, or mutation testing misses its target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
import tomllib
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
ID_RE = re.compile(r"^[A-Z]{2,5}-[0-9]{2,4}$")
KINDS = ("test", "property", "symbolic", "model-check")
METHODS = set(KINDS) | {"review"}


# ------------------------------------------------------------------------------ specs

def load_specs(specs: Path = SPECS) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str]]:
    """Requirements, hazards and SOUP, and every problem with them (IDs, references)."""
    problems: list[str] = []
    loaded: list[dict[str, Any]] = []
    for name in ("requirements.toml", "hazards.toml", "soup.toml"):
        try:
            loaded.append(tomllib.loads((specs / name).read_text("utf-8")))
        except tomllib.TOMLDecodeError as exc:  # a duplicated ID is a duplicated table
            problems.append(f"specs/{name}: {exc} (a duplicated ID?)")
            loaded.append({})
    reqs, hazards, soup = loaded
    for rid in set(reqs) & set(hazards):
        problems.append(f"{rid} is both a requirement and a hazard")
    for rid, req in reqs.items():
        if not ID_RE.match(rid):
            problems.append(f"requirement ID {rid!r} is malformed")
        for key in ("statement", "rationale", "hazards", "verification"):
            if not req.get(key):
                problems.append(f"{rid}: no {key}")
        for hid in req.get("hazards", []):
            if hid not in hazards:
                problems.append(f"{rid}: dangling hazard {hid}")
            elif rid not in hazards[hid].get("controls", []):
                problems.append(f"{rid} names {hid}, which does not list it as a control")
        for method in req.get("verification", []):
            if method not in METHODS:
                problems.append(f"{rid}: unknown verification method {method!r}")
    for hid, hazard in hazards.items():
        if not ID_RE.match(hid):
            problems.append(f"hazard ID {hid!r} is malformed")
        if not hazard.get("controls"):
            problems.append(f"{hid} has no control")
        for rid in hazard.get("controls", []):
            if rid not in reqs:
                problems.append(f"{hid}: dangling control {rid}")
            elif hid not in reqs[rid].get("hazards", []):
                problems.append(f"{hid} lists control {rid}, which does not name {hid}")
    for name, entry in soup.items():
        for rid in entry.get("requirements", []):
            if rid != "*" and rid not in reqs:
                problems.append(f"SOUP {name}: dangling requirement {rid}")
    return reqs, hazards, soup, problems


def soup_table(soup: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The SOUP list with version and licence read from the installed environment."""
    rows, problems = [], []
    for name, entry in soup.items():
        try:
            dist = metadata.distribution(name)
            version = dist.version
            meta = dist.metadata
            licence = (meta.get("License-Expression") or meta.get("License") or "").strip()
            if not licence or len(licence) > 60:
                classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or []
                               if c.startswith("License ::")]
                licence = ", ".join(classifiers) or licence[:60] or "unknown"
        except metadata.PackageNotFoundError:
            if entry.get("kind") == "platform":
                rows.append({"name": name, "version": platform.python_version(),
                             "licence": "PSF-2.0", **{k: v for k, v in entry.items() if k != "version"},
                             "reviewed_version": entry.get("version")})
                continue
            version, licence = "not installed", "-"
            if entry.get("kind") in ("runtime", "verification"):
                problems.append(f"SOUP {name} ({entry.get('kind')}) is not installed")
        rows.append({"name": name, "version": version, "licence": licence,
                     **{k: v for k, v in entry.items() if k != "version"},
                     "reviewed_version": entry.get("version")})
    runtime = [re.split(r"[<>=!~ ;\[]", r)[0] for r in metadata.requires("iontocore") or []
               if "extra ==" not in r]
    for dep in runtime:
        if dep not in soup:
            problems.append(f"runtime dependency {dep} is not in specs/soup.toml")
    return rows, problems


# ------------------------------------------------------------------------------ risk

RISK_LEVELS = ("acceptable", "alarp", "unacceptable")


def risk_problems(hazards: dict[str, Any], risk: dict[str, Any]) -> list[str]:
    """Every hazard's risk before and after its controls is the matrix's verdict, none is left
    unacceptable, an ALARP residual risk says why, and the file states the class and the
    overall residual risk."""
    problems: list[str] = []
    matrix = risk.get("matrix", {})
    for sev in ("1", "2", "3", "4", "5"):
        row = matrix.get(sev, [])
        if len(row) != 5 or any(v not in RISK_LEVELS for v in row):
            problems.append(f"specs/risk.toml: matrix row {sev} is not five of {RISK_LEVELS}")
            return problems
    for key in ("class", "justification"):
        if not risk.get("safety_class", {}).get(key):
            problems.append(f"specs/risk.toml: no safety_class {key}")
    if not risk.get("overall", {}).get("statement"):
        problems.append("specs/risk.toml: no overall residual-risk statement")
    for hid, hz in hazards.items():
        try:
            sev, before, after = (int(hz[k]) for k in ("severity", "probability_before",
                                                       "probability_after"))
        except (KeyError, TypeError, ValueError):
            problems.append(f"{hid}: needs severity, probability_before and probability_after")
            continue
        if not all(1 <= v <= 5 for v in (sev, before, after)):
            problems.append(f"{hid}: severity and probabilities must be 1..5")
            continue
        if after > before:
            problems.append(f"{hid}: probability after controls ({after}) above before ({before})")
        for key, prob in (("risk_before", before), ("residual_risk", after)):
            verdict = matrix[str(sev)][prob - 1]
            if hz.get(key) != verdict:
                problems.append(f"{hid}: {key} is {hz.get(key)!r}, the matrix says {verdict!r} "
                                f"(severity {sev}, probability {prob})")
        if hz.get("residual_risk") == "unacceptable":
            problems.append(f"{hid}: residual risk unacceptable")
        if not hz.get("risk_rationale"):
            problems.append(f"{hid}: no risk_rationale (why these probabilities; why ALARP)")
    return problems


# ------------------------------------------------------------------------------ what was tested

def compare_tested(tested: dict[str, Any] | None, now: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Notes and problems from comparing what the test run identified (its `tested` record)
    with the tree and install the bundle is built from."""
    notes: list[str] = []
    if not tested:
        return notes, ["the test results do not identify what was tested (no `tested` record: "
                       "a test run from before evidence/provenance.py, or not through tests/conftest.py)"]
    problems: list[str] = []
    if tested.get("commit") != now.get("commit"):
        notes.append(f"the bundle is built at commit {now.get('commit')}, the tests ran at commit "
                     f"{tested.get('commit')}")
    if tested.get("dirty"):
        notes.append("the tests ran on a tree with uncommitted changes: the commit alone does not "
                     "identify what was tested; the source hashes do")
    if tested.get("sources_sha256") != now.get("sources_sha256"):
        old, new = tested.get("sources", {}), now.get("sources", {})
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        problems.append("the installed iontocore sources differ from those tested: "
                        + (", ".join(changed) or "(no per-file hashes)"))
    if tested.get("constraints_sha256") != now.get("constraints_sha256"):
        problems.append("constraints.txt differs from the one the tests ran with")
    return notes, problems


# ------------------------------------------------------------------------------ anomalies

SKIP_MARKS = {"skip", "skipif", "xfail"}
SKIP_CALLS = {"skip", "importorskip", "xfail"}


def declared_skips(tests_dir: Path = ROOT / "tests") -> set[str]:
    """Test functions that can end skipped or as an expected failure, read from the source:
    a skip, skipif or xfail marker (on the function, its class or the module's pytestmark),
    or a call to pytest.skip / importorskip / xfail in its body. As 'tests/file.py::name'."""
    import ast

    def marks(decorators: list[ast.expr]) -> bool:
        for dec in decorators:
            node = dec.func if isinstance(dec, ast.Call) else dec
            if isinstance(node, ast.Attribute) and node.attr in SKIP_MARKS:
                return True
        return False

    def calls(fn: ast.AST) -> bool:
        return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                   and n.func.attr in SKIP_CALLS and isinstance(n.func.value, ast.Name)
                   and n.func.value.id == "pytest" for n in ast.walk(fn))

    found: set[str] = set()
    for path in sorted(tests_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        rel = f"{tests_dir.name}/{path.name}"
        module_marked = any(isinstance(n, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
            and any(isinstance(c, ast.Attribute) and c.attr in SKIP_MARKS for c in ast.walk(n.value))
            for n in tree.body)

        def visit(body: list[ast.stmt], prefix: str, inherited: bool) -> None:
            for node in body:
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{prefix}{node.name}::", inherited or marks(node.decorator_list))
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                        node.name.startswith("test"):
                    if inherited or marks(node.decorator_list) or calls(node):
                        found.add(f"{rel}::{prefix}{node.name}")

        visit(tree.body, "", module_marked)
    return found


def function_id(nodeid: str) -> str:
    """A test's node ID without its parametrization: one test function."""
    return nodeid.split("[", 1)[0]


ANOMALY_KEYS = ("title", "kind", "status", "tests", "description", "safety_impact",
                "why_acceptable")


def anomaly_problems(anomalies: dict[str, Any], declared: set[str],
                     tests: dict[str, Any] | None = None) -> list[str]:
    """The register and the tests agree: every test that can skip or xfail has an entry,
    every entry names such a test, and every test that did skip or xfail in the run is covered."""
    problems: list[str] = []
    covered: set[str] = set()
    for aid, entry in anomalies.items():
        if not ID_RE.match(aid):
            problems.append(f"anomaly ID {aid!r} is malformed")
        for key in ANOMALY_KEYS:
            if key not in entry or (key != "tests" and not entry[key]):
                problems.append(f"{aid}: no {key}")
        if not entry.get("tests"):
            problems.append(f"{aid} names no test that is marked skipped or xfail")
        for nid in entry.get("tests", []):
            covered.add(nid)
            if nid not in declared:
                problems.append(f"{aid} names {nid}, which is not a test that can skip or xfail")
    for nid in sorted(declared - covered):
        problems.append(f"{nid} can skip or xfail but has no entry in specs/anomalies.toml")
    for nid, t in sorted((tests or {}).items()):
        if t.get("outcome") in ("skipped", "xfailed", "xpassed") and function_id(nid) not in covered:
            problems.append(f"{nid} {t['outcome']} in this run and no anomaly covers it")
    return problems


# ------------------------------------------------------------------------------ coverage

PRAGMA_RE = re.compile(r"#\s*pragma:\s*no\s*cover\b(?P<rest>.*)$")


def exclusions(core: Path = ROOT / "core") -> tuple[list[dict[str, Any]], list[str]]:
    """Every line of core/ excluded from coverage (`# pragma: no cover: <reason>`) with its
    reason; a pragma without a reason is a problem."""
    found, problems = [], []
    for path in sorted(core.rglob("*.py")):
        rel = path.relative_to(core.parent).as_posix()
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            m = PRAGMA_RE.search(line)
            if not m:
                continue
            reason = m["rest"].strip().lstrip(":-").strip()
            found.append({"file": rel, "line": number, "code": line.split("#")[0].strip(),
                          "reason": reason})
            if len(reason) < 10:
                problems.append(f"{rel}:{number}: excluded from coverage without a reason "
                                "(# pragma: no cover: <reason>)")
    return found, problems


def coverage_summary(measured: dict[str, Any] | None, criteria: dict[str, Any],
                     rows: list[dict[str, Any]], excluded: list[dict[str, Any]]) -> dict[str, Any]:
    lines = sum(r["statements"] for r in rows)
    branches = sum(r["branches"] for r in rows)
    line_pct = 100.0 * sum(r["lines_covered"] for r in rows) / lines if lines else 0.0
    branch_pct = 100.0 * sum(r["branches_covered"] for r in rows) / branches if branches else 0.0
    met = bool(rows) and all(r["meets"] for r in rows)
    text = (f"core/: {line_pct:.2f} % of {lines} lines, {branch_pct:.2f} % of {branches} branches "
            f"over {len(rows)} units, {len(excluded)} lines excluded with a reason; criterion "
            f"{criteria['line_percent']} % lines and {criteria['branch_percent']} % branches per "
            f"unit" + (f" ({len(criteria['floors'])} units held to a floor below it)"
                       if criteria.get("floors") else "")
            + f": {'met' if met else 'NOT MET'}") if rows else "not measured"
    return {"tool": (measured or {}).get("tool"), "criteria": criteria, "met": met, "text": text,
            "line_percent": round(line_pct, 2), "branch_percent": round(branch_pct, 2),
            "imported_before_start": (measured or {}).get("imported_before_start", []),
            "untraced": criteria.get("untraced", {}),
            "untraced_tests": len((measured or {}).get("untraced_tests", [])),
            "units": rows, "excluded": excluded}


def _ranges(numbers: list[int]) -> str:
    out: list[str] = []
    for n in sorted(numbers):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = out[-1].split("-")[0] + f"-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def coverage_units(measured: dict[str, Any] | None, criteria: dict[str, Any],
                   core: Path = ROOT / "core") -> tuple[list[dict[str, Any]], list[str]]:
    """Line and branch coverage of each unit (module) of core/ from the test run, judged
    against specs/coverage.toml; every unit must have been measured."""
    if not measured or "files" not in measured:
        why = (measured or {}).get("error", "the test results carry no coverage (a run from "
                                   "before coverage was measured, or not through tests/conftest.py)")
        return [], [f"coverage of core/ not measured: {why}"]
    problems: list[str] = [] if measured.get("branch") else ["coverage: branch coverage not measured"]
    rows = []
    files = measured["files"]
    units = sorted(p.relative_to(core.parent).as_posix() for p in core.rglob("*.py"))
    for unit in sorted(set(units) | set(files)):
        data = files.get(unit)
        if data is None:
            problems.append(f"coverage: unit {unit} was not measured")
            continue
        s = data["summary"]
        line_pct = 100.0 * s["covered_lines"] / s["num_statements"] if s["num_statements"] else 100.0
        branch_pct = (100.0 * s["covered_branches"] / s["num_branches"] if s.get("num_branches") else
                      100.0 if measured.get("branch") else 0.0)
        row = {"unit": unit, "statements": s["num_statements"], "lines_covered": s["covered_lines"],
               "line_percent": round(line_pct, 2), "branches": s.get("num_branches", 0),
               "branches_covered": s.get("covered_branches", 0), "branch_percent": round(branch_pct, 2),
               "missing_lines": _ranges(data.get("missing_lines", [])),
               "missing_branches": ", ".join(f"{a}->{'exit' if b < 0 else b}"
                                             for a, b in data.get("missing_branches", [])),
               "excluded_lines": len(data.get("excluded_lines", []))}
        floor = criteria.get("floors", {}).get(unit, {})
        need_line = floor.get("line_percent", criteria["line_percent"])
        need_branch = floor.get("branch_percent", criteria["branch_percent"])
        row["criterion"] = f"{need_line} % / {need_branch} %" + (" (floor)" if floor else "")
        row["meets"] = line_pct >= need_line and branch_pct >= need_branch
        if not row["meets"]:
            problems.append(f"coverage: {unit} {row['line_percent']} % of lines, "
                            f"{row['branch_percent']} % of branches (criterion {row['criterion']}): "
                            f"lines {row['missing_lines'] or '-'}; branches {row['missing_branches'] or '-'}")
        rows.append(row)
    return rows, problems


# ------------------------------------------------------------------------------ JUnit XML

def junit_check(path: Path, tests: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The test run's JUnit XML (pytest --junitxml, written beside the evidence JSON): every
    test the JSON records is a testcase carrying its requirement IDs as properties."""
    import xml.etree.ElementTree as ET

    if not path.is_file():
        return {}, [f"JUnit XML {path.name} not written by the test run"]
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        return {}, [f"JUnit XML {path.name} does not parse: {exc}"]
    found: dict[str, list[str]] = {}
    if any(case.get("file") is None for case in root.iter("testcase")):
        return {}, [f"JUnit XML {path.name}: test cases without a file attribute (junit_family "
                    "must be xunit1, as pyproject.toml sets it)"]
    for case in root.iter("testcase"):
        file, classname, name = case.get("file", ""), case.get("classname", ""), case.get("name", "")
        module = file.removesuffix(".py").replace("/", ".")
        classes = classname.removeprefix(module).strip(".")
        nodeid = "::".join(filter(None, (file, *classes.split("."), name))) if classes else f"{file}::{name}"
        parts = classname.split(".")  # a class defined elsewhere (a Hypothesis TestCase) names
        for cut in range(len(parts), 0, -1):  # another file: find the module in the classname
            guess = "::".join(["/".join(parts[:cut]) + ".py", *parts[cut:], name])
            if nodeid not in tests and guess in tests:
                nodeid = guess
        found[nodeid] = sorted(p.get("value", "") for p in case.iter("property")
                               if p.get("name") == "requirement")
    problems = []
    missing = sorted(set(tests) - set(found))
    if missing:
        problems.append(f"JUnit XML: {len(missing)} tests of the run are not in it, e.g. {missing[0]}")
    wrong = sorted(nid for nid in set(tests) & set(found)
                   if found[nid] != sorted(tests[nid]["requirements"]))
    if wrong:
        problems.append(f"JUnit XML: {len(wrong)} tests carry other requirement IDs than the run "
                        f"recorded, e.g. {wrong[0]}: {found[wrong[0]]}")
    suites = [s for s in root.iter("testsuite")]
    return {"file": path.name, "testcases": len(found),
            "with_requirements": sum(bool(v) for v in found.values()),
            "requirement_properties": sum(len(v) for v in found.values()),
            "family": "xunit1", "suites": len(suites)}, problems


# ------------------------------------------------------------------------------ state diagram

def state_svg(out: Path) -> tuple[str | None, str]:
    """The state machine drawn by Graphviz (`ionto diagram --format dot` piped to `dot -Tsvg`)
    as OUT/state_machine.svg: its SVG text, or None and why it was not drawn (no dot binary:
    Debian's `graphviz` package). A drawing is for reading; the table in specs/state_machine.md
    is the specification, so a missing dot is a note, not a failure."""
    import shutil

    from iontocore.shell.diagram import dot

    exe = shutil.which("dot")
    if exe is None:
        return None, "not drawn: Graphviz's dot is not installed (apt-get install graphviz)"
    proc = subprocess.run([exe, "-Tsvg"], input=dot(), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or "<svg" not in proc.stdout:
        return None, f"not drawn: dot failed ({proc.returncode}): {proc.stderr.strip()[-200:]}"
    (out / "state_machine.svg").write_text(proc.stdout, "utf-8")
    version = subprocess.run([exe, "-V"], capture_output=True, text=True).stderr.strip()
    return proc.stdout, f"drawn by {version} from `ionto diagram --format dot`"


# ------------------------------------------------------------------------------ ReqIF

def write_reqif(out: Path, bundle: dict[str, Any], reqs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """OUT/requirements.reqif (evidence/reqif_export.py), checked against the ReqIF schema and
    parsed back."""
    sys.path.insert(0, str(ROOT / "evidence"))
    import reqif_export

    path = out / "requirements.reqif"
    env = bundle["environment"]
    try:
        text = reqif_export.build(bundle["requirements"], reqs, bundle["hazards"], env["generated_utc"],
                                  f"iontocore requirements and their verification at {env['commit']}")
    except ImportError as exc:
        return {}, [f"ReqIF: not written ({exc}; the reqif package is in the test extra)"]
    path.write_text(text, "utf-8")
    problems = reqif_export.validate(path)
    return {"file": path.name, "requirements": len(bundle["requirements"]), "hazards": len(bundle["hazards"]),
            "relations": sum(len(r["hazards"]) for r in bundle["requirements"]),
            "valid": not problems}, problems


# ------------------------------------------------------------------------------ SOUP at run time

def runtime_closure(root: str = "iontocore") -> dict[str, str]:
    """Every distribution installed for iontocore at run time (no extras), with the installed
    version: its requirements, theirs, and so on, markers evaluated for this interpreter."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, str] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            dist = metadata.distribution(req.name)
            key = canonicalize_name(dist.metadata["Name"])
            if key not in found:
                found[key] = dist.version
                todo.append(dist.metadata["Name"])
    return found


def runtime_soup_problems(soup: dict[str, Any], closure: dict[str, str]) -> list[str]:
    """Every runtime package (and CPython) is in specs/soup.toml with the installed version, a
    purpose and a known-anomaly review; every runtime entry is really installed at run time."""
    problems: list[str] = []
    listed = {name.lower(): entry for name, entry in soup.items()}
    wanted = {**closure, "cpython": ".".join(platform.python_version_tuple()[:2])}
    if platform.python_implementation() != "CPython":
        problems.append(f"running on {platform.python_implementation()}, specs/soup.toml reviews CPython")
    for name, version in sorted(wanted.items()):
        entry = listed.get(name)
        if entry is None:
            problems.append(f"{name} {version} is installed at run time but not in specs/soup.toml")
            continue
        if entry.get("kind") not in ("runtime", "platform"):
            problems.append(f"SOUP {name}: installed at run time, but kind is {entry.get('kind')!r}")
        if entry.get("version") != version:
            problems.append(f"SOUP {name}: specs/soup.toml reviews {entry.get('version')!r}, "
                            f"{version} is installed")
        for key in ("purpose", "anomalies"):
            if not entry.get(key):
                problems.append(f"SOUP {name}: no {key} (known-anomaly review)" if key == "anomalies"
                                else f"SOUP {name}: no {key}")
    for name, entry in listed.items():
        if entry.get("kind") in ("runtime", "platform") and name not in wanted:
            problems.append(f"SOUP {name} is listed as {entry['kind']} but is not installed at run time")
    return problems


def runtime_python(out_dir: Path) -> Path:
    """A runtime-only install (README command 1: pip install -c constraints.txt .) to describe."""
    venv = out_dir / "runtime-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        base = getattr(sys, "_base_executable", None) or "python3"
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
                        str(ROOT)], check=True, cwd=ROOT)
    return python


def sbom(python: Path, out_dir: Path, soup: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A CycloneDX SBOM (JSON) of the environment of `python`, made by cyclonedx-py; every
    component in it must be in specs/soup.toml."""
    out = out_dir / "sbom.cdx.json"
    tool = Path(sys.executable).parent / "cyclonedx-py"
    proc = subprocess.run([str(tool), "environment", str(python), "--pyproject",
                           str(ROOT / "pyproject.toml"), "--mc-type", "library",
                           "--output-reproducible", "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0 or not out.exists():
        return {}, [f"SBOM: cyclonedx-py failed ({proc.returncode}): {proc.stderr.strip()[-300:]}"]
    data: dict[str, Any] = json.loads(out.read_text("utf-8"))
    listed = {name.lower() for name in soup}
    problems = [f"SBOM lists {c['name']} {c.get('version')}, which is not in specs/soup.toml"
                for c in data.get("components", []) if c["name"].lower() not in listed]
    return data, problems


# ------------------------------------------------------------------------------ running

def stage(what: str) -> None:
    print(f"evidence: stage {what}", flush=True)


def run_tests(out_dir: Path) -> tuple[dict[str, Any], int, float]:
    results = out_dir / "tests.json"
    env = {**os.environ, "CI": "true", "MODEL_CHECK_DEPTH": "deep"}
    pytest = Path(sys.executable).parent / "pytest"
    started = time.perf_counter()
    proc = subprocess.run([str(pytest), "-q", "-p", "no:cacheprovider",
                           f"--evidence-json={results}"], cwd=ROOT, env=env)
    seconds = time.perf_counter() - started
    data = json.loads(results.read_text("utf-8")) if results.exists() else {"tests": {}}
    return data, proc.returncode, seconds


def run_mutation(out_dir: Path, extra: list[str]) -> dict[str, Any]:
    out = out_dir / "mutation.json"
    if out.exists():
        out.unlink()
    subprocess.run([sys.executable, str(ROOT / "evidence" / "mutation.py"), "--out", str(out),
                    *extra], cwd=ROOT)
    if out.exists():
        report: dict[str, Any] = json.loads(out.read_text("utf-8"))
        return report
    return {"passed": False, "error": "mutation run produced no report"}


# ------------------------------------------------------------------------------ tracing

def review_problems(reviews: dict[str, Any], reqs: dict[str, Any]) -> list[str]:
    """Every review record names who or what reviewed, what, which requirement IDs, at which
    full commit, and the outcome."""
    problems = []
    for rev_id, rec in reviews.items():
        for key in ("reviewer", "what", "items", "commit", "outcome"):
            if not rec.get(key):
                problems.append(f"review {rev_id}: no {key}")
        if rec.get("commit") and not re.fullmatch(r"[0-9a-f]{40}", rec["commit"]):
            problems.append(f"review {rev_id}: commit {rec['commit']!r} is not a full SHA-1")
        if rec.get("outcome") and rec["outcome"] not in ("accepted", "changes requested"):
            problems.append(f"review {rev_id}: outcome {rec['outcome']!r} is not accepted or "
                            "changes requested")
        for rid in rec.get("items", []):
            if rid not in reqs:
                problems.append(f"review {rev_id}: dangling requirement {rid}")
    return problems


def trace(reqs: dict[str, Any], hazards: dict[str, Any], tests: dict[str, Any],
          reviews: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """For every requirement: its tests by kind, their results, and whether every declared
    verification method has at least one passing test (review: an accepted record in
    specs/reviews.toml)."""
    rows, problems = [], []
    for rid, req in reqs.items():
        naming = {nid: t for nid, t in tests.items() if rid in t["requirements"]}
        by_kind: dict[str, dict[str, int]] = {}
        for t in naming.values():
            counts = by_kind.setdefault(t["kind"], {})
            counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
        functions: dict[str, dict[str, Any]] = {}
        for nid, t in naming.items():
            fn = functions.setdefault(t["kind"], {}).setdefault(function_id(nid), {"cases": 0})
            fn["cases"] += 1
            fn[t["outcome"]] = fn.get(t["outcome"], 0) + 1
        # per kind: test functions (a parametrized one counts once), their cases apart; a
        # function verifies when a case passed and none failed; skipped cases verify nothing
        by_function = {kind: {"functions": len(fns),
                              "functions_passed": sum(bool(f.get("passed")) and not f.get("failed")
                                                      for f in fns.values()),
                              "functions_only_skipped": sum(not f.get("passed") and not f.get("failed")
                                                            for f in fns.values()),
                              "cases": sum(f["cases"] for f in fns.values()),
                              "cases_passed": sum(f.get("passed", 0) for f in fns.values()),
                              "cases_skipped": sum(f.get("skipped", 0) + f.get("xfailed", 0)
                                                   + f.get("xpassed", 0) for f in fns.values())}
                       for kind, fns in functions.items()}
        failed = [nid for nid, t in naming.items() if t["outcome"] == "failed"]
        missing = []
        for method in req["verification"]:
            if method == "review":
                if not any(rid in rec.get("items", []) and rec.get("outcome") == "accepted"
                           and rec.get("commit") for rec in reviews.values()):
                    missing.append("review (no accepted review record in specs/reviews.toml)")
            elif not by_function.get(method, {}).get("functions_passed"):
                missing.append(method + (" (only skipped tests)" if by_function.get(method) else ""))
        status = "verified" if not failed and not missing else "NOT VERIFIED"
        if failed:
            problems.append(f"{rid}: failing tests {failed}")
        if missing:
            problems.append(f"{rid}: no passing verification of kind {', '.join(missing)}")
        rows.append({"id": rid, "statement": req["statement"], "hazards": req["hazards"],
                     "methods": req["verification"], "status": status, "by_kind": by_kind,
                     "by_function": by_function,
                     "tests": sorted(naming), "failed": failed, "missing": missing})
    named = {rid for t in tests.values() for rid in t["requirements"]}
    for rid in sorted(named - set(reqs)):
        problems.append(f"tests name unknown requirement {rid}")
    return rows, problems


def facts(tests: dict[str, Any]) -> dict[str, Any]:
    """Numbers the tests recorded: model checking and CrossHair."""
    model, crosshair = {}, []
    for t in tests.values():
        for key, value in t.get("properties", {}).items():
            if key.startswith("model_check_"):
                model[key.removeprefix("model_check_")] = value
            elif key == "crosshair":
                crosshair.append(value)
    for c in crosshair:  # per module (whole-module checks) or per requirement (predicate properties)
        c.setdefault("module", c.get("requirement", "?"))
    return {"model_check": model, "crosshair": sorted(crosshair, key=lambda c: str(c["module"]))}


def environment() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except OSError:
            return ""

    tools = {}
    for name in ("iontocore", "pytest", "hypothesis", "crosshair-tool", "hypothesis-crosshair",
                 "mypy", "mutmut", "coverage", "transitions"):
        try:
            tools[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            tools[name] = "not installed"
    return {"generated_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain")),
            "python": sys.version.split()[0], "platform": platform.platform(), "tools": tools,
            "seeds": {"hypothesis": "profile 'ci': the seed derandomize would use, per test, "
                                    "and the fuzz campaigns' example database read-only "
                                    "(their findings replayed)", "simulator": "seed 0 unless a test sets "
                                    "another", "model_check": "deterministic (no randomness)"}}


# ------------------------------------------------------------------------------ writing

FIRST_SCREEN_FAILURES = 10
"""Failed tests named in the summary at the top of the page (the rest are in evidence.json)."""


def markdown(bundle: dict[str, Any]) -> str:
    s = bundle["summary"]
    lines = [f"# iontocore evidence ({'PASS' if s['passed'] else 'FAIL'})", "",
             f"Commit `{bundle['environment']['commit']}`"
             + (" (with uncommitted changes)" if bundle["environment"]["dirty"] else "")
             + f", generated {bundle['environment']['generated_utc']}, in {s['seconds']} s.", "",
             f"- requirements: {s['requirements_verified']} of {s['requirements']} verified",
             f"- hazards: {s['hazards']}, each with controls",
             f"- tests: {s['tests_passed']} passed, {s['tests_failed']} failed, "
             f"{s['tests_skipped']} skipped or xfailed (not verifying; specs/anomalies.toml) "
             f"(pytest exit {s['pytest_exit']})"]
    failed = s.get("failed_tests", [])
    if failed:  # on the first screen, whether or not a failing test names a requirement
        lines.append("- **failed tests:** " + ", ".join(f"`{t}`" for t in failed[:FIRST_SCREEN_FAILURES])
                     + (f" and {len(failed) - FIRST_SCREEN_FAILURES} more (all in evidence.json)"
                        if len(failed) > FIRST_SCREEN_FAILURES else ""))
    if bundle["problems"]:
        lines.append(f"- **problems:** {len(bundle['problems'])}, listed below")
    lines += [f"- coverage: {s['coverage']}",
              f"- fuzzing: {s.get('fuzzing', 'not recorded')}",
              f"- mutation: {s['mutation']}",
              f"- model checking: {s['model_check']}",
              f"- CrossHair: {s['crosshair']}", ""]
    if bundle["problems"]:
        lines += ["## Problems", ""] + [f"- {p}" for p in bundle["problems"]] + [""]
    t, b = bundle["tested"], bundle["bundle_tree"]
    lines += ["## What was tested (recorded by the test run)", "",
              "| | tested | this bundle's tree |", "|---|---|---|"]
    for key, label in (("commit", "commit"), ("dirty", "uncommitted changes"),
                       ("sources_sha256", "installed iontocore sources (SHA-256 of the per-file hashes)"),
                       ("constraints_sha256", "constraints.txt (SHA-256)"), ("python", "Python"),
                       ("implementation", "implementation"), ("platform", "platform")):
        lines.append(f"| {label} | `{t.get(key, 'not recorded')}` | `{b.get(key)}` |")
    lines += [""] + [f"- **Note:** {n}" for n in bundle["tested_notes"]] + [""]
    risk = bundle["risk"]
    lines += ["## Software safety class", "",
              f"IEC 62304 software safety class **{risk['safety_class']['class']}**. "
              + risk["safety_class"]["justification"], "",
              "## Risk file (ISO 14971; specs/hazards.toml, specs/risk.toml)", "",
              "| hazard | harm | severity | probability before controls | risk before | "
              "probability after controls | residual risk | why |", "|---|---|---|---|---|---|---|---|"]
    for hz in bundle["hazards"]:
        lines.append(f"| {hz['id']} {hz['hazard']} | {hz['harm']} | {hz['severity']} | "
                     f"{hz['probability_before']} | {hz['risk_before']} | {hz['probability_after']} | "
                     f"**{hz['residual_risk']}** | {hz['risk_rationale']} |")
    lines += ["", "Acceptability matrix (rows: severity; columns: probability 1..5):", "",
              "| severity | " + " | ".join(f"P{p}" for p in range(1, 6)) + " |",
              "|---|---|---|---|---|---|"]
    for sev, row in risk["matrix"].items():
        lines.append(f"| {sev} {risk['severity'][sev].split(':')[0]} | " + " | ".join(row) + " |")
    lines += ["", "Probability scale: " + "; ".join(f"P{k} {v}" for k, v in risk["probability"].items())
              + ".", "", risk["method"]["text"], "",
              "**Overall residual risk.** " + risk["overall"]["statement"], ""]
    lines += ["## Traceability: hazard -> requirement -> verification -> result", "",
              "Counts are test functions that verified (a case passed, none failed) of those "
              "naming the requirement; a parametrized function counts once, its cases are shown "
              "apart; skipped cases verify nothing.", "",
              "| hazard | requirement | methods | test functions verifying/total by kind (cases "
              "passed/total, skipped) | result |",
              "|---|---|---|---|---|"]
    for hz in bundle["hazards"]:
        for rid in hz["controls"]:
            r = bundle["requirements_by_id"][rid]
            kinds = "; ".join(f"{k} {v['functions_passed']}/{v['functions']} ({v['cases_passed']}/"
                              f"{v['cases']} cases" + (f", {v['cases_skipped']} skipped" if
                                                       v["cases_skipped"] else "") + ")"
                              for k, v in sorted(r["by_function"].items()))
            lines.append(f"| {hz['id']} {hz['hazard']} | {rid} | {', '.join(r['methods'])} | "
                         f"{kinds} | {r['status']} |")
    lines += ["", "## Requirements", ""]
    for r in bundle["requirements"]:
        lines += [f"### {r['id']} ({r['status']})", "", r["statement"], "",
                  f"Hazards: {', '.join(r['hazards'])}. Verified by: "
                  + ", ".join(f"`{t}`" for t in r["tests"][:12])
                  + (f" and {len(r['tests']) - 12} more" if len(r["tests"]) > 12 else ""), ""]
    lines += ["## SOUP (specs/soup.toml; versions and licences read from the environment)", "",
              "| name | version | licence | kind | purpose | requirements | known anomalies reviewed |",
              "|---|---|---|---|---|---|---|"]
    for row in bundle["soup"]:
        lines.append(f"| {row['name']} | {row['version']} | {row['licence']} | {row['kind']} | "
                     f"{row['purpose']} | {', '.join(row['requirements']) or '-'} | "
                     f"{row.get('anomalies', '-')} |")
    sb = bundle["sbom"]
    lines += ["", f"CycloneDX {sb['spec']} SBOM of a runtime-only install (`{sb['file']}` beside this "
              "file, made by cyclonedx-py; CPython is the platform, not a component):", "",
              "| component | version | licence | purl |", "|---|---|---|---|"]
    for c in sb["components"]:
        lines.append(f"| {c['name']} | {c['version']} | {', '.join(filter(None, c['licences'])) or '-'} "
                     f"| `{c['purl']}` |")
    lines += ["", "## Review records (specs/reviews.toml)", ""]
    lines += [f"- {r['id']}: {r.get('reviewer')} reviewed {r.get('what')} ({', '.join(r.get('items', []))}) "
              f"at `{r.get('commit')}`: {r.get('outcome')}" for r in bundle["reviews"]] or \
        ["No review recorded: no requirement is verified by review."]
    lines += ["", "## Anomaly register (specs/anomalies.toml)", "",
              "Known anomalies of the software and of its verification, their safety impact "
              "and why they are acceptable. A skipped test never counts as verifying.", "",
              "| ID | status | anomaly | tests | skipped or xfailed in this run | safety impact "
              "| why acceptable |", "|---|---|---|---|---|---|---|"]
    for a in bundle["anomalies"]:
        lines.append(f"| {a['id']} | {a['status']} | {a['title']} | "
                     + ", ".join(f"`{t}`" for t in a["tests"])
                     + f" | {len(a['skipped_this_run'])} | {a['safety_impact']} | {a['why_acceptable']} |")
    ju = bundle["junit"]
    lines += ["", "## JUnit XML of the test run", "",
              (f"`{ju['file']}` beside this file (pytest --junitxml, family {ju['family']}): "
               f"{ju['testcases']} test cases, {ju['with_requirements']} carrying their requirement "
               f"IDs as properties (`<property name=\"requirement\" value=\"ID\"/>`, "
               f"{ju['requirement_properties']} in all) and each its verification kind "
               "(`verification_kind`).") if ju else "Not written by the test run."]
    rq = bundle.get("reqif") or {}
    lines += ["", "## ReqIF export", "",
              (f"`{rq['file']}` beside this file: ReqIF 1.2 written with the reqif library (StrictDoc), "
               f"{rq['requirements']} requirements (ID, statement, rationale, hazards, verification "
               f"methods, result in this run, verifying tests), {rq['hazards']} hazards with their "
               f"controls beneath them, {rq['relations']} `controls` relations; "
               + ("valid against the ReqIF XML schema and parsed back." if rq["valid"] else
                  "**NOT valid** (see the problems).")) if rq else "Not written (see the problems)."]
    cov = bundle["coverage"]
    lines += ["", "## Unit verification: coverage of core/ (specs/coverage.toml)", "",
              f"Measured with {cov['tool'] or 'coverage.py'} (line and branch) over the evidence "
              "test run, in the pytest process.", "",
              "**Acceptance criterion.** " + " ".join(cov["criteria"]["statement"].split()), "",
              f"Result: {s['coverage']}.", "",
              "| unit | lines covered/total | line % | branches covered/total | branch % | "
              "excluded lines | missing lines | missing branches | criterion (lines / branches) | result |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in cov["units"]:
        lines.append(f"| `{r['unit']}` | {r['lines_covered']}/{r['statements']} | {r['line_percent']:.2f} | "
                     f"{r['branches_covered']}/{r['branches']} | {r['branch_percent']:.2f} | "
                     f"{r['excluded_lines']} | {r['missing_lines'] or '-'} | {r['missing_branches'] or '-'} | "
                     f"{r['criterion']} | {'met' if r['meets'] else 'NOT MET'} |")
    if cov["criteria"].get("floors"):
        lines += ["", "**Below the aim.** " + " ".join(cov["criteria"].get("floors_statement", "").split())]
    lines += ["", f"Tests run untraced ({cov['untraced_tests']} in this run; leaving tests out can "
              "only lower the measured coverage, so the figures are a lower bound for the whole run):", ""]
    lines += [f"- `{k}`: {v}" for k, v in cov["untraced"].items()] or ["- none"]
    lines += ["", "Lines excluded from coverage, each with its reason:", ""]
    lines += [f"- `{e['file']}:{e['line']}` `{e['code']}`: {e['reason'] or 'NO REASON GIVEN'}"
              for e in cov["excluded"]] or ["- none"]
    if cov["imported_before_start"]:
        lines += ["", "**Note:** imported before coverage started (their module-level lines count "
                  "as missed): " + ", ".join(cov["imported_before_start"])]
    mut = bundle["mutation"]
    lines += ["", "## Mutation testing", "", f"{s['mutation']}.", ""]
    for e in mut.get("equivalent", []):
        lines.append(f"- equivalent: `{e['mutant']}` `{e['line']}`: {e['equivalent_because']}")
    for e in mut.get("unexplained_survivors", []):
        lines.append(f"- SURVIVED: `{e['mutant']}` `{e['line']}`")
    lines += ["", "## Software architecture (specs/architecture.md)", "", bundle["architecture"]]
    lines += ["", "## Fault matrix", "", bundle["fault_matrix"], "## State machine", ""]
    if bundle["state_svg_note"].startswith("drawn"):
        lines += [f"![the state machine](state_machine.svg) ({bundle['state_svg_note']}; "
                  "specs/state_machine.md is the table it is drawn from)", ""]
    else:
        lines += [f"Diagram {bundle['state_svg_note']}; its Mermaid source:", ""]
    lines += ["```mermaid", bundle["state_diagram"], "```", "",
              "## Environment", "", "```json", json.dumps(bundle["environment"], indent=1), "```", ""]
    return "\n".join(lines)


def html_page(md_text: str, bundle: dict[str, Any], svg: str | None = None) -> str:
    """A self-contained page (no network): the Markdown rendered by markdown-it-py (CommonMark
    with GFM tables; raw HTML in the text is escaped), a table row naming a failure marked, the
    state machine's SVG (if drawn) inline in place of its image link."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(md_text)
    for i, tok in enumerate(tokens):
        if tok.type != "tr_open":
            continue
        cells = []
        for nxt in tokens[i + 1:]:
            if nxt.type == "tr_close":
                break
            if nxt.type == "inline":
                cells.append(nxt.content.strip())
        if any("NOT VERIFIED" in c or c in ("FAIL", "NOT MET") for c in cells):
            tok.attrSet("class", "bad")
    body = md.renderer.render(tokens, md.options, {})
    if svg:
        inline = svg[svg.index("<svg"):]  # without the XML declaration and doctype
        body = re.sub(r'<img src="state_machine\.svg"[^>]*>', lambda _: inline, body, count=1)
    verdict = "pass" if bundle["summary"]["passed"] else "fail"
    return ("<!doctype html><meta charset='utf-8'><title>iontocore evidence</title><style>"
            "body{font:14px/1.45 system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;"
            "vertical-align:top}th{background:#f3f3f3}tr.bad td{background:#fde2e2}"
            "pre{background:#f7f7f7;padding:8px;overflow:auto}.pass{color:#1a7f37}.fail{color:#c00}"
            f"</style><p class='{verdict}'><b>{verdict.upper()}</b></p>\n" + body)


def architecture_section(path: Path = SPECS / "architecture.md") -> str:
    """specs/architecture.md as a section of the bundle: its title dropped, its headings one
    level down (under the bundle's own)."""
    out, fence = [], False
    for line in path.read_text("utf-8").splitlines()[1:]:
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            line = "#" + line
        out.append(line)
    return "\n".join(out).strip() + "\n"


# ------------------------------------------------------------------------------ main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "build" / "evidence"))
    ap.add_argument("--skip-mutation", action="store_true",
                    help="build without mutation testing; the bundle says it was not run and "
                         "does not count it as passed")
    ap.add_argument("--no-mutation-cache", action="store_true",
                    help="re-run every mutant (about 40 minutes on 2 cores) instead of reusing "
                         "evidence/mutation_cache.json for unchanged code and tests")
    ap.add_argument("--max-mutants", type=int, default=0, metavar="N",
                    help="refuse (fail) rather than run more than N stale mutants (CI's bound)")
    ap.add_argument("--runtime-python", metavar="PYTHON",
                    help="the interpreter of a runtime-only install to describe in the SBOM (CI: "
                         ".venv-demo/bin/python, README command 1); default: make one in OUT/runtime-venv")
    ap.add_argument("--reuse-tests", metavar="TESTS.json",
                    help="use the results of a test run made with IONTO_EVIDENCE_JSON=TESTS.json "
                         "(CI: the README's test command) instead of running the suite again")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    stage("1/4 specs: requirements, hazards, SOUP")
    reqs, hazards, soup, problems = load_specs()
    soup_rows, soup_problems = soup_table(soup)
    problems += soup_problems + runtime_soup_problems(soup, runtime_closure())
    stage("1/4 specs: SBOM of the runtime install (cyclonedx-py)")
    sbom_data, sbom_problems = sbom(Path(args.runtime_python) if args.runtime_python
                                    else runtime_python(out), out, soup)
    problems += sbom_problems
    if args.reuse_tests:
        stage(f"2/4 tests: reusing {args.reuse_tests}")
        test_data = json.loads(Path(args.reuse_tests).read_text("utf-8"))
        outcomes = [t["outcome"] for t in test_data.get("tests", {}).values()]
        pytest_exit, test_seconds = (1 if "failed" in outcomes or not outcomes else 0), 0.0
    else:
        stage("2/4 tests: the whole suite with the deep model check (pytest prints its progress)")
        test_data, pytest_exit, test_seconds = run_tests(out)
    tests = test_data.get("tests", {})
    junit_path = (Path(args.reuse_tests) if args.reuse_tests else out / "tests.json").with_name("junit.xml")
    if junit_path.is_file() and junit_path.resolve() != (out / "junit.xml").resolve():
        import shutil

        shutil.copyfile(junit_path, out / "junit.xml")
    junit, junit_problems = junit_check(out / "junit.xml", tests)
    problems += junit_problems
    coverage_criteria = tomllib.loads((SPECS / "coverage.toml").read_text("utf-8"))
    coverage_rows, coverage_problems = coverage_units(test_data.get("coverage"), coverage_criteria)
    excluded, exclusion_problems = exclusions()
    problems += coverage_problems + exclusion_problems
    sys.path.insert(0, str(ROOT / "evidence"))
    import provenance

    now = provenance.identify()
    tested_notes, tested_problems = compare_tested(test_data.get("tested"), now)
    problems += tested_problems
    stage("3/4 mutation testing: " + ("skipped" if args.skip_mutation else
                                      "evidence/mutation.py (prints its stages and mutants done)"))
    extra = (["--no-cache"] if args.no_mutation_cache else []) + \
        ([f"--max-mutants={args.max_mutants}"] if args.max_mutants else [])
    mutation = {"passed": False, "skipped": True} if args.skip_mutation else run_mutation(out, extra)
    stage("4/4 traceability and the bundle")
    reviews = tomllib.loads((SPECS / "reviews.toml").read_text("utf-8"))
    rows, trace_problems = trace(reqs, hazards, tests, reviews)
    problems += review_problems(reviews, reqs)
    problems += trace_problems
    anomalies = tomllib.loads((SPECS / "anomalies.toml").read_text("utf-8"))
    risk = tomllib.loads((SPECS / "risk.toml").read_text("utf-8"))
    problems += risk_problems(hazards, risk)
    problems += anomaly_problems(anomalies, declared_skips(), tests)
    if pytest_exit != 0:
        problems.append(f"pytest exited {pytest_exit}")
    if not mutation.get("passed") and not mutation.get("skipped"):
        problems.append("mutation testing: " + ("skipped" if mutation.get("skipped") else
                        f"score {mutation.get('score_excluding_equivalent')} (target "
                        f"{mutation.get('target')}), unexplained survivors "
                        f"{len(mutation.get('unexplained_survivors', []))}"))
    from iontocore.machine import mermaid

    f = facts(tests)
    svg, svg_note = state_svg(out)
    outcomes = [t["outcome"] for t in tests.values()]
    model = f["model_check"]
    bundle: dict[str, Any] = {
        "environment": environment(),
        "tested": test_data.get("tested") or {},
        "bundle_tree": {k: v for k, v in now.items() if k != "sources"},
        "tested_notes": tested_notes,
        "problems": problems,
        "hazards": [{"id": hid, **h} for hid, h in hazards.items()],
        "risk": risk,
        "requirements": rows,
        "requirements_by_id": {r["id"]: r for r in rows},
        "soup": soup_rows,
        "reviews": [{"id": k, **v} for k, v in reviews.items()],
        "sbom": {"file": "sbom.cdx.json", "spec": sbom_data.get("specVersion"),
                 "components": [{"name": c["name"], "version": c.get("version"), "purl": c.get("purl"),
                                 "licences": [lic.get("license", {}).get("id") or
                                              lic.get("license", {}).get("name") or lic.get("expression")
                                              for lic in c.get("licenses", [])]}
                                for c in sbom_data.get("components", [])]},
        "anomalies": [{"id": aid, **a, "skipped_this_run": sorted(
            nid for nid, t in tests.items() if function_id(nid) in a["tests"]
            and t["outcome"] in ("skipped", "xfailed", "xpassed"))} for aid, a in anomalies.items()],
        "coverage": coverage_summary(test_data.get("coverage"), coverage_criteria, coverage_rows,
                                     excluded),
        "junit": junit,
        "mutation": mutation,
        "facts": f,
        "fault_matrix": (SPECS / "fault_matrix.md").read_text("utf-8"),
        "architecture": architecture_section(),
        "state_diagram": mermaid(),
        "state_svg_note": svg_note,
        "tests": tests,
    }
    stage("4/4 ReqIF export of the requirements and their verification (reqif)")
    bundle["reqif"], reqif_problems = write_reqif(out, bundle, reqs)
    problems += reqif_problems
    bundle["summary"] = {
        "passed": not problems,
        "requirements": len(rows),
        "requirements_verified": sum(r["status"] == "verified" for r in rows),
        "hazards": len(hazards),
        "tests_passed": outcomes.count("passed"), "tests_failed": outcomes.count("failed"),
        "failed_tests": sorted(nid for nid, t in tests.items() if t["outcome"] == "failed"),
        "tests_skipped": outcomes.count("skipped") + outcomes.count("xfailed")
        + outcomes.count("xpassed"),
        "pytest_exit": pytest_exit, "pytest_seconds": round(test_seconds, 1),
        "coverage": bundle["coverage"]["text"],
        "mutation": ("skipped" if mutation.get("skipped") else
                     f"{mutation.get('killed')} of {mutation.get('total')} mutants killed "
                     f"({mutation.get('score', 0):.1%}; {mutation.get('score_excluding_equivalent', 0):.1%} "
                     f"excluding {len(mutation.get('equivalent', []))} equivalent; target "
                     f"{mutation.get('target', 0):.0%}; {mutation.get('run_this_time')} run, "
                     f"{mutation.get('from_cache')} from the cache) in {mutation.get('seconds')} s"),
        "model_check": "; ".join(f"{k}: {v['states']} states, {v['transitions']} transitions, "
                                 f"depth {v['depth']}, alphabet {v['alphabet']}, {v['seconds']} s"
                                 for k, v in sorted(model.items())) or "not run",
        "crosshair": "; ".join(f"{c['module']}: {c['confirmed']} confirmed over all paths"
                               + (f", {len(c['not_confirmed'])} not" if c["not_confirmed"] else "")
                               for c in f["crosshair"]) or "not run",
        "seconds": round(time.perf_counter() - started, 1),
    }
    import fuzzing  # evidence/fuzzing.py: the fuzz campaigns' size (issue 17)
    bundle["fuzzing"] = fuzzing.summary()
    bundle["summary"]["fuzzing"] = fuzzing.line(bundle["fuzzing"])
    md = markdown(bundle)
    (out / "evidence.md").write_text(md, "utf-8")
    (out / "evidence.json").write_text(json.dumps(bundle, indent=1, default=str), "utf-8")
    (out / "index.html").write_text(html_page(md, bundle, svg), "utf-8")
    s = bundle["summary"]
    print(f"evidence: {'PASS' if s['passed'] else 'FAIL'}: {s['requirements_verified']}/"
          f"{s['requirements']} requirements verified; {s['tests_passed']} tests passed, "
          f"{s['tests_failed']} failed; mutation: {s['mutation']}; {s['seconds']} s; "
          f"bundle in {out}")
    for p in problems:
        print(f"  problem: {p}")
    return 0 if s["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
