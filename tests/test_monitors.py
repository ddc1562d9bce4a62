"""Unit tests pinning the exact behaviour of the safety-path predicates and monitors at
their boundaries (written to kill the mutants mutation testing left alive)."""

from __future__ import annotations

import math

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iontocore import Sample, SupervisionLimits
from iontocore.dose import uams_to_ma_min
from iontocore.faults import FaultCode
from iontocore.shaping import polarity_may_change
from iontocore.supervision import (Supervisor, admit, impedance_above, impedance_below, late,
                                   short_of, supply_reading, uncommanded)


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
    clean = (1, 2, 3, 1)  # a plain tuple of four clean integers is passed on as it is
    assert admit(clean, 60_000, 120_000) is clean


@pytest.mark.req("SUP-019", "SUP-020")
def test_a_sample_without_a_supply_field_reports_no_supply() -> None:
    assert supply_reading((1, 2, 3, 1)) is None  # four fields: a backend that never reports
    assert supply_reading(Sample(1, 2, 3, 1)) is None  # the fifth field None
    assert supply_reading(Sample(1, 2, 3, 1, 12_000)) == 12_000


@pytest.mark.req("SUP-019")
@pytest.mark.parametrize("given, read", [
    (10**12, 10**12), (10**12 + 1, 10**12), (10**40, 10**12),         # clipped above
    (-(10**12), -(10**12)), (-(10**12) - 1, -(10**12)), (-(2**63), -(10**12)),
    (12_000.0, 12_000),                                               # an integral float
])
def test_a_supply_reading_is_clipped_to_a_range_no_sensor_reaches(given: int, read: int) -> None:
    """A huge reading cannot fill a fault reason, and none equals the unreadable sentinel."""
    assert supply_reading(Sample(1, 2, 3, 1, given)) == read


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


# ---- exact behaviour of the remaining predicates (mutation testing's survivors) -----------

from hypothesis import example  # noqa: E402

from iontocore import Command, DeviceLimits, InvalidSettings  # noqa: E402
from iontocore.dose import ramp_down_bound_uams  # noqa: E402
from iontocore.shaping import next_magnitude_na, step_na  # noqa: E402
from iontocore.supervision import Debounce, at_compliance, over_current, tracking_error  # noqa: E402


@pytest.mark.req("SUP-001")
def test_over_current_boundaries() -> None:
    assert not over_current(22_000, 22_000) and over_current(22_001, 22_000)
    assert not over_current(-22_000, 22_000) and over_current(-22_001, 22_000)


@pytest.mark.req("SUP-005", "SUP-007")
def test_at_compliance_both_signs_and_boundary() -> None:
    assert at_compliance(58_500, 60_000, 1_500) and at_compliance(-58_500, 60_000, 1_500)
    assert not at_compliance(58_499, 60_000, 1_500) and not at_compliance(-58_499, 60_000, 1_500)
    assert not at_compliance(-60_001 + 60_001, 60_000, 1_500)


@pytest.mark.req("SUP-002")
@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6), st.integers(0, 10**5), st.integers(0, 1000))
@example(1_000, 0, 1_000, 0)       # exactly the absolute tolerance: not an error
@example(1_001, 0, 1_000, 0)
@example(1_100, 1_000, 50, 100)    # exactly 10 % of 1000: not an error
@example(1_101, 1_000, 50, 100)
def test_tracking_error_exactly(measured: int, expected: int, tol: int, permille: int) -> None:
    allowed = max(Fraction(tol), Fraction(abs(expected) * permille, 1000))
    assert tracking_error(measured, expected, tol, permille) == (abs(measured - expected) > allowed)


@pytest.mark.req("SUP-006", "SUP-005")
@example(1_000, 1, 1_000_001)
@example(1_000, 1, 999_999)
@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6), st.integers(0, 10**7))
def test_impedance_near_the_threshold(v: int, i: int, ohm: int) -> None:
    if i:
        z = Fraction(abs(v), abs(i)) * 1000
        assert impedance_below(v, i, ohm) == (z < ohm) and impedance_above(v, i, ohm) == (z > ohm)


@pytest.mark.req("SUP-009")
def test_late_at_a_long_tick() -> None:
    assert not late(1_000, 1_000, 0) and late(1_001, 1_000, 0)


def _simulated_ramp_uams(cmd_na: int, step_na: int, dt: int, floor: int, pm: int) -> int:
    """By brute force: each tick of the ramp measures at most the command it follows plus
    the tolerance, for dt ms; the command falls by step_na until it is zero."""
    total, c = 0, cmd_na
    while c > 0:
        total += (c * (1000 + pm) / 1000 / 1000 + floor) * dt
        c -= step_na
    return math.ceil(total)


@pytest.mark.req("DOSE-002")
@given(st.integers(0, 5 * 10**6), st.integers(1, 10**6), st.integers(1, 150), st.integers(0, 500),
       st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 5000))
@example(4_000_000, 1_333, 10, 50, 100, 100, 1_100)
@example(1, 1, 1, 0, 0, 0, 0)
def test_ramp_down_bound_covers_the_ramp_and_is_not_loose(cmd_na: int, step_na: int, dt: int,
                                                         floor: int, pm: int, jump: int,
                                                         tail: int) -> None:
    got = ramp_down_bound_uams(cmd_na, step_na, dt, floor, pm, jump, tail)
    ramp = _simulated_ramp_uams(cmd_na, step_na, dt, floor, pm)
    top = ((cmd_na + step_na) * (1000 + pm) / 10**6 + floor) * jump
    assert got >= ramp + top + floor * tail - 1e-6 * got
    # and no looser than rounding: at most 2 uA*ms per term beyond the exact figure
    assert got <= ramp + top + floor * tail + 3


@pytest.mark.req("CTL-002")
def test_step_and_next_magnitude_cases() -> None:
    assert step_na(500, 0, 10) == 0 and step_na(500, -5, 10) == 0 and step_na(500, 7, 10) == 3_500
    assert step_na(500, 25, 10) == 5_000                                     # capped at a tick
    nm = next_magnitude_na
    assert nm(8_000, 8, 8, 1_000, 0) == 8_000                                # at the target: stays
    assert nm(5_000, 0, 8, 1_000, 0) == 6_000                                # rising by one step
    assert nm(10_000, 10, 8, 5_000, 0) == 8_000                              # falling onto the target
    assert nm(10_000, 10, 0, 1_000, 0) == 9_000                              # falling at the slew
    # the load collapsed to 1 uA, beyond the 2 uA margin: follow it down to 1 uA - 1 step
    assert nm(10_000, 1, 0, 500, 2) == 500
    assert nm(10_000, 0, 0, 500, 2) == 0 and nm(10_000, -4, 0, 500, 2) == 0  # none flowing
    # within the margin it is noise: fall at the slew
    assert nm(10_000, 8, 0, 500, 2) == 9_500                                 # 8 uA + 2 == 10 uA
    assert nm(10_000, 7, 0, 500, 2) == 6_500                                 # 7 + 2 < 10: follow
    # a reverse current counts as nothing flowing, whatever the margin
    assert nm(10_000, -15, 0, 500, 20) == 9_500 and nm(10, -1, 0, 0, 0) == 0


@pytest.mark.req("SUP-005")
def test_debounce_from_time_zero() -> None:
    d = Debounce(30)
    assert not d.update(True, 0) and d.since_ms == 0
    assert not d.update(True, 20) and d.update(True, 30)
    assert not d.update(False, 40) and d.since_ms == -1
    assert not d.update(True, 1_000)           # a new run starts now, not at 0
    d.clear()
    assert d.since_ms == -1


def _observe(sup: Supervisor, t: int, i: int, v: int, cmd: Command, duty: int = 1000,
             relay: int | None = None, off_for: int = -1) -> FaultCode | None:
    return sup.observe(t, i, v, relay, 10, cmd, duty, 22_000, off_for)


@pytest.mark.req("SUP-001", "RX-005")
def test_pulsed_mode_scales_the_trip_and_the_expected_current() -> None:
    sup = supervisor()
    on = Command(20_000, True, 500)
    assert _observe(sup, 0, 11_000, 20_000, on, duty=500) is None           # half the trip
    assert _observe(sup, 10, 11_001, 20_000, on, duty=500) is FaultCode.OVERCURRENT
    assert sup.detail == "measured 11001 uA average, 22002 uA amplitude, beyond the trip at 22000 uA"
    sup = supervisor()
    for t in range(0, 300, 10):                # measured the average: no tracking error
        assert _observe(sup, t, 10_000, 20_000, on, duty=500) is None
    for t in range(300, 520, 10):              # 20 % short of the average, for 200 ms
        code = _observe(sup, t, 8_000, 16_000, on, duty=500)
    assert code is FaultCode.TRACKING and sup.detail == "measured 8000 uA, expected 10000 uA"
    assert _observe(supervisor(), 0, 22_000, 40_000, Command(20_000, True)) is None  # DC: full trip


@pytest.mark.req("SUP-010")
def test_leak_and_relay_with_the_output_off() -> None:
    off = Command(0, False)
    assert _observe(supervisor(), 0, 21, 0, off, off_for=99) is None          # still settling
    assert _observe(supervisor(), 0, 20, 0, off, off_for=100) is None         # within tolerance
    sup = supervisor()
    assert _observe(sup, 0, -21, 0, off, off_for=100) is FaultCode.LEAK
    assert sup.detail == "-21 uA flowing with the output off for 100 ms"
    sup = supervisor()
    assert _observe(sup, 0, 0, 0, off, relay=1) is None
    assert _observe(sup, 30, 0, 0, off, relay=1) is FaultCode.RELAY_MISMATCH
    assert sup.detail == "relay reports 1 with the output off"


@pytest.mark.req("SUP-010")
def test_relay_mismatch_at_one_microamp_and_its_message() -> None:
    sup = supervisor()
    cmd = Command(1, True)                     # the smallest positive command still has a polarity
    assert _observe(sup, 0, 1, 2, cmd, relay=-1) is None
    assert _observe(sup, 30, 1, 2, cmd, relay=-1) is FaultCode.RELAY_MISMATCH
    assert sup.detail == "relay reports -1, command polarity 1"
    sup = supervisor()                          # a mismatch that started at t = 0 and cleared
    assert _observe(sup, 0, 1, 2, cmd, relay=-1) is None
    assert _observe(sup, 10, 1, 2, cmd, relay=1) is None
    assert _observe(sup, 1_000, 1, 2, cmd, relay=-1) is None                  # starts afresh


@pytest.mark.req("SUP-006")
def test_short_at_the_sense_current_either_polarity() -> None:
    for sign in (1, -1):
        sup = supervisor()
        cmd = Command(sign * 500, True)
        assert _observe(sup, 0, sign * 500, sign * 100, cmd) is None           # 200 ohm
        assert _observe(sup, 30, sign * 500, sign * 100, cmd) is FaultCode.SHORT_CIRCUIT
        assert sup.detail == "impedance 200 ohm below 300 ohm"
    sup = supervisor()                          # below the sense current: not judged
    for t in (0, 30, 60):
        assert _observe(sup, t, 499, 50, Command(499, True)) is None
    sup = supervisor()                          # a short that started at t = 0 and cleared
    assert _observe(sup, 0, 500, 100, Command(500, True)) is None
    assert _observe(sup, 10, 500, 1_000, Command(500, True)) is None
    assert _observe(sup, 1_000, 500, 100, Command(500, True)) is None


@pytest.mark.req("RX-001")
def test_device_limit_messages_and_equal_bounds() -> None:
    with pytest.raises(InvalidSettings) as info:
        DeviceLimits(trip_ua=30_000)
    assert str(info.value) == "invalid device limits: trip_ua = 30000: allowed above max_current_ua (30000 uA)"
    for kw, field in (({"sensor_max_ua": 35_000}, "sensor_max_ua"),
                      ({"sensor_max_mv": 60_000}, "sensor_max_mv")):
        with pytest.raises(InvalidSettings) as info:
            DeviceLimits(**kw)  # type: ignore[arg-type]
        assert [(p.field, p.value) for p in info.value.problems] == [(field, kw[field])]
    assert DeviceLimits(pulse_hz_min=500, pulse_hz_max=500, duty_permille_min=500, duty_permille_max=500)
    for kw, field in (({"pulse_hz_min": 600, "pulse_hz_max": 500}, "pulse_hz_max"),
                      ({"duty_permille_min": 600, "duty_permille_max": 500}, "duty_permille_max"),
                      ({"reversal_allowed": "yes"}, "reversal_allowed"),
                      ({"waveforms": frozenset({"ac"})}, "waveforms")):
        with pytest.raises(InvalidSettings) as info:
            DeviceLimits(**kw)  # type: ignore[arg-type]
        assert [(p.field, p.value) for p in info.value.problems] == [(field, kw[field])]
    assert "allowed true or false" in str(info.value) or "allowed a non-empty subset" in str(info.value)
    with pytest.raises(InvalidSettings, match="^invalid device limits: reversal_allowed = 'yes': allowed true or false$"):
        DeviceLimits(reversal_allowed="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidSettings, match="^invalid supervision limits: stuck_ms = 0: "):
        SupervisionLimits(stuck_ms=0)


# ---- second mutation round ------------------------------------------------------------------

from iontocore.limits import trip_threshold_ua  # noqa: E402


@pytest.mark.req("SUP-004")
def test_admission_negative_bounds_and_integer_types() -> None:
    assert admit(Sample(0, -60_000, -120_000), 60_000, 120_000) == (0, -60_000, -120_000, None)
    for mixed in (Sample(1.0, 2.0, 3.0), Sample(1.0, 2, 3), Sample(1, 2.0, 3), Sample(1, 2, 3.0)):
        got = admit(mixed, 60_000, 120_000)  # type: ignore[arg-type]
        assert got is not None and [type(x) for x in got[:3]] == [int, int, int], mixed


@pytest.mark.req("SUP-001", "CTL-004")
def test_the_trip_is_an_integer() -> None:
    trip = trip_threshold_ua(20_001, 35_000, 333, 100)
    assert trip == 20_001 + 6_660 and type(trip) is int


@pytest.mark.req("SUP-010")
def test_no_relay_fault_at_a_zero_command_with_the_relay_open() -> None:
    sup = supervisor()
    for t in range(0, 200, 10):  # enabled at zero (start of a ramp, pulse gap): relay may be open
        assert _observe(sup, t, 0, 0, Command(0, True), relay=0) is None


@pytest.mark.req("SUP-005")
def test_contact_is_judged_from_exactly_the_sense_current_and_from_t_zero() -> None:
    sup = supervisor()
    cmd = Command(10, True)  # contact_sense_ua = 10
    for t in (0, 10, 20):
        _observe(sup, t, 0, 60_000, cmd)
    _observe(sup, 30, 0, 60_000, cmd)
    assert sup.contact_open
    sup = supervisor()       # an open contact from t = 0, then the command drops below sense
    _observe(sup, 0, 0, 60_000, cmd)
    _observe(sup, 10, 0, 0, Command(0, True))
    _observe(sup, 30, 0, 0, Command(0, True))
    assert not sup.contact_open  # below the sense current a sample is no evidence
    sup = supervisor()       # an open contact from t = 0 that a judged sample clears
    _observe(sup, 0, 0, 60_000, cmd)
    _observe(sup, 10, 10, 20, cmd)
    _observe(sup, 1_000, 0, 60_000, cmd)
    assert not sup.contact_open


@pytest.mark.req("SUP-006")
def test_short_message_rounds_the_impedance_down() -> None:
    sup = supervisor()
    cmd = Command(1_001, True)
    _observe(sup, 0, 1_001, 51, cmd)
    assert _observe(sup, 30, 1_001, 51, cmd) is FaultCode.SHORT_CIRCUIT
    assert sup.detail == "impedance 50 ohm below 300 ohm"  # 51 mV / 1.001 mA = 50.95 ohm


@pytest.mark.req("RX-001")
def test_tick_period_boundary_and_message() -> None:
    SupervisionLimits(sample_deadline_ms=99, clock_jump_ms=66).check_tick(33)  # exactly 3x, 2x
    with pytest.raises(InvalidSettings) as info:
        SupervisionLimits(sample_deadline_ms=98).check_tick(33)
    assert str(info.value) == ("invalid tick period: tick_ms = 33: allowed at most a third of "
                               "sample_deadline_ms (98 ms)")
    with pytest.raises(InvalidSettings) as info:
        SupervisionLimits(clock_jump_ms=65).check_tick(33)
    assert [(p.field, p.value) for p in info.value.problems] == [("tick_ms", 33)]
    with pytest.raises(InvalidSettings) as info:
        SupervisionLimits().check_tick(101)
    assert [(p.field, p.value) for p in info.value.problems] == [("tick_ms", 101)]


# ---- third mutation round: the monitors' state, exactly ----

@pytest.mark.req("SUP-002")
def test_tracking_floor_exact_values() -> None:
    from iontocore.supervision import tracking_floor_ua

    assert tracking_floor_ua(1, 100, 20_000) == 1                 # the tolerance itself
    assert tracking_floor_ua(10_000, 100, 100_000) == 10_000      # 10 % of 100 mA is more
    assert tracking_floor_ua(10_000, 100, 50_000) == 5_000        # 10 % of 50 mA is less
    assert tracking_floor_ua(10_000, 100, 99_999) == 9_999        # rounded down
    floor = tracking_floor_ua(10_000, 1, 1_001)                   # 1.001 uA, floored to 1
    assert floor == 1 and type(floor) is int
    assert tracking_floor_ua(0, 0, 0) == 1                        # never below 1 uA


@pytest.mark.req("SUP-005", "SUP-007")
def test_a_new_supervisor_reports_no_load_status() -> None:
    sup = supervisor()
    assert (sup.at_compliance, sup.contact_open, sup.compliance_limited) == (False, False, False)
    assert sup.detail == "" and (sup.stuck_ms, sup.stuck_moved_ua) == (0, 0)


@pytest.mark.req("SUP-007")
def test_compliance_limited_needs_compliance_and_a_current_short_of_the_command() -> None:
    """Short by more than max(50 uA tracking floor, 2 % of the command)."""
    assert SupervisionLimits().compliance_short_permille == 20
    for cmd_ua, i, v, limited in [(10_000, 10_000, 60_000, False),   # at compliance, on target
                                  (10_000, 9_800, 60_000, False),    # short by exactly 2 %
                                  (10_000, 9_799, 60_000, True),     # short by more
                                  (10_000, 9_949, 60_000, False),    # beyond the floor: noise
                                  (1_000, 950, 60_000, False),       # 2 % is 20 uA: the floor
                                  (1_000, 949, 60_000, True),
                                  (10_000, 5_000, 10_000, False)]:   # short, not at compliance
        sup = supervisor()
        assert _observe(sup, 0, i, v, Command(cmd_ua, True)) is None
        assert sup.compliance_limited is limited, (cmd_ua, i, v)


@pytest.mark.req("SUP-007")
@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6), st.integers(0, 10**4),
       st.integers(0, 1000))
@example(0, 2_001, 2_000, 0).via("one past a large floor")
@example(0, 2_000, 2_000, 0).via("at a large floor")
@example(-979, 1_000, 0, 20).via("one past the permille share")
@example(980, -1_000, 0, 20).via("at the permille share")
def test_short_of_exactly(measured: int, expected: int, floor: int, permille: int) -> None:
    allowed = max(Fraction(floor), Fraction(abs(expected) * permille, 1000))
    assert short_of(measured, expected, floor, permille) == (abs(expected) - abs(measured) > allowed)


@pytest.mark.req("SUP-002")
def test_a_tracking_error_seen_at_time_zero_restarts_its_debounce_when_it_clears() -> None:
    sup, cmd = supervisor(), Command(10_000, True)
    assert _observe(sup, 0, 5_000, 10_000, cmd) is None           # off track from t = 0
    assert _observe(sup, 10, 10_000, 20_000, cmd) is None         # back on track: cleared
    assert _observe(sup, 300, 5_000, 10_001, cmd) is None         # off again: a new debounce
    assert _observe(sup, 500, 5_001, 10_000, cmd) is FaultCode.TRACKING  # 200 ms later


@pytest.mark.req("SUP-003")
def test_stuck_sensor_thresholds_are_inclusive_and_start_from_zero_each_time() -> None:
    def stuck_run(sup: Supervisor, t: int, moves: list[int]) -> tuple[int, FaultCode | None]:
        code = None
        for cmd in moves:                                         # the same reading each tick
            t += 10
            code = _observe(sup, t, 1_000, 2_000, Command(cmd, True))
            if code:
                break
        return t, code

    sup = supervisor()                                            # 300 ms and 50 uA to trip
    assert _observe(sup, 0, 1_000, 2_000, Command(1_000, True)) is None
    t, code = stuck_run(sup, 0, list(range(1_001, 1_050)))        # 49 uA over 490 ms
    assert code is None and (sup.stuck_ms, sup.stuck_moved_ua) == (490, 49)
    t, code = stuck_run(sup, t, [1_050])                          # 50 uA: the threshold
    assert code is FaultCode.SENSOR_STUCK
    assert sup.detail == "reading 1000 uA / 2000 mV unchanged for 500 ms while the command moved 50 uA"

    sup = supervisor()
    assert _observe(sup, 0, 1_000, 2_000, Command(1_000, True)) is None
    t, code = stuck_run(sup, 0, [1_000 + k for k in range(1, 31)])    # 30 uA, then it moves
    assert code is None and _observe(sup, t + 10, 1_001, 2_002, Command(1_030, True)) is None
    assert (sup.stuck_ms, sup.stuck_moved_ua) == (0, 0)
    assert _observe(sup, t + 20, 1_000, 2_000, Command(1_030, True)) is None  # a new reading
    t, code = stuck_run(sup, t + 20, [1_030 - k for k in range(1, 50)])  # 49 uA: not yet
    assert code is None and sup.stuck_moved_ua == 49




def _frozen_supervisor() -> Supervisor:
    return Supervisor(SupervisionLimits(), 60_000, 20, 10, 20_000, frozen_ms=1_000)


@pytest.mark.req("SUP-003")
def test_a_frozen_reading_is_a_stuck_sensor_exactly_at_sensor_frozen_ms() -> None:
    """A live sensor's noise changes its reading: the same current and voltage, bit for bit,
    for sensor_frozen_ms at a non-zero command is a stuck sensor, reported on the sample that
    completes it (not one earlier), with the reading, the time and the command in its reason."""
    sup = _frozen_supervisor()
    on = Command(1_000, True)
    assert _observe(sup, 0, 1_000, 2_000, on) is None       # the reading from here on
    for t in range(10, 1_000, 10):                          # 990 ms bit-identical
        assert _observe(sup, t, 1_000, 2_000, on) is None, t
    assert _observe(sup, 1_000, 1_000, 2_000, on) is FaultCode.SENSOR_STUCK
    assert sup.detail == ("reading 1000 uA / 2000 mV bit-identical for 1000 ms at a command of "
                          "1000 uA (a live sensor's noise changes it within 1000 ms)")


@pytest.mark.req("SUP-003")
@pytest.mark.parametrize("moving", ["current", "voltage", "command off"])
def test_a_reading_that_moves_or_a_zero_command_restarts_the_frozen_time(moving: str) -> None:
    """One field changing (the current or the voltage) is a live sensor; a tick at zero
    command restarts the count (a sensor at rest may repeat itself)."""
    sup = _frozen_supervisor()
    on = Command(1_000, True)
    for t in range(0, 3_000, 10):
        k = t // 10
        i = 1_000 + (k % 2 if moving == "current" else 0)
        v = 2_000 + (k % 2 if moving == "voltage" else 0)
        cmd = Command(0, True) if moving == "command off" and k % 90 == 89 else on
        got = _observe(sup, t, i if cmd.setpoint_ua else 0, v if cmd.setpoint_ua else 0, cmd)
        assert got is None, (t, sup.detail)


def _until_code(sup: Supervisor, i: int, v: int, cmd: Command, duty: int = 1000,
                ticks: int = 200) -> tuple[FaultCode | None, int]:
    """Observe the same reading each 10 ms tick until a fault code (or `ticks` ticks)."""
    for k in range(ticks):
        code = _observe(sup, k * 10, i, v, cmd, duty)
        if code is not None:
            return code, k * 10
    return None, ticks * 10


@pytest.mark.req("SUP-001", "SUP-014", "SUP-015")
@pytest.mark.parametrize("case, i, v, cmd, duty, code, detail", [
    ("dc over the trip", 22_001, 20_000, Command(20_000, True), 1_000, FaultCode.OVERCURRENT,
     "measured 22001 uA beyond the trip at 22000 uA"),
    ("dc uncommanded", 1_200, 2_400, Command(1_000, True), 1_000, FaultCode.UNCOMMANDED_CURRENT,
     "measured 1200 uA, commanded 1000 uA"),
    ("pulsed uncommanded", 600, 2_400, Command(1_000, True, 500), 500,
     FaultCode.UNCOMMANDED_CURRENT, "measured 1200 uA amplitude (600 uA average), commanded 1000 uA"),
    ("unsettled", 21, 42, Command(0, True), 1_000, FaultCode.UNSETTLED,
     "21 uA still flowing with the command at zero (for 1010 ms of the last 1010 ms)"),
])
def test_each_monitor_names_what_it_measured_and_against_what(
        case: str, i: int, v: int, cmd: Command, duty: int, code: FaultCode, detail: str) -> None:
    """The reason a fault records is the reading, the command or limit it broke, and (for a
    debounced monitor) how long: word for word, in the units the reading has (an amplitude
    and its average when pulsed)."""
    sup = supervisor()
    got, _ = _until_code(sup, i, v, cmd, duty)
    assert (got, sup.detail) == (code, detail), case


@pytest.mark.req("SUP-014")
@pytest.mark.parametrize("measured, expected, over", [
    # zero command: beyond the floor either way
    (50, 0, False), (51, 0, True), (-50, 0, False), (-51, 0, True),
    # +1000 uA, floor 50 uA, 100 permille: above 1000 + max(50, 100) = 1100 uA
    (1_100, 1_000, False), (1_101, 1_000, True), (-50, 1_000, False), (-51, 1_000, True),
    # -1000 uA: the same along the negative direction
    (-1_100, -1_000, False), (-1_101, -1_000, True), (50, -1_000, False), (51, -1_000, True),
    # a small command: the floor decides (2 + 50 uA)
    (52, 2, False), (53, 2, True), (-1, 1, False), (51, 1, False), (50, 1, False), (52, 1, True),
    # 100 permille of 1001 uA is 100.1 uA: 1101 is not above 1101.1, 1102 is
    (1_101, 1_001, False), (1_102, 1_001, True),
])
def test_uncommanded_current_at_its_boundaries(measured: int, expected: int, over: bool) -> None:
    """Exactly at the tolerance is not uncommanded; one uA beyond it is, along the command's
    direction and against it (SUP-014)."""
    assert uncommanded(measured, expected, 50, 100) is over


@pytest.mark.req("SUP-002", "SUP-014")
@pytest.mark.parametrize("pattern, code", [
    ("short", FaultCode.TRACKING),              # one sample in three short of the command
    ("over", FaultCode.UNCOMMANDED_CURRENT),    # one in three above it
    ("both", FaultCode.TRACKING),               # one in six short, one in six above: off
])
def test_an_intermittent_error_on_a_third_of_the_samples_is_caught(pattern: str,
                                                                    code: FaultCode) -> None:
    """The tracking monitors judge a share (tracking_share_permille, a third) of a window,
    not an unbroken run: a sensor or stage wrong on every third sample is caught, and an
    error split between too little and too much still counts as off the command."""
    sup = supervisor()
    on = Command(10_000, True)
    got = None
    for k in range(600):
        i = 10_000
        if pattern == "short" and k % 3 == 0 or pattern == "both" and k % 6 == 0:
            i = 7_000
        if pattern == "over" and k % 3 == 0 or pattern == "both" and k % 6 == 3:
            i = 13_000
        got = _observe(sup, k * 10, i, 20_000, on)
        if got is not None:
            break
    assert got is code, (pattern, got, sup.detail)


@pytest.mark.req("SUP-002", "SUP-014")
@pytest.mark.parametrize("wrong", [7_000, 13_000])
def test_an_error_on_a_quarter_of_the_samples_is_below_the_tracking_share(wrong: int) -> None:
    """tracking_share_permille (a third) is the monitors' share, not the general intermittent
    share (a tenth): a reading wrong on one sample in four, short or above, ends nothing
    (SAFETY.md: a glitch too rare for the tracking monitor is bounded by the charge guard)."""
    sup = supervisor()
    on = Command(10_000, True)
    for k in range(600):
        got = _observe(sup, k * 10, wrong if k % 4 == 0 else 10_000, 20_000, on)
        assert got is None, (k, got, sup.detail)
