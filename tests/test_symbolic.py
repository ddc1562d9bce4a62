"""Symbolic verification: CrossHair proves the contracts of every pure function on the
safety path over all paths, and key properties also run on the hypothesis-crosshair
backend. Both are shown able to fail on planted bugs."""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbolic_properties as props
from iontocore import limits, shaping, supervision
from iontocore.supervision import uncommanded
from iontocore.limits import effective_limit_ua
from iontocore.shaping import next_magnitude_na, polarity_may_change

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = ROOT / "tests" / "support"
CROSSHAIR = shutil.which("crosshair") or str(Path(sys.executable).parent / "crosshair")
PER_CONDITION_TIMEOUT = 10  # the defaults are too shallow to catch off-by-ones

# module -> the pure safety-path functions whose own contracts are proved
SAFETY_FUNCTIONS = {
    "iontocore.limits": {"effective_limit_ua", "trip_threshold_ua"},
    "iontocore.shaping": {"step_na", "max_step_ua", "next_magnitude_na", "polarity_may_change"},
    "iontocore.dose": {"ramp_down_bound_uams"},
    "iontocore.supervision": {"tracking_floor_ua", "uncommanded", "amplitude_ua",
                              "trip_average_ua", "short_of"},
    "iontocore.persistence": {"persistence_window_ms"},
    "iontocore.trend": {"impedance_fell"},
    "iontocore.supply": {"supply_stop_mv"},
}
# functions of those modules that carry no contract of their own, and why
EXEMPT = {
    "iontocore.limits.render_spec": "renders specs/limits.md (documentation, tested by its own test)",
    "iontocore.dose.uams_to_ma_min": "a float for display; the core's dose arithmetic is integer",
    "iontocore.dose.ramp_down_nominal_uams": "a nominal estimate (not a bound) on which a research "
                                             "pulse given by charge ends; its result is pinned by "
                                             "hand calculations in tests/test_research_protocol.py",
    "iontocore.supervision.admit": "sample admission; property-tested with every malformed input "
                                   "class (tests/test_exceptions.py, the stateful test)",
    "iontocore.supervision._as_int": "admit's helper",
    "iontocore.supervision.supply_reading": "reads the supply field as admit reads the others; "
                                            "every malformed type in tests/test_supply.py",
    "iontocore.trend._higher": "orders the trend's window (exact cross-multiplication); its "
                               "effect is pinned by tests/test_trend.py's window boundaries",
}
# what each module's own contracts prove
REQS = {"iontocore.limits": ("CTL-001", "SUP-001"), "iontocore.shaping": ("CTL-002", "CTL-003"),
        "iontocore.dose": ("DOSE-002",), "iontocore.supervision": ("SUP-002", "SUP-014", "SUP-007"),
        "iontocore.trend": ("SUP-018",), "iontocore.supply": ("SUP-019",),
        "iontocore.persistence": ("SUP-021",)}


def crosshair(*targets: str, cwd: Path | None = None, env_path: str | None = None) -> list[str]:
    env = None
    if env_path:
        import os

        env = {**os.environ, "PYTHONPATH": env_path}
    out = subprocess.run([CROSSHAIR, "check", "--analysis_kind=PEP316",
                          f"--per_condition_timeout={PER_CONDITION_TIMEOUT}", "--report_all", *targets],
                         capture_output=True, text=True, timeout=600, cwd=cwd, env=env)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]


def posts(f: object) -> list[str]:
    return [m.strip() for m in re.findall(r"^\s*post:(.*)$", inspect.getdoc(f) or "", re.M)]


def contract_lines(module: str) -> int:
    """How many post lines the module's functions carry (one result line per post)."""
    mod = importlib.import_module(module)
    return sum(len(posts(f)) for _, f in inspect.getmembers(mod, inspect.isfunction)
               if f.__module__ == module)


@pytest.mark.parametrize("module", [pytest.param(m, marks=pytest.mark.req(*REQS[m]), id=m.split(".")[-1])
                                    for m in sorted(SAFETY_FUNCTIONS)])
def test_crosshair_confirms_every_contract(module: str, record_property: pytest.RecordProperty) -> None:
    mod = importlib.import_module(module)
    with_contracts = {name for name, f in inspect.getmembers(mod, inspect.isfunction)
                      if f.__module__ == module and posts(f)}
    assert SAFETY_FUNCTIONS[module] <= with_contracts, SAFETY_FUNCTIONS[module] - with_contracts
    lines = crosshair(module)
    confirmed = [line for line in lines if line.endswith("Confirmed over all paths.")]
    others = [line for line in lines if not line.endswith("Confirmed over all paths.")]
    record_property("crosshair", {"module": module, "confirmed": len(confirmed),
                                  "not_confirmed": others})
    assert not others, others
    assert len(confirmed) == contract_lines(module)


@pytest.mark.parametrize("rid", [pytest.param(r, marks=pytest.mark.req(r), id=r)
                                 for r in sorted(props.PROPERTIES)])
def test_crosshair_proves_the_predicates_properties(rid: str, record_property: pytest.RecordProperty) -> None:
    names = props.PROPERTIES[rid]
    lines = crosshair(*(f"symbolic_properties.{n}" for n in names), cwd=SUPPORT,
                      env_path=str(SUPPORT))
    confirmed = [line for line in lines if line.endswith("Confirmed over all paths.")]
    others = [line for line in lines if not line.endswith("Confirmed over all paths.")]
    record_property("crosshair", {"requirement": rid, "properties": names,
                                  "confirmed": len(confirmed), "not_confirmed": others})
    assert not others, others
    assert len(confirmed) == len(names)


def test_no_contract_restates_its_function() -> None:
    """A post that defines the whole result (`__return__ == <expression>`) restates the body
    and proves nothing; predicates get properties instead (symbolic_properties.py)."""
    restating = [f"{m}.{name}: {post}" for m in SAFETY_FUNCTIONS
                 for name, f in inspect.getmembers(importlib.import_module(m), inspect.isfunction)
                 for post in posts(f) if re.match(r"__return__\s*==", post)]
    assert not restating, restating


def test_every_safety_path_function_has_a_contract_or_properties() -> None:
    missing = []
    for module in SAFETY_FUNCTIONS:
        mod = importlib.import_module(module)
        for name, f in inspect.getmembers(mod, inspect.isfunction):
            if f.__module__ != module:
                continue
            covered = (name in SAFETY_FUNCTIONS[module] or f"{module}.{name}" in EXEMPT
                       or (module == "iontocore.supervision" and name in props.COVERS))
            if not covered:
                missing.append(f"{module}.{name}")
    assert not missing, f"no contract, no properties, no stated exemption: {missing}"
    proved = {n for names in props.PROPERTIES.values() for n in names}
    defined = {n for n, f in inspect.getmembers(props, inspect.isfunction) if f.__module__ == props.__name__}
    assert proved == defined, (defined - proved, proved - defined)  # no property left unproved
    for name, rid in props.COVERS.items():  # each covered predicate has properties for its ID
        assert any(name in inspect.getsource(getattr(props, n)) for n in props.PROPERTIES[rid]), name


def test_crosshair_finds_a_planted_off_by_one(tmp_path: Path) -> None:
    source = (ROOT / "core" / "limits.py").read_text("utf-8")
    planted = source.replace("limit = min(device_max_ua, prescription_max_ua)",
                             "limit = min(device_max_ua, prescription_max_ua + 1)")
    assert planted != source
    (tmp_path / "planted_limits.py").write_text(planted.replace("from .errors", "from iontocore.errors")
                                                .replace("from .envelope", "from iontocore.envelope"))
    lines = crosshair("planted_limits", cwd=tmp_path, env_path=str(tmp_path))
    assert any("error: false when calling effective_limit_ua" in line for line in lines), lines


PLANTED_PREDICATE_BUGS = [
    ("return measured_ua > trip_ua or -measured_ua > trip_ua",
     "return measured_ua >= trip_ua or -measured_ua > trip_ua", "over_current_"),
    ("return dt_ms * 1000 > tick_ms * (1000 + tolerance_permille)",
     "return dt_ms * 1000 >= tick_ms * (1000 + tolerance_permille)", "late_boundary"),
    ("return abs(voltage_mv) * 1000 < ohm * abs(current_ua)",
     "return abs(voltage_mv) * 1000 <= ohm * abs(current_ua)", "impedance_below_"),
    ("return abs(voltage_mv) * 1000 > ohm * abs(current_ua)",
     "return abs(voltage_mv) * 1000 > ohm * abs(current_ua) + 1", "impedance_is_above_below"),
    ("return abs(measured_ua - expected_ua) * 1000 > max(",
     "return abs(measured_ua - expected_ua) * 1000 >= max(", "tracking_error_never_within"),
    (">= compliance_mv - margin_mv", "> compliance_mv - margin_mv", "at_compliance_starts"),
    # the gate carries its own contract, which CrossHair proves against its body (and
    # assumes when a property calls it): the planted bug breaks the contract
    ("return zero_for_ms >= dead_time_ms and", "return zero_for_ms >= dead_time_ms - 1 and",
     "polarity_may_change"),
]


@pytest.mark.parametrize("old, new, caught_by", PLANTED_PREDICATE_BUGS,
                         ids=[c for _, _, c in PLANTED_PREDICATE_BUGS])
def test_the_properties_catch_a_planted_predicate_bug(old: str, new: str, caught_by: str,
                                                      tmp_path: Path) -> None:
    """Each predicate's off-by-one makes CrossHair return a counterexample to a property."""
    for name in ("supervision", "shaping"):
        source = (ROOT / "core" / f"{name}.py").read_text("utf-8")
        if name == "supervision" or old in source:
            planted = source.replace(old, new) if old in source else source
            (tmp_path / f"planted_{name}.py").write_text(planted.replace("from .", "from iontocore."))
    assert any(old in (ROOT / "core" / f"{n}.py").read_text("utf-8") for n in ("supervision", "shaping"))
    text = (SUPPORT / "symbolic_properties.py").read_text("utf-8")
    text = text.replace("from iontocore.supervision import", "from planted_supervision import")
    if (tmp_path / "planted_shaping.py").exists():
        text = text.replace("from iontocore.shaping import", "from planted_shaping import")
    (tmp_path / "planted_properties.py").write_text(text)
    targets = ["planted_properties"] + (["planted_shaping"] if (tmp_path / "planted_shaping.py").exists() else [])
    lines = crosshair(*targets, cwd=tmp_path, env_path=str(tmp_path))
    assert any("error: false when calling " + caught_by in line for line in lines), lines


# ---- key properties on the hypothesis-crosshair backend ---------------------------------

SYMBOLIC = settings(backend="crosshair", max_examples=150, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.mark.req("CTL-002")
@SYMBOLIC
@given(st.integers(0, 10**8), st.integers(-10**6, 10**6), st.integers(0, 10**5),
       st.integers(0, 10**6), st.integers(0, 10**5))
def test_symbolic_no_abrupt_step(prev: int, meas: int, target: int, step: int, margin: int) -> None:
    new = next_magnitude_na(prev, meas, target, step, margin)
    assert 0 <= new <= max(prev, target * 1000)
    assert new <= prev + step
    assert new >= min(prev, max(meas, 0) * 1000) - step


@pytest.mark.req("CTL-001")
@SYMBOLIC
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**5), st.integers(0, 10**7))
def test_symbolic_layered_limit(dev: int, rx: int, density: int, area: int) -> None:
    lim = effective_limit_ua(dev, rx, density, area)
    assert lim <= dev and lim <= rx and (area == 0 or lim * 100 <= density * area)


@pytest.mark.req("CTL-003")
@SYMBOLIC
@given(st.integers(-10**6, 10**6), st.integers(0, 10**6), st.integers(1, 10**5),
       st.integers(-10**6, 10**6), st.integers(0, 10**4))
def test_symbolic_polarity_gate_opens_once_and_stays_open(zero_for: int, more: int, dead: int,
                                                          measured: int, tol: int) -> None:
    # waiting longer never closes the gate; a smaller current never closes it
    if polarity_may_change(zero_for, dead, measured, tol):
        assert polarity_may_change(zero_for + more, dead, measured, tol)
        assert polarity_may_change(zero_for, dead, measured // 2, tol)
    # at zero current after the dead time it is open
    assert polarity_may_change(dead + more, dead, 0, tol)


@pytest.mark.req("SUP-014")
@SYMBOLIC
@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6), st.integers(0, 10**4),
       st.integers(0, 1000))
def test_symbolic_uncommanded_current_band(measured: int, expected: int, tol: int, pm: int) -> None:
    # the allowed band along the command: from -tol (nothing, or a little reverse noise)
    # up to |expected| + max(tol, pm of it); outside it, and only there, it is uncommanded
    along = measured if expected >= 0 else -measured
    band_top = abs(expected) * 1000 + max(tol * 1000, abs(expected) * pm)
    inside = -tol <= along and along * 1000 <= band_top
    if expected == 0:
        inside = abs(measured) <= tol
    assert uncommanded(measured, expected, tol, pm) is (not inside)


def test_symbolic_backend_finds_what_random_examples_miss() -> None:
    """A relational needle: wrong only when target == prev + step + 1 (in uA)."""
    def buggy(prev: int, target: int, step: int) -> int:
        if target * 1000 == prev + step + 1000:
            return prev + step + 1
        return next_magnitude_na(prev, 0, target, step, 0)

    def prop(prev: int, target: int, step: int) -> None:
        assert buggy(prev, target, step) <= prev + step

    args = (st.integers(0, 10**8), st.integers(0, 10**5), st.integers(0, 10**6))
    settings(max_examples=2_000, derandomize=True, database=None, deadline=None)(given(*args)(prop))()
    with pytest.raises(AssertionError):
        settings(backend="crosshair", max_examples=300, database=None, deadline=None)(given(*args)(prop))()
