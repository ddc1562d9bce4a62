"""Unit tests pinning the exact behaviour of the safety-path predicates and monitors at
their boundaries (written to kill the mutants mutation testing left alive)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iontocore import Sample, SupervisionLimits
from iontocore.dose import uams_to_ma_min
from iontocore.faults import FaultCode
from iontocore.shaping import polarity_may_change
from iontocore.supervision import Supervisor, admit, impedance_above, impedance_below, late


@pytest.mark.req("CTL-003")
def test_polarity_gate_boundaries() -> None:
    assert polarity_may_change(500, 500, 0, 20)          # exactly the dead time
    assert not polarity_may_change(499, 500, 0, 20)
    assert not polarity_may_change(-1, 500, 0, 20)       # not at zero
    assert polarity_may_change(500, 500, 20, 20)         # exactly the tolerance, both signs
    assert polarity_may_change(500, 500, -20, 20)
    assert not polarity_may_change(500, 500, 21, 20)
    assert not polarity_may_change(500, 500, -21, 20)


@pytest.mark.req("SUP-005", "SUP-006")
@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6), st.integers(0, 10**6))
def test_impedance_predicates_exactly(v: int, i: int, ohm: int) -> None:
    # independent formulation with exact rationals: |V| / |I| in kOhm against ohm / 1000
    if i == 0:
        assert impedance_above(v, i, ohm) == (v != 0)
        assert not impedance_below(v, i, ohm)
    else:
        z_ohm = Fraction(abs(v), abs(i)) * 1000
        assert impedance_above(v, i, ohm) == (z_ohm > ohm)
        assert impedance_below(v, i, ohm) == (z_ohm < ohm)


@pytest.mark.req("SUP-006")
def test_impedance_boundaries() -> None:
    assert not impedance_above(60_000, 300, 200_000)      # exactly 200 kOhm: not above
    assert impedance_above(60_001, 300, 200_000)
    assert not impedance_below(150, 500, 300)             # exactly 300 ohm: not below
    assert impedance_below(149, 500, 300)


@pytest.mark.req("SUP-009")
@given(st.integers(-10**5, 10**5), st.integers(1, 1000), st.integers(0, 5000))
def test_late_exactly(dt: int, tick: int, tol: int) -> None:
    assert late(dt, tick, tol) == (dt > tick * (1 + Fraction(tol, 1000)))


@pytest.mark.req("SUP-009")
def test_late_boundaries() -> None:
    assert not late(15, 10, 500) and late(16, 10, 500)
    assert not late(10, 10, 0) and late(11, 10, 0)


@pytest.mark.req("SUP-004")
@pytest.mark.parametrize("value, expected", [
    (5, 5), (-7, -7), (5.0, 5), (-3.0, -3), (5.5, None), (float("nan"), None),
    (float("inf"), None), (True, None), (None, None), ("5", None)])
def test_admission_of_one_field(value: object, expected: int | None) -> None:
    got = admit(Sample(10, value, 0), 60_000, 120_000)  # type: ignore[arg-type]
    assert (None if got is None else got[1]) == expected


@pytest.mark.req("SUP-004")
def test_admission_ranges_and_shape() -> None:
    assert admit(Sample(0, 60_000, 120_000, -1), 60_000, 120_000) == (0, 60_000, 120_000, -1)
    assert admit(Sample(0, 60_001, 0), 60_000, 120_000) is None
    assert admit(Sample(0, 0, -120_001), 60_000, 120_000) is None
    assert admit(Sample(-1, 0, 0), 60_000, 120_000) is None
    assert admit(Sample(0, 0, 0, 2), 60_000, 120_000) is None
    assert admit((1, 2, 3), 60_000, 120_000) is None            # a field missing
    assert admit((1.0, 2, 3, None), 60_000, 120_000) == (1, 2, 3, None)


def supervisor(**kw: int) -> Supervisor:
    return Supervisor(SupervisionLimits(**kw), 60_000, 20, 10, 20_000)


@pytest.mark.req("SUP-009")
def test_check_time_clock_faults_and_messages() -> None:
    sup = supervisor()
    assert sup.check_time(0) is None
    assert sup.check_time(-1) is FaultCode.CLOCK_BACKWARDS
    assert sup.detail == "sample time went back by 1 ms"
    assert sup.check_time(100) is None                    # exactly the jump bound
    assert sup.check_time(101) is FaultCode.CLOCK_JUMP
    assert sup.detail == "sample time jumped 101 ms (bound 100 ms)"


@pytest.mark.req("SUP-009")
def test_late_tick_bucket_arithmetic() -> None:
    sup = supervisor(late_bucket_limit=100)
    for n in range(1, 10):                                 # nine late ticks: +10 each
        assert sup.check_time(16) is None
        assert (sup.late_ticks, sup.late_bucket) == (n, 10 * n)
    for n in range(1, 4):                                  # punctual ticks drain by 1
        assert sup.check_time(12) is None
        assert sup.late_bucket == 90 - n
    for _ in range(87):
        sup.check_time(10)
    assert sup.late_bucket == 0
    sup.check_time(10)
    assert sup.late_bucket == 0                            # never below zero
    for _ in range(9):
        assert sup.check_time(16) is None
    assert sup.check_time(16) is FaultCode.LATE_TICKS     # the 10th late tick reaches 100
    assert sup.detail == "19 late ticks; bucket 100 >= 100" and sup.late_ticks == 19


def test_display_conversion() -> None:
    assert uams_to_ma_min(60_000_000) == 1.0 and uams_to_ma_min(30_000_000) == 0.5
