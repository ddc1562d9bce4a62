"""The mutation results cache re-runs exactly what a change can affect (evidence/mutation_cache.py),
and the per-function test selection keeps the fastest tests within the budget."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "evidence"))
import mutation_cache as cache  # noqa: E402
import mutation_select  # noqa: E402

SOURCE = '''
LIMIT = 10

def f(x):
    """Docstring."""
    return x + 1

class C:
    K = 3

    def m(self, y):
        return y * 2
'''


def test_function_keys_follow_mutmut_names_and_ignore_docstrings() -> None:
    base = cache.function_hashes("iontocore.mod", SOURCE)
    assert set(base) == {"iontocore.mod.x_f", "iontocore.mod.xǁCǁm"}
    redoc = cache.function_hashes("iontocore.mod", SOURCE.replace("Docstring.", "Other words."))
    assert redoc == base
    changed = cache.function_hashes("iontocore.mod", SOURCE.replace("x + 1", "x + 2"))
    assert changed["iontocore.mod.x_f"] != base["iontocore.mod.x_f"]
    assert changed["iontocore.mod.xǁCǁm"] == base["iontocore.mod.xǁCǁm"]


def test_a_declaration_re_runs_only_the_functions_of_modules_that_can_read_it() -> None:
    """A field added to one module changes the keys of its own functions and of the modules
    importing it (transitively), not of the others (the key used to hash all of core/)."""
    sources = {"a.py": "X = 1\n\ndef fa():\n    return X\n",
               "b.py": "from .a import X\n\ndef fb():\n    return X\n",
               "c.py": "from . import b\n\ndef fc():\n    return 1\n",
               "d.py": "Y = 2\n\ndef fd():\n    return Y\n"}
    assert cache.module_closure(sources) == {"a.py": ["a.py"], "b.py": ["a.py", "b.py"],
                                             "c.py": ["a.py", "b.py", "c.py"], "d.py": ["d.py"]}
    own = {f"f{m}": (f"{m}.py", "h") for m in "abcd"}
    base = cache.keyed_functions(sources, own)
    changed = cache.keyed_functions({**sources, "a.py": sources["a.py"].replace("X = 1", "X = 3")}, own)
    assert [f for f in own if changed[f] != base[f]] == ["fa", "fb", "fc"]
    body = cache.keyed_functions({**sources, "a.py": sources["a.py"].replace("return X", "return -X")}, own)
    assert body == base          # a function body is the function's own key, not a declaration


def test_declarations_key_sees_constants_and_fields_not_function_bodies() -> None:
    base = cache.declarations_hash({"mod.py": SOURCE})
    assert cache.declarations_hash({"mod.py": SOURCE.replace("x + 1", "x - 1")}) == base
    assert cache.declarations_hash({"mod.py": SOURCE.replace("LIMIT = 10", "LIMIT = 11")}) != base
    assert cache.declarations_hash({"mod.py": SOURCE.replace("K = 3", "K = 4")}) != base


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "tests" / "support").mkdir(parents=True)
    (tmp_path / "hal").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text("PROFILE = 'ci'\n")
    (tmp_path / "tests" / "support" / "helper.py").write_text("from iontocore.hal import sim\n")
    (tmp_path / "tests" / "support" / "other.py").write_text("X = 1\n")
    (tmp_path / "hal" / "__init__.py").write_text("")
    (tmp_path / "hal" / "sim.py").write_text("from .plant import P\n")
    (tmp_path / "hal" / "plant.py").write_text("P = 1\n")
    (tmp_path / "tests" / "test_a.py").write_text("import helper\n\ndef test_a():\n    pass\n")
    return tmp_path


def test_a_test_file_key_covers_what_it_imports_transitively(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    base = cache.TestFiles(root).hash("tests/test_a.py")
    (root / "tests" / "support" / "other.py").write_text("X = 2\n")
    assert cache.TestFiles(root).hash("tests/test_a.py") == base  # not imported
    for path, text in [("hal/plant.py", "P = 2\n"), ("tests/conftest.py", "PROFILE = 'x'\n"),
                       ("tests/support/helper.py", "from iontocore.hal import sim  # x\n")]:
        old = (root / path).read_text()
        (root / path).write_text(text)
        assert cache.TestFiles(root).hash("tests/test_a.py") != base, path
        (root / path).write_text(old)
    assert cache.TestFiles(root).hash("tests/test_a.py") == base
    assert cache.TestFiles(root).hash("tests/test_missing.py") == ""


def test_stale_verdicts(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "tests" / "test_b.py").write_text("def test_b():\n    pass\n")
    files = cache.TestFiles(root)
    a, b = files.hash("tests/test_a.py"), files.hash("tests/test_b.py")
    entry = {"source": "s1", "killed": {"tests/test_a.py::test_a": [1, 2], "tests/test_b.py::test_b": [3]},
             "killer_files": {"tests/test_a.py": a, "tests/test_b.py": b},
             "selection": {"tests/test_a.py": a, "tests/test_b.py": b},
             "other": {"4": {"status": "survived"}}}
    assert cache.stale(None, "s1", files, None) == (True, [])
    assert cache.stale(entry, "s2", files, None) == (True, [])
    assert cache.stale(entry, "s1", files, None) == (False, [])
    assert cache.stale(entry, "s1", files, {"tests/test_a.py": a, "tests/test_b.py": b}) == (False, [])
    # a new test file reaching the function re-runs its survivors only
    assert cache.stale(entry, "s1", files, {"tests/test_a.py": a, "tests/test_b.py": b,
                                            "tests/test_c.py": "h"}) == (False, [4])
    # a changed killing test re-runs what it killed, and the survivors that ran it
    (root / "tests" / "test_b.py").write_text("def test_b():\n    assert True\n")
    assert cache.stale(entry, "s1", cache.TestFiles(root), None) == (False, [3, 4])


def test_selection_keeps_the_fastest_tests_within_the_budget() -> None:
    durations = {"a": 0.1, "b": 3.0, "c": 1.0, "d": 10.0}
    assert mutation_select.choose(["d", "b", "a", "c"], durations, 4.5) == ["a", "c", "b"]
    assert mutation_select.choose(["d", "b", "a", "c"], durations, 1.0) == ["a"]
    assert mutation_select.choose(["d"], durations, 1.0) == ["d"]  # one at least
    assert mutation_select.choose([], durations, 1.0) == []
    # a test too slow for what is left is skipped, a quicker one after it still fits
    assert mutation_select.choose(["a", "b", "c"], {"a": 1.0, "b": 5.0, "c": 2.0}, 3.5) == ["a", "c"]


def test_selection_takes_the_tests_of_the_owning_module_first() -> None:
    """Persistence.update is called by hundreds of quick scenario tests; the budget used to
    fill with those and left test_persistence.py out, so its mutants survived."""
    fn = "iontocore.persistence.xǁPersistenceǁupdate"
    assert mutation_select.module_of(fn) == "persistence"
    assert mutation_select.module_of("iontocore.x_top") == ""
    owners = mutation_select.owners_of(fn, {"persistence": ["tests/test_monitors.py"]})
    assert owners == {"tests/test_persistence.py", "tests/test_monitors.py"}
    tests = [f"tests/test_fault_matrix.py::t{i}" for i in range(8)] + [
        "tests/test_persistence.py::a", "tests/test_persistence.py::b", "tests/test_monitors.py::m"]
    durations = {t: 0.01 for t in tests} | {"tests/test_persistence.py::a": 0.5,
                                           "tests/test_persistence.py::b": 2.0,
                                           "tests/test_monitors.py::m": 0.2}
    chosen = mutation_select.choose(tests, durations, 2.78, owners)
    assert chosen[:3] == ["tests/test_monitors.py::m", "tests/test_persistence.py::a",
                          "tests/test_persistence.py::b"]
    assert chosen[3:] == [f"tests/test_fault_matrix.py::t{i}" for i in range(8)]
    assert mutation_select.choose(tests, durations, 2.75, owners)[3:] == [
        f"tests/test_fault_matrix.py::t{i}" for i in range(5)]
    # without owners: the fastest first, and the owners' slow tests left out
    assert "tests/test_persistence.py::b" not in mutation_select.choose(tests, durations, 2.0)


def test_selection_keeps_every_targeted_test_beyond_the_budget() -> None:
    """Supervisor.observe's budget filled with supervision's own owners, and the controller's
    edge tests that kill its mutants (targeted files) never ran against them."""
    fn = "iontocore.supervision.xǁSupervisorǁobserve"
    owners = mutation_select.owners_of(fn, {})
    tests = [f"tests/test_supervision.py::o{i}" for i in range(5)] + [
        "tests/test_step_edges.py::slow", "tests/test_step_edges.py::quick",
        "tests/test_bounds.py::other"]
    durations = {t: 1.0 for t in tests} | {"tests/test_step_edges.py::slow": 3.0,
                                           "tests/test_step_edges.py::quick": 0.5}
    targeted = {"tests/test_step_edges.py"}
    chosen = mutation_select.choose(tests, durations, 3.0, owners, targeted)
    # every targeted test, fastest first, then the owners within the budget, no others
    assert chosen == ["tests/test_step_edges.py::quick", "tests/test_step_edges.py::slow",
                      "tests/test_supervision.py::o0", "tests/test_supervision.py::o1",
                      "tests/test_supervision.py::o2"]
    # without targeted files the edge tests fall out of the budget
    assert "tests/test_step_edges.py::slow" not in mutation_select.choose(tests, durations, 3.0,
                                                                         owners)
    # targeted tests do not count against the budget of the rest
    assert mutation_select.choose(["tests/test_step_edges.py::slow", "tests/test_bounds.py::other"],
                                  durations, 1.0, owners, targeted) == [
        "tests/test_step_edges.py::slow", "tests/test_bounds.py::other"]


def test_the_targeted_files_are_selected_files() -> None:
    import tomllib
    config = tomllib.loads((ROOT / "evidence" / "mutation.toml").read_text("utf-8"))["selection"]
    assert config["targeted"] and set(config["targeted"]) <= set(config["files"])
    assert len(config["files"]) == len(set(config["files"]))


def test_prune_rewrites_the_stats_with_owners_first(tmp_path: Path) -> None:
    stats = tmp_path / "mutmut-stats.json"
    fn = "iontocore.trend.xǁImpedanceTrendǁupdate"
    stats.write_text(json.dumps({"duration_by_test": {"tests/test_x.py::q": 0.1,
                                                      "tests/test_trend.py::s": 5.0},
                                 "tests_by_mangled_function_name": {
                                     fn: ["tests/test_x.py::q", "tests/test_trend.py::s"]}}))
    assert mutation_select.prune(stats, 5.0) == {fn: ["tests/test_trend.py::s"]}
    assert json.loads(stats.read_text())["tests_by_mangled_function_name"] == {
        fn: ["tests/test_trend.py::s"]}


def test_a_run_cut_short_keeps_the_previous_verdicts_of_its_unfinished_functions() -> None:
    """--stop-after: a function whose mutants did not all run keeps its old entry (consistent
    with the files it recorded), never a mix, and never loses it (the cache once shrank from
    148 functions to 65 when a run was stopped early)."""
    import mutation

    done = {"other": {"3": {"status": "survived"}}, "killed": {}}
    cut = {"other": {"1": {"status": "not checked"}}, "killed": {}}
    before = {"other": {"1": {"status": "survived"}}, "killed": {"t.py::x": [2]}}
    kept, fell_back = mutation.cacheable({"a": done, "b": cut, "c": cut}, {"b": before})
    assert kept == {"a": done, "b": before} and fell_back
    kept, fell_back = mutation.cacheable({"a": done}, {"b": before})
    assert kept == {"a": done} and not fell_back


def test_a_partly_stale_function_keeps_the_verdicts_that_were_not_re_run() -> None:
    """Only the stale mutants of a function run; the others keep their old verdicts (they
    were reported 'not checked', 740 of them in one run, and the function's fresh verdicts
    were then thrown away)."""
    import mutation

    fn = "iontocore.m.x_f"
    old = {"source": "k", "mutants": 3, "killed": {"tests/t.py::a": [1]}, "killer_files": {},
           "selection": {}, "other": {"2": {"status": "survived", "line": "x", "diff": ""},
                                      "3": {"status": "survived", "line": "y", "diff": ""}}}
    codes = {f"{fn}__mutmut_1": None, f"{fn}__mutmut_2": 1, f"{fn}__mutmut_3": None}

    class Files:
        def hash(self, f: str) -> str:
            return "h"
    entry = mutation._entry(fn, "k", codes, {f"{fn}__mutmut_2": "tests/t.py::b"}, {}, [], Files(),  # type: ignore[arg-type]
                            old, scheduled={f"{fn}__mutmut_2", f"{fn}__mutmut_3"})
    assert entry["killed"] == {"tests/t.py::a": [1], "tests/t.py::b": [2]}   # 1 kept, 2 fresh
    assert entry["other"] == {"3": {"status": "not checked", "line": "", "diff": ""}}  # cut short
