"""Mutation testing of core/ with mutmut, incremental, and its report.

    python evidence/mutation.py [--out build/evidence/mutation.json] [--jobs 2] [--no-cache]

Configuration: evidence/mutation.toml (modules, exclusions with their reasons, test files,
per-function time budget, target). Stages:

1. key: hash every mutated function with the declarations of its module and the core/
   modules it imports, the toolchain and the test
   files (evidence/mutation_cache.py); verdicts whose key is unchanged come from the
   committed cache evidence/mutation_cache.json and nothing runs for them;
2. stage: the package in build/mutation with the conventional `src/iontocore` layout
   (mutmut names modules after their paths), tests and specs beside it;
3. generate the mutants, then mutmut's stats phase (each test run once, recording which
   mutated functions it calls); the per-function selection is every calling test of the
   targeted files, then, within the budget, the tests of the files that own the function's
   module first, then the fastest others (evidence/mutation_select.py);
4. run the stale mutants in parallel (`--max-children`), each against its function's
   selection, fastest test first, stopping at the first failure; progress is printed;
5. report: every survivor is explained in specs/equivalent_mutants.toml (matched by
   function and changed line) or counted as unexplained; the cache is updated.

Exit 0 when the score over non-equivalent mutants meets the target and no survivor is
unexplained.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
import threading
import tomllib
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mutation_cache as cache  # noqa: E402
import mutation_select  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "evidence" / "mutation.toml").read_text("utf-8"))
TARGET: float = CONFIG["target"]
TESTS: list[str] = CONFIG["selection"]["files"]
CACHE = ROOT / "evidence" / "mutation_cache.json"
PYTEST_ARGS = ["-p", "no:cacheprovider", "-x", "-q"]
TIMEOUT = (2.0, 2.0)  # mutmut's timeout_multiplier and timeout_constant (see stage)
KILLED = {1, 3}
SURVIVED = {0}


def status_of(code: int | None) -> str:
    """mutmut's exit-code classification (mutmut.stats.status_by_exit_code, 3.8)."""
    return {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
            34: "skipped", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout",
            255: "timeout", 37: "caught by type check", -11: "segfault", -9: "segfault",
            2: "interrupted", None: "not checked"}.get(code, "suspicious")  # type: ignore[arg-type]


def modules() -> list[Path]:
    return sorted({p for pattern in CONFIG["modules"] for p in ROOT.glob(pattern)})


def excluded(line: str) -> bool:
    return any(re.search(e["pattern"], line) for e in CONFIG["exclude"])


def function_hashes() -> dict[str, str]:
    """Every function under mutation (mangled name -> key: its source and the declarations
    of its module's closure), exclusions left out."""
    sources = {p.name: p.read_text("utf-8") for p in modules()}
    own: dict[str, tuple[str, str]] = {}
    for name, source in sources.items():
        lines = source.splitlines()
        stem = name.removesuffix(".py")
        module = "iontocore" if stem == "__init__" else f"iontocore.{stem}"
        hashes = cache.function_hashes(module, source)
        skip = {m.group(1) for line in lines if excluded(line)
                for m in [re.match(r"\s*def (\w+)", line)] if m}
        own.update({k: (name, v) for k, v in hashes.items() if k.rsplit("ǁ", 1)[-1].removeprefix(
            module + ".x_") not in skip})
    return cache.keyed_functions(sources, own)


def toolchain() -> str:
    return cache.toolchain_hash(ROOT, json.dumps([CONFIG["exclude"], PYTEST_ARGS,
                                                  CONFIG["selection"]["budget_s"]]))


# ------------------------------------------------------------------------------ staging

def stage(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    pkg = dest / "src" / "iontocore"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "core", pkg, ignore=ignore)
    shutil.copytree(ROOT / "hal", pkg / "hal", ignore=ignore)
    shutil.copytree(ROOT / "shell", pkg / "shell", ignore=ignore)
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=ignore)
    shutil.copytree(ROOT / "specs", dest / "specs")
    shutil.copy(ROOT / "evidence" / "mutation_plugin.py", dest / "tests" / "support")
    with open(dest / "tests" / "conftest.py", "a", encoding="utf-8") as fh:
        fh.write("\n\n# staged by evidence/mutation.py\nimport mutation_plugin as _mutation_plugin\n"
                 "_configure_before_mutation = pytest_configure\n\n\n"
                 "def pytest_configure(config):  # type: ignore[no-redef]\n"
                 "    _configure_before_mutation(config)\n"
                 "    config.pluginmanager.register(_mutation_plugin, 'iontocore-mutation')\n")
    only = ", ".join(f'"src/iontocore/{p.name}"' for p in modules())
    patterns = ", ".join(json.dumps(e["pattern"]) for e in CONFIG["exclude"])
    (dest / "pyproject.toml").write_text(f"""[tool.mutmut]
source_paths = ["src"]
only_mutate = [{only}]
pytest_add_cli_args_test_selection = {json.dumps(TESTS)}
pytest_add_cli_args = {json.dumps(PYTEST_ARGS)}
also_copy = ["specs", "tests"]
use_git_change_detection = false
# a mutant whose tests run past (estimated + {TIMEOUT[1]} s) x {TIMEOUT[0]} x 2 CPU seconds counts as
# killed (timeout); the estimate is the traced duration from mutmut's stats, several times
# the untraced run's (mutmut's defaults, x15 + 1 s, let one hanging mutant cost minutes)
timeout_multiplier = {TIMEOUT[0]}
timeout_constant = {TIMEOUT[1]}
# functions excluded with their reasons in evidence/mutation.toml
do_not_mutate_patterns = [{patterns}]

[tool.pytest.ini_options]
addopts = ["--import-mode=importlib", "-p", "no:cacheprovider"]
testpaths = ["tests"]
pythonpath = ["tests/support"]
markers = ["req(*ids): requirement IDs", "slow: slow", "property: property-based"]
""", "utf-8")


def mutmut(dest: Path, *args: str, wait: bool = True) -> Any:
    exe = shutil.which("mutmut") or str(Path(sys.executable).parent / "mutmut")
    # mutants' test runs must not overwrite the real run's results (IONTO_EVIDENCE_JSON)
    env = {k: v for k, v in os.environ.items() if k != "IONTO_EVIDENCE_JSON"}
    env.update(CI="true", HYPOTHESIS_PROFILE="mutation",
               IONTO_MUTATION_KILLERS=str(dest / "killers"))
    if not wait:
        return subprocess.Popen([exe, *args], cwd=dest, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env)
    return subprocess.run([exe, *args], cwd=dest, capture_output=True, text=True, env=env)


_HELPER = """
import json, sys
from mutmut.__main__ import create_mutants, collect_or_load_stats
from mutmut.workers.isolation import get_mutant_runner
from mutmut.utils.file_utils import copy_src_dir, copy_also_copy_files, setup_source_paths
from mutmut.mutation.diff_apply import get_diff_for_mutant, find_mutant
import os
if sys.argv[1] == "generate":
    os.makedirs("mutants", exist_ok=True)
    copy_src_dir(); copy_also_copy_files(); setup_source_paths(); create_mutants(int(sys.argv[2]))
    collect_or_load_stats(get_mutant_runner(1))
else:
    pass
    names = json.load(open(sys.argv[2]))
    print(json.dumps({n: get_diff_for_mutant(n, path=find_mutant(n).path) for n in names}))
"""


def helper(dest: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "IONTO_EVIDENCE_JSON"}
    env.update(CI="true", HYPOTHESIS_PROFILE="mutation")
    proc = subprocess.run([sys.executable, "-c", _HELPER, *args], cwd=dest, capture_output=True,
                          text=True, env=env)
    if proc.returncode:
        raise RuntimeError(f"mutmut helper {args[0]} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc.stdout


def meta_codes(dest: Path, attempts: int = 20) -> dict[str, int | None]:
    """Every mutant's exit code so far (None: not run) from mutmut's .meta files. mutmut
    rewrites a file while its workers run, so a read can catch it empty or half written:
    it is read again (a bounded number of times, 0.1 s apart) rather than crash the run."""
    codes: dict[str, int | None] = {}
    for meta in (dest / "mutants" / "src").rglob("*.meta"):
        for attempt in range(attempts):
            try:
                codes.update(json.loads(meta.read_text("utf-8"))["exit_code_by_key"])
                break
            except (ValueError, KeyError, OSError):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.1)
    return codes


def changed_line(diff: str) -> str:
    plus = [line[1:].strip() for line in diff.splitlines() if line.startswith("+ ") or
            (line.startswith("+") and not line.startswith("+++"))]
    return plus[0] if plus else ""


def function_of(mutant: str) -> str:
    return mutant.partition("__mutmut_")[0]


def progress(msg: str) -> None:
    print(f"mutation: {msg}", flush=True)


# ------------------------------------------------------------------------------ running

def run(out: Path, jobs: int, workdir: Path, use_cache: bool = True,
        write_cache: bool = True, max_mutants: int = 0, stop_after_s: float = 0) -> dict[str, Any]:
    started = time.perf_counter()
    progress("stage 1/5: keys (functions with their modules' declarations, toolchain, tests)")
    fns = function_hashes()
    tool = toolchain()
    files = cache.TestFiles(ROOT)
    selection_files = {f: files.hash(f) for f in TESTS}
    old = cache.load(CACHE)
    cached = cache.usable(old, tool) if use_cache else {}
    need_stats = not cached or old.get("selection_files") != selection_files
    plan: dict[str, tuple[bool, list[int]]] = {
        fn: cache.stale(cached.get(fn), h, files, None) for fn, h in fns.items()}
    work = {fn: p for fn, p in plan.items() if p[0] or p[1]}
    codes: dict[str, int | None] = {}
    killers: dict[str, str] = {}
    selection: dict[str, list[str]] = {}
    diffs: dict[str, str] = {}
    ran: set[str] = set()
    scheduled: set[str] = set()  # the mutants this run was to run
    mutmut_tail = ""
    if work or need_stats:
        progress(f"stage 2/5: staging in {workdir} ({len(work)} of {len(fns)} functions changed"
                 f"{'; test files changed' if need_stats and cached else ''})")
        stage(workdir)
        progress("stage 3/5: generating mutants and mutmut's stats (every selected test once)")
        helper(workdir, "generate", str(jobs))
        generated = meta_codes(workdir)
        stats_file = workdir / "mutants" / "mutmut-stats.json"
        selection = mutation_select.prune(stats_file, CONFIG["selection"]["budget_s"],
                                          CONFIG["selection"].get("owners", {}),
                                          frozenset(CONFIG["selection"].get("targeted", [])))
        by_fn: dict[str, list[str]] = {}
        for name in generated:
            by_fn.setdefault(function_of(name), []).append(name)
        names: list[str] = []
        for fn in fns:
            sel = {cache.test_file(t): files.hash(cache.test_file(t)) for t in selection.get(fn, [])}
            everything, some = cache.stale(cached.get(fn), fns[fn], files, sel)
            mine = by_fn.get(fn, [])
            if everything:
                names += mine
            else:
                names += [n for n in mine if int(n.rpartition("_")[2]) in some]
            if everything or some:
                ran.add(fn)
        total_run = len(names)
        scheduled = set(names)
        (workdir / "killers").mkdir(exist_ok=True)
        if max_mutants and total_run > max_mutants:
            progress(f"stage 4/5: REFUSED: {total_run} stale mutants, more than the bound "
                     f"{max_mutants}; run evidence/mutation.py and commit evidence/mutation_cache.json")
            refused = {"passed": False, "refused": True, "stale_mutants": total_run,
                       "max_mutants": max_mutants, "target": TARGET,
                       "seconds": round(time.perf_counter() - started, 1)}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(refused, indent=1), "utf-8")
            return refused
        if names:
            progress(f"stage 4/5: running {total_run} mutants with --max-children {jobs}")
            proc = mutmut(workdir, "run", "--max-children", str(jobs), *names, wait=False)
            lines: deque[str] = deque(maxlen=40)
            reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
            reader.start()
            todo = set(names)
            try:
                while proc.poll() is None:
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        now = meta_codes(workdir)
                        done = sum(1 for n in todo if now.get(n) is not None)
                        kill = sum(1 for n in todo if now.get(n) in KILLED)
                        progress(f"  {done}/{total_run} mutants done ({kill} killed), "
                                 f"{time.perf_counter() - started:.0f} s")
                        if stop_after_s and time.perf_counter() - started > stop_after_s:
                            progress(f"  stopping after {stop_after_s:.0f} s: functions whose "
                                     "mutants all ran are kept in the cache")
                            break
            finally:  # interrupted: mutmut stops its fork server and workers on SIGTERM
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=60)
            reader.join(timeout=10)
            if proc.returncode:
                mutmut_tail = "".join(lines)[-1500:]
        else:
            progress("stage 4/5: no mutant to run (stats only: the test selection changed)")
        codes = {n: c for n, c in meta_codes(workdir).items() if function_of(n) in ran}
        for path in (workdir / "killers").iterdir():
            killers[path.name] = path.read_text("utf-8")
        others = [n for n, c in codes.items() if c not in KILLED]
        if others:
            (workdir / "others.json").write_text(json.dumps(others), "utf-8")
            diffs = json.loads(helper(workdir, "diffs", str(workdir / "others.json")))
    else:
        progress(f"stages 2-4/5: nothing changed, all {len(fns)} functions from the cache")

    progress("stage 5/5: report")
    functions = dict(cached)
    for fn in ran:
        entry = _entry(fn, fns[fn], codes, killers, diffs, selection.get(fn, []), files,
                       cached.get(fn), scheduled)
        functions[fn] = entry
    functions = {fn: e for fn, e in functions.items() if fn in fns}
    for fn in fns:  # functions without mutants (e.g. only a docstring) are recorded too
        functions.setdefault(fn, {"source": fns[fn], "mutants": 0, "killed": {},
                                  "killer_files": {}, "selection": {}, "other": {}})
    report = _report(functions, ran, time.perf_counter() - started, mutmut_tail)
    if write_cache:
        complete, fell_back = cacheable(functions, cached)
        cache.save(CACHE, {"version": cache.VERSION, "toolchain": tool,
                           "selection_files": old.get("selection_files", {}) if fell_back
                           else selection_files, "functions": complete})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False), "utf-8")
    return report


def cacheable(functions: dict[str, Any], cached: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """What the cache keeps: a function whose every mutant has a verdict, with it; one whose
    run was cut short (--stop-after), its previous entry if it had one, which stays consistent
    with the files it recorded (the next run judges what of it is stale). The flag says
    whether any fell back: the next run must then collect its stats again."""
    complete: dict[str, Any] = {}
    fell_back = False
    for fn, e in functions.items():
        if not any(o["status"] in ("not checked", "interrupted") for o in e["other"].values()):
            complete[fn] = e
        elif fn in cached:
            complete[fn], fell_back = cached[fn], True
    return complete, fell_back


def _entry(fn: str, source: str, codes: dict[str, int | None], killers: dict[str, str],
           diffs: dict[str, str], tests: list[str], files: cache.TestFiles,
           old: dict[str, Any] | None, scheduled: set[str]) -> dict[str, Any]:
    """One function's cache entry: fresh verdicts where it ran, the old ones elsewhere. A
    mutant not `scheduled` this run (its old verdict is still current) keeps its old verdict;
    one scheduled but without a verdict is 'not checked' (the run was cut short)."""
    entry: dict[str, Any] = {"source": source, "mutants": 0, "killed": {}, "killer_files": {},
                             "selection": {}, "other": {}}
    if old and old.get("source") == source:
        entry = json.loads(json.dumps(old))
    fresh = {n: c for n, c in codes.items() if function_of(n) == fn
             and (n in scheduled or c is not None)}
    if fresh:
        entry["mutants"] = max(entry["mutants"], max(int(n.rpartition("_")[2]) for n in fresh))
    for name, code in fresh.items():
        idx = int(name.rpartition("_")[2])
        for nodeid in list(entry["killed"]):
            entry["killed"][nodeid] = [i for i in entry["killed"][nodeid] if i != idx]
            if not entry["killed"][nodeid]:
                del entry["killed"][nodeid]
        entry["other"].pop(str(idx), None)
        if code in KILLED and name in killers:
            nodeid = killers[name]
            entry["killed"].setdefault(nodeid, []).append(idx)
            f = cache.test_file(nodeid)
            entry["killer_files"][f] = files.hash(f)
        else:
            status = "killed" if code in KILLED else status_of(code)
            diff = diffs.get(name, "")
            entry["other"][str(idx)] = {"status": status, "line": changed_line(diff),
                                        "diff": diff.strip()[-800:]}
    entry["killer_files"] = {f: h for f, h in entry["killer_files"].items()
                             if any(cache.test_file(n) == f for n in entry["killed"])}
    entry["selection"] = {cache.test_file(t): files.hash(cache.test_file(t)) for t in tests}
    for nodeid in entry["killed"]:
        entry["killed"][nodeid].sort()
    return entry


def _report(functions: dict[str, Any], ran: set[str], seconds: float, tail: str) -> dict[str, Any]:
    equivalents = tomllib.loads((ROOT / "specs" / "equivalent_mutants.toml").read_text("utf-8"))
    counts: dict[str, int] = {}
    survivors, explained = [], []
    total = fresh = 0
    for fn, entry in sorted(functions.items()):
        n_killed = sum(len(v) for v in entry["killed"].values())
        total += n_killed + len(entry["other"])
        fresh += (n_killed + len(entry["other"])) if fn in ran else 0
        counts["killed"] = counts.get("killed", 0) + n_killed
        for idx, other in sorted(entry["other"].items(), key=lambda kv: int(kv[0])):
            state = other["status"]
            counts[state] = counts.get(state, 0) + 1
            if state in ("killed", "timeout"):
                continue
            why = next((e["why"] for e in equivalents.values()
                        if e["function"] == fn and e["line"] == other["line"]), None)
            item = {"mutant": f"{fn}__mutmut_{idx}", "status": state, "function": fn,
                    "line": other["line"], "diff": other["diff"]}
            if why and state == "survived":
                explained.append({**item, "equivalent_because": why})
            else:
                survivors.append(item)
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    score = killed / total if total else 0.0
    score_ex = killed / (total - len(explained)) if total > len(explained) else 0.0
    return {
        "tool": "mutmut", "modules": [str(p.relative_to(ROOT)) for p in modules()],
        "excluded": CONFIG["exclude"], "tests": TESTS,
        "budget_s": CONFIG["selection"]["budget_s"],
        "total": total, "counts": counts, "killed": killed, "score": round(score, 4),
        "score_excluding_equivalent": round(score_ex, 4), "target": TARGET,
        "equivalent": explained, "unexplained_survivors": survivors,
        "not_checked": counts.get("not checked", 0),
        "passed": bool(total) and score_ex >= TARGET and not survivors,
        "run_this_time": fresh, "from_cache": total - fresh,
        "seconds": round(seconds, 1), "mutmut_tail": tail,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "build" / "evidence" / "mutation.json"))
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 2))
    ap.add_argument("--workdir", default=str(ROOT / "build" / "mutation"))
    ap.add_argument("--no-cache", action="store_true",
                    help="re-run every mutant (the cache is rewritten with the fresh verdicts)")
    ap.add_argument("--keep-cache", action="store_true", help="do not write the cache")
    ap.add_argument("--max-mutants", type=int, default=0, metavar="N",
                    help="refuse (exit 1) rather than run more than N stale mutants (CI's bound)")
    ap.add_argument("--stop-after", type=float, default=0, metavar="SECONDS",
                    help="stop running mutants after SECONDS and report what is done; the "
                         "functions whose mutants all ran are cached (a long run in parts)")
    args = ap.parse_args()
    report = run(Path(args.out), args.jobs, Path(args.workdir), use_cache=not args.no_cache,
                 write_cache=not args.keep_cache, max_mutants=args.max_mutants,
                 stop_after_s=args.stop_after)
    if report.get("refused"):
        print(f"mutation: refused, {report['stale_mutants']} stale mutants exceed --max-mutants "
              f"{report['max_mutants']}")
        return 1
    print(f"mutation: {report['killed']} of {report['total']} killed "
          f"(score {report['score']:.1%}, {report['score_excluding_equivalent']:.1%} without "
          f"{len(report['equivalent'])} equivalent; target {TARGET:.0%}); "
          f"{len(report['unexplained_survivors'])} unexplained survivors; "
          f"{report['run_this_time']} run, {report['from_cache']} from the cache; {report['seconds']} s")
    for s in report["unexplained_survivors"]:
        print(f"  {s['status'].upper()} {s['mutant']}: {s['line']}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
