"""Mutation testing of the safety-path modules with mutmut, and its report.

    python evidence/mutation.py [--out build/evidence/mutation.json] [--jobs 2]

mutmut names modules after their file paths, so the package is staged in a scratch tree
with the conventional `src/iontocore` layout (core/ as iontocore, hal/ and shell/ inside
it), with the tests and specs beside it; mutmut runs there. Every surviving mutant must be
killed by a test or explained as equivalent in specs/equivalent_mutants.toml (matched by
function and the changed line, so the explanation survives renumbering).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["shaping.py", "limits.py", "dose.py", "supervision.py"]
"""The safety-path modules under mutation: set-point shaping, the layered limit and device
limits, dose arithmetic, and every supervision monitor."""
TESTS = ["tests/test_monitors.py", "tests/test_limits.py", "tests/test_profiles.py",
         "tests/test_fault_matrix.py", "tests/test_exceptions.py", "tests/test_machine.py",
         "tests/test_stateful.py"]
"""Tests run against mutants, fastest and sharpest first: the unit tests of the predicates
and limits, the fault matrix, exception injection and the stateful property test. The
whole-session scenario tests also exercise these modules but add minutes per surviving
mutant without killing more (measured: 136 s of tests per survivor against 10 s); the CLI
subprocess tests and CrossHair runs would test the installed, unmutated package."""
TARGET = 0.90


def stage(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    pkg = dest / "src" / "iontocore"
    shutil.copytree(ROOT / "core", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "hal", pkg / "hal", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "shell", pkg / "shell", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "specs", dest / "specs")
    only = ", ".join(f'"src/iontocore/{m}"' for m in MODULES)
    tests = ", ".join(f'"{t}"' for t in TESTS)
    (dest / "pyproject.toml").write_text(f"""[tool.mutmut]
source_paths = ["src"]
only_mutate = [{only}]
pytest_add_cli_args_test_selection = [{tests}]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q"]
also_copy = ["specs", "tests"]
# render_spec() writes specs/limits.md (documentation, checked by its own test): its mutants
# say nothing about the safety path and cost a minute each.
do_not_mutate_patterns = ["^def render_spec[(]"]

[tool.pytest.ini_options]
addopts = ["--import-mode=importlib", "-p", "no:cacheprovider"]
testpaths = ["tests"]
pythonpath = ["tests/support"]
markers = ["req(*ids): requirement IDs", "slow: slow", "property: property-based"]
""", "utf-8")


def mutmut(dest: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("mutmut") or str(Path(sys.executable).parent / "mutmut")
    # mutants' test runs must not overwrite the real run's results (IONTO_EVIDENCE_JSON)
    env = {k: v for k, v in os.environ.items() if k != "IONTO_EVIDENCE_JSON"}
    env.update(CI="true", HYPOTHESIS_PROFILE="mutation")
    return subprocess.run([exe, *args], cwd=dest, capture_output=True, text=True, env=env)


def changed_line(diff: str) -> str:
    plus = [line[1:].strip() for line in diff.splitlines() if line.startswith("+ ") or
            (line.startswith("+") and not line.startswith("+++"))]
    return plus[0] if plus else ""


def run(out: Path, jobs: int, workdir: Path) -> dict[str, object]:
    started = time.perf_counter()
    stage(workdir)
    proc = mutmut(workdir, "run", "--max-children", str(jobs))
    results = mutmut(workdir, "results", "--all", "true")
    status: dict[str, str] = {}
    for line in results.stdout.splitlines():
        name, _, state = line.strip().rpartition(": ")
        if name:
            status[name] = state
    equivalents = tomllib.loads((ROOT / "specs" / "equivalent_mutants.toml").read_text("utf-8"))
    survivors, explained = [], []
    for name, state in sorted(status.items()):
        if state not in ("survived", "no tests"):
            continue
        diff = mutmut(workdir, "show", name).stdout
        function = re.sub(r"__mutmut_\d+$", "", name)
        line = changed_line(diff)
        why = next((e["why"] for e in equivalents.values()
                    if e["function"] == function and e["line"] == line), None)
        entry = {"mutant": name, "status": state, "function": function, "line": line,
                 "diff": diff.strip()[-800:]}
        if why:
            explained.append({**entry, "equivalent_because": why})
        else:
            survivors.append(entry)
    counts: dict[str, int] = {}
    for state in status.values():
        counts[state] = counts.get(state, 0) + 1
    total = len(status)
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    score = killed / total if total else 0.0
    score_without_equivalents = killed / (total - len(explained)) if total > len(explained) else 0.0
    report: dict[str, object] = {
        "tool": "mutmut", "modules": [f"core/{m}" for m in MODULES], "tests": TESTS,
        "total": total, "counts": counts, "killed": killed, "score": round(score, 4),
        "score_excluding_equivalent": round(score_without_equivalents, 4), "target": TARGET,
        "equivalent": explained, "unexplained_survivors": survivors,
        "passed": bool(total) and score_without_equivalents >= TARGET and not survivors,
        "seconds": round(time.perf_counter() - started, 1),
        "mutmut_exit": proc.returncode,
        "mutmut_tail": (proc.stdout + proc.stderr)[-1500:] if proc.returncode else "",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1), "utf-8")
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "build" / "evidence" / "mutation.json"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--workdir", default=str(ROOT / "build" / "mutation"))
    args = ap.parse_args()
    report = run(Path(args.out), args.jobs, Path(args.workdir))
    print(f"mutation: {report['killed']} of {report['total']} killed "
          f"(score {report['score']:.1%}, {report['score_excluding_equivalent']:.1%} without "
          f"{len(report['equivalent'])} equivalent; target {TARGET:.0%}); "
          f"{len(report['unexplained_survivors'])} unexplained survivors; {report['seconds']} s")
    for s in report["unexplained_survivors"]:  # type: ignore[union-attr]
        print(f"  SURVIVED {s['mutant']}: {s['line']}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
