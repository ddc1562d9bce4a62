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

from iontocore import limits, shaping, supervision
from iontocore.supervision import uncommanded
from iontocore.limits import effective_limit_ua
from iontocore.shaping import next_magnitude_na, polarity_may_change

ROOT = Path(__file__).resolve().parents[1]
CROSSHAIR = shutil.which("crosshair") or str(Path(sys.executable).parent / "crosshair")
PER_CONDITION_TIMEOUT = 10  # the defaults are too shallow to catch off-by-ones

# module -> the pure safety-path functions that must carry contracts
SAFETY_FUNCTIONS = {
    "iontocore.limits": {"effective_limit_ua", "trip_threshold_ua"},
    "iontocore.shaping": {"step_na", "max_step_ua", "next_magnitude_na", "polarity_may_change"},
    "iontocore.dose": {"ramp_down_bound_uams"},
    "iontocore.supervision": {"over_current", "at_compliance", "impedance_above", "impedance_below",
                              "tracking_error", "tracking_floor_ua", "late", "uncommanded",
                              "amplitude_ua", "trip_average_ua"},
}
REQS = {"iontocore.limits": ("CTL-001", "SUP-001"), "iontocore.shaping": ("CTL-002", "CTL-003"),
        "iontocore.dose": ("DOSE-002",), "iontocore.supervision": ("SUP-002", "SUP-006", "SUP-009", "SUP-014")}


def crosshair(*targets: str, cwd: Path | None = None, env_path: str | None = None) -> list[str]:
    env = None
    if env_path:
        import os

        env = {**os.environ, "PYTHONPATH": env_path}
    out = subprocess.run([CROSSHAIR, "check", "--analysis_kind=PEP316",
                          f"--per_condition_timeout={PER_CONDITION_TIMEOUT}", "--report_all", *targets],
                         capture_output=True, text=True, timeout=600, cwd=cwd, env=env)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]


def contract_lines(module: str) -> int:
    """How many pre/post lines the module's functions carry (one result line per post)."""
    mod = importlib.import_module(module)
    return sum(len(re.findall(r"^\s*post:", inspect.getdoc(f) or "", re.M))
               for _, f in inspect.getmembers(mod, inspect.isfunction) if f.__module__ == module)


@pytest.mark.parametrize("module", [pytest.param(m, marks=pytest.mark.req(*REQS[m]), id=m.split(".")[-1])
                                    for m in sorted(SAFETY_FUNCTIONS)])
def test_crosshair_confirms_every_contract(module: str, record_property: pytest.RecordProperty) -> None:
    mod = importlib.import_module(module)
    with_contracts = {name for name, f in inspect.getmembers(mod, inspect.isfunction)
                      if f.__module__ == module and "post:" in (inspect.getdoc(f) or "")}
    assert SAFETY_FUNCTIONS[module] <= with_contracts, SAFETY_FUNCTIONS[module] - with_contracts
    lines = crosshair(module)
    confirmed = [line for line in lines if line.endswith("Confirmed over all paths.")]
    others = [line for line in lines if not line.endswith("Confirmed over all paths.")]
    record_property("crosshair", {"module": module, "confirmed": len(confirmed),
                                  "not_confirmed": others})
    assert not others, others
    assert len(confirmed) == contract_lines(module)


def test_crosshair_finds_a_planted_off_by_one(tmp_path: Path) -> None:
    source = (ROOT / "core" / "limits.py").read_text("utf-8")
    planted = source.replace("limit = min(device_max_ua, prescription_max_ua)",
                             "limit = min(device_max_ua, prescription_max_ua + 1)")
    assert planted != source
    (tmp_path / "planted_limits.py").write_text(planted.replace("from .errors", "from iontocore.errors"))
    lines = crosshair("planted_limits", cwd=tmp_path, env_path=str(tmp_path))
    assert any("error: false when calling effective_limit_ua" in line for line in lines), lines


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
@given(st.integers(-10**6, 10**6), st.integers(1, 10**5), st.integers(-10**6, 10**6), st.integers(0, 10**4))
def test_symbolic_polarity_gate(zero_for: int, dead: int, measured: int, tol: int) -> None:
    if polarity_may_change(zero_for, dead, measured, tol):
        assert zero_for >= dead and abs(measured) <= tol


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


def test_modules_under_proof_are_the_safety_path() -> None:
    assert {m.__name__ for m in (limits, shaping, supervision)} <= set(SAFETY_FUNCTIONS)
