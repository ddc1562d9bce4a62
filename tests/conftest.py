"""Test configuration: Hypothesis profiles and the requirement-ID marker.

Hypothesis profiles (one switch: HYPOTHESIS_PROFILE):
- ci:   derandomized, no deadline, no example database (chosen when CI=true);
- dev:  the default elsewhere: random, no deadline;
- fuzz: randomized, many more examples and steps, with an example database under
        .hypothesis/ (HYPOTHESIS_PROFILE=fuzz pytest);
- mutation: as ci but 30 examples and no shrinking (evidence/mutation.py: only the verdict
  matters, and each surviving mutant runs the whole selection under coverage tracing);
- campaign: what a HypoFuzz campaign's workers run under (`python -m fuzz.campaign`):
  randomized, writing to the campaign database (tests/support/campaign_db.py).
Every collected Hypothesis test in the ci, dev and fuzz profiles also replays the campaign's database
read-only (the ci profile keeps its derandomized examples: campaign_db.replaying), so
what a campaign found fails the next ordinary run.
Every failure ever found becomes an @example or a plain regression test.

Derandomized is not independent of the rest of the run: Hypothesis draws some values from
the constants in the source of every non-test module imported so far (its "local
constants"), so collecting other test files, or editing core/ or evidence/, changes a
derandomized test's choice sequence. A test that must find something (the planted bugs,
the lying controllers) may not rely on one lucky sequence: give the search a direct way to
what it must find (tests/support/stateful_model.py, through_the_reversal) and check it over
several seeds (tests/test_oracles.py).
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase, MultiplexedDatabase

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests" / "support") not in sys.path:  # a copy of this file run elsewhere
    sys.path.append(str(ROOT / "tests" / "support"))
import campaign_db  # noqa: E402

REQUIREMENTS = tomllib.loads((ROOT / "specs" / "requirements.toml").read_text("utf-8"))

settings.register_profile("ci", derandomize=True, deadline=None, database=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
# derandomize=False said explicitly: a profile's unset values come from the profile loaded
# when it is registered, which is Hypothesis's own derandomized "ci" when CI is set
settings.register_profile("dev", derandomize=False, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("mutation", derandomize=True, deadline=None, database=None,
                          phases=[Phase.explicit, Phase.generate], max_examples=30,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", derandomize=False, deadline=None, max_examples=5_000,
                          stateful_step_count=200, print_blob=True,
                          database=DirectoryBasedExampleDatabase(str(ROOT / ".hypothesis" / "fuzz")),
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
if PROFILE == "campaign":  # only then: the database directory is created when opened
    settings.register_profile("campaign", derandomize=False, deadline=None, print_blob=True,
                              database=campaign_db.writable_database(),
                              suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(PROFILE)
# mutation runs stay independent of whatever campaign ran on this machine (their verdicts
# are cached by evidence/mutation_cache.py)
REPLAY = None if PROFILE in ("campaign", "mutation") else campaign_db.replay_database()
if REPLAY is not None and settings().database is not None:
    # dev and fuzz: their own database, and the campaign's read-only
    settings.register_profile(PROFILE, settings(), database=MultiplexedDatabase(
        settings().database, REPLAY))
    settings.load_profile(PROFILE)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """Innermost (after Hypothesis's own hook has keyed a parametrized test by node id):
    a derandomized test without a database (the ci profile) replays the campaign's database
    with its derandomized seed kept."""
    with campaign_db.replaying(item, REPLAY):
        return (yield)


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
    if config.option.xmlpath:  # JUnit XML (--junitxml; the evidence run): per test, each
        for item in items:     # requirement ID as a property 'requirement', and the kind
            for rid in sorted({rid for mark in item.iter_markers("req") for rid in mark.args}):
                item.user_properties.append(("requirement", rid))
            item.user_properties.append(("verification_kind", _kind(item)))
    if unknown:
        lines = [f"{rid}: {len(ids)} test(s), e.g. {ids[0]}" for rid, ids in sorted(unknown.items())]
        raise pytest.UsageError("tests name requirement IDs that specs/requirements.toml does "
                                "not define:\n" + "\n".join(lines))


# ---- evidence: per-test outcome, requirement IDs, verification kind, recorded properties ----

SYMBOLIC_FILES = {"test_symbolic.py"}
MODEL_CHECK_FILES = {"test_model_check.py"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--evidence-json", metavar="PATH", default=None,
                     help="write every test's outcome, requirement IDs and kind to PATH")


def _kind(item: pytest.Item) -> str:
    name = item.path.name
    if name in SYMBOLIC_FILES and "backend" not in item.name:
        return "symbolic"
    if name in MODEL_CHECK_FILES:
        return "model-check"
    obj = getattr(item, "obj", None)
    if (getattr(obj, "is_hypothesis_test", False) or "TestCase" in item.nodeid
            or "Machine" in item.nodeid or item.get_closest_marker("property")):
        return "property"
    return "test"


JUNIT_ONLY = {"requirement", "verification_kind"}  # in the JSON as "requirements" and "kind"


class _EvidenceRecorder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.tests: dict[str, dict[str, object]] = {}
        self.coverage = _CoreCoverage()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> object:
        """Pause coverage for the tests specs/coverage.toml runs untraced."""
        untraced = self.coverage.untraced(item.nodeid)
        if untraced:
            self.coverage.pause()
        try:
            return (yield)
        finally:
            if untraced:
                self.coverage.resume()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            reqs = sorted({rid for mark in item.iter_markers("req") for rid in mark.args})
            self.tests[item.nodeid] = {"requirements": reqs, "kind": _kind(item),
                                       "outcome": "not run", "seconds": 0.0, "properties": {}}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.tests.setdefault(report.nodeid, {"requirements": [], "kind": "test",
                                                      "outcome": "not run", "seconds": 0.0,
                                                      "properties": {}})
        entry["seconds"] = round(float(entry["seconds"]) + report.duration, 3)  # type: ignore[arg-type]
        if report.when == "call" or report.outcome != "passed":
            if entry["outcome"] in ("not run", "passed"):
                outcome = report.outcome
                if hasattr(report, "wasxfail"):  # an expected failure: specs/anomalies.toml
                    outcome = "xfailed" if report.skipped else "xpassed"
                entry["outcome"] = outcome
        entry["properties"].update({k: v for k, v in report.user_properties  # type: ignore[union-attr]
                                    if k not in JUNIT_ONLY})

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        import json

        coverage = self.coverage.finish()
        with open(self.path, "w", encoding="utf-8") as fh:
            json.dump({"hypothesis_profile": PROFILE, "tested": _provenance(), "coverage": coverage,
                       "tests": self.tests}, fh, indent=1, default=str)


class _CoreCoverage:
    """Line and branch coverage of core/ (the iontocore package without hal, shell and home) over
    the whole evidence run, measured in this process with coverage.py. Started before any test
    module is imported; code run in subprocesses (the CLI tests) is not counted."""

    def __init__(self) -> None:
        import sys

        self.preloaded = sorted(m for m in sys.modules if m == "iontocore" or m.startswith("iontocore."))
        try:
            import coverage
        except ImportError:
            self.cov = None
            return
        self.untraced_prefixes = tuple(tomllib.loads((ROOT / "specs" / "coverage.toml").read_text(
            "utf-8")).get("untraced", {}))
        self.untraced_tests: list[str] = []
        self.cov = coverage.Coverage(branch=True, data_file=None, source_pkgs=["iontocore"],
                                     omit=[f"{ROOT}/hal/*", f"{ROOT}/shell/*", f"{ROOT}/home/*",
                                           "*/iontocore/hal/*", "*/iontocore/shell/*",
                                           "*/iontocore/home/*"])
        self.cov.start()

    def untraced(self, nodeid: str) -> bool:
        if self.cov is None or not nodeid.startswith(self.untraced_prefixes):
            return False
        self.untraced_tests.append(nodeid)
        return True

    def pause(self) -> None:
        assert self.cov is not None
        self.cov.stop()

    def resume(self) -> None:
        assert self.cov is not None
        self.cov.start()

    def finish(self) -> dict[str, object]:
        """The coverage.py JSON report, files named as in the source tree ('core/<module>.py')."""
        import json
        import tempfile

        if self.cov is None:
            return {"error": "coverage.py is not installed"}
        self.cov.stop()
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "coverage.json"
            try:
                self.cov.json_report(outfile=str(out))
            except Exception as exc:  # coverage.exceptions.NoDataError: no core/ code ran
                return {"tool": "coverage.py", "branch": True, "files": {}, "error": str(exc),
                        "untraced_tests": self.untraced_tests}
            report = json.loads(out.read_text("utf-8"))
        import iontocore

        base = Path(iontocore.__file__).resolve().parent
        files = {"core/" + Path(name).resolve().relative_to(base).as_posix(): data
                 for name, data in report.get("files", {}).items()}
        return {"tool": f"coverage.py {report['meta']['version']}", "branch": True,
                "imported_before_start": self.preloaded, "untraced_tests": self.untraced_tests,
                "totals": report.get("totals"),
                "files": dict(sorted(files.items()))}


def _provenance() -> dict[str, object]:
    """What this run tested: commit, dirty flag, hashes of the installed sources and of
    constraints.txt, Python and platform (evidence/provenance.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("iontocore_provenance",
                                                  ROOT / "evidence" / "provenance.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.identify()  # type: ignore[no-any-return]


@pytest.hookimpl(tryfirst=True)  # before pytest's junitxml plugin reads --junitxml
def pytest_configure(config: pytest.Config) -> None:
    # the option, or IONTO_EVIDENCE_JSON so that CI can run the README's command verbatim
    path = config.getoption("--evidence-json") or os.environ.get("IONTO_EVIDENCE_JSON")
    if path:
        config.pluginmanager.register(_EvidenceRecorder(path), "iontocore-evidence")
        if not config.option.xmlpath:  # JUnit XML beside it, unless --junitxml names a file
            config.option.xmlpath = str(Path(path).with_name("junit.xml"))

