"""DOSE-002: the charge a ramp-down starting on the next tick can still deliver, as the
controller projects it before every tick, against an oracle computed tick by tick in exact
fractions from the rule as dose.ramp_down_bound_uams documents it and the limits alone:

- the look-ahead tick: the average command plus the tracking tolerance (x (1 + permille),
  + the tracking floor) for the longest punctual tick seen;
- every ramp tick at the command it follows (falling slew x duty a tick) plus the tolerance,
  for that tick length;
- one tick at the clock-jump bound at the starting command plus one step, plus the tolerance;
- settle_ms + clock_jump_ms at the tracking floor once the command is zero.

The controller rounds each part up (whole uA*ms), so it may exceed the exact value by a few
uA*ms and must never be below it.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from iontocore import Controller, Prescription, Sample, profiles
from iontocore.faults import FaultCode
from iontocore.limits import trip_threshold_ua
from iontocore.protocol import PULSE, Protocol, Step
from iontocore.supervision import SupervisionLimits, tracking_floor_ua

from clone import clone

from short_session import DEVICE, SUP, TICK

ROUNDING = 4  # uA*ms: the parts rounded up one by one


def oracle_uams(cmd_na: int, rx: Prescription, dt_ms: int, tick_ms: int = TICK,
                sup: SupervisionLimits = SUP) -> Fraction:
    pm = sup.tracking_tolerance_permille
    floor = tracking_floor_ua(sup.tracking_tolerance_ua, pm, rx.limit_ua(DEVICE))
    slew = min(rx.slew_ua_per_s, DEVICE.max_slew_ua_per_s)
    tol = Fraction(1000 + pm, 1000)
    avg = Fraction(cmd_na * rx.duty_permille, 10**6)           # uA, average
    step = Fraction(slew * tick_ms * rx.duty_permille, 10**6)  # uA a tick, average
    total = (avg * tol + floor) * dt_ms                        # the look-ahead tick
    c = avg
    while c > 0:                                               # the ramp, tick by tick
        total += (c * tol + floor) * dt_ms
        c -= step
    total += ((avg + step) * tol + floor) * sup.clock_jump_ms  # one tick at the jump bound
    return total + floor * (sup.settle_ms + sup.clock_jump_ms)


DEX = profiles.load("dexamethasone-40")
CASES = {
    "dc": DEX,
    "pulsed": replace(DEX, waveform="pulsed", pulse_hz=1_000, duty_permille=500),
    "slow-low-duty": replace(DEX, target_ua=1_000, ramp_ms=600_000, waveform="pulsed",
                             pulse_hz=1_000, duty_permille=100, min_ua=500, max_ua=1_000),
    # the slowest fall there is: 1 uA/s at 1 permille on a 1 ms tick, 1 pA a tick
    "slowest": replace(DEX, target_ua=1_000, ramp_ms=600_000, waveform="pulsed", pulse_hz=100,
                       duty_permille=1, min_ua=500, max_ua=1_000),
}
EXTREME = replace(DEVICE, duty_permille_min=1)


CHECKED = {0, 1, 2, 7, 60, 150, 299, 300, 301, 399}  # ticks checked (the oracle is slow)


@pytest.mark.req("DOSE-002")
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_projection_bounds_the_worst_ramp_down_and_is_tight(case: str) -> None:
    rx = CASES[case]
    tick = 1 if case == "slowest" else TICK
    ctl = Controller(rx, EXTREME, SUP, tick_ms=tick)
    t = 0
    ctl.step(Sample(t, 0, 0))
    assert ctl.start().accepted
    checked = 0
    late = tick * (1000 + SUP.late_tolerance_permille) // 1000
    longest = tick
    for k in range(400):
        dt = late if k == 300 else tick   # one punctual late tick: the look-ahead lengthens
        longest = max(longest, dt)
        t += dt
        cmd = ctl.command
        avg = abs(cmd.setpoint_ua) * cmd.duty_permille // 1000
        ctl.step(Sample(t, avg * (1 if cmd.setpoint_ua >= 0 else -1) + k % 2,
                        cmd.setpoint_ua * 2))
        assert ctl.state == "ramp_up", (ctl.state, ctl.faults)
        if k not in CHECKED:
            continue
        cmd_na = ctl._cmd_na  # type: ignore[attr-defined]  # the state the projection is of
        got = ctl._projection()  # type: ignore[attr-defined]
        want = oracle_uams(cmd_na, rx, longest, tick)
        assert type(got) is int and want <= got <= want + ROUNDING, (k, cmd_na, got, float(want))
        checked += 1
    assert checked == len(CHECKED)


# ------------------------------------------------------------------ DOSE-002 hard guard

GUARD_SUP = replace(SUP, tracking_tolerance_ua=1, settle_ms=10)  # a small projection: the
# guard's window (a spike that could carry the next tick past the cap) opens before the stop
GUARD_CASES = {
    "electrode rating": replace(DEX, target_ua=10, max_ua=10, min_ua=10, step_ua=0, ramp_ms=1_000,
                                probe_ua=10, dose_uams=200_000, electrode_max_uams=200_000,
                                duration_ms=60_000),
    # the planned charge is within the ceiling: readings 9 % high (within the tracking
    # tolerance) bring the ceiling within reach mid-pulse
    "research charge ceiling": Prescription(
        name="guard", family="research", target_ua=100, ramp_ms=50, area_mm2=400,
        return_area_mm2=400, max_charge_uams=5_020_000,
        protocol=Protocol((Step(PULSE, duration_ms=50_000),))),
}
# 109 uA: its upper tolerance, 109 x 1.1 = 119.9, is one uA below 109 x 1.101
GUARD_CASES["research charge ceiling at 109 uA"] = replace(
    GUARD_CASES["research charge ceiling"], target_ua=109, ramp_ms=55, max_charge_uams=5_472_000)
HIGH_PERMILLE = {"electrode rating": 0, "research charge ceiling": 90,
                 "research charge ceiling at 109 uA": 90}
CAP_NAME = {case: case.partition(" at ")[0] for case in GUARD_CASES}


@pytest.mark.req("DOSE-002", "ENV-005")
@pytest.mark.parametrize("case", sorted(GUARD_CASES))
def test_a_reading_that_could_carry_the_next_tick_past_the_cap_cuts_the_output(case: str) -> None:
    """Before every tick: the charge so far, plus the next tick at the clock-jump bound at the
    larger of the command's upper tolerance and the reading, must stay within the electrode
    rating (drug) or the research charge ceiling; otherwise the output is cut (DOSE_LIMIT).
    A reading just under the trip is sent on every tick of a clone: the cut comes on exactly
    the first tick where charge + reading x (tick + clock_jump_ms) passes the cap, not before."""
    rx = GUARD_CASES[case]
    cap = rx.electrode_max_uams or rx.max_charge_uams
    ctl = Controller(rx, DEVICE, GUARD_SUP, tick_ms=TICK)
    spike = trip_threshold_ua(rx.limit_ua(DEVICE), DEVICE.trip_ua, GUARD_SUP.trip_margin_permille,
                              GUARD_SUP.trip_floor_ua) - 1
    t = 0
    ctl.step(Sample(t, 0, 0))
    assert ctl.start().accepted
    charge = 0                                          # the oracle's own count (uA*ms)
    pol = rx.polarity
    high = HIGH_PERMILLE[case]
    for _ in range(60_000):
        cmd = ctl.command
        expect_cut = charge + spike * (TICK + GUARD_SUP.clock_jump_ms) > cap
        near = charge + spike * (TICK + GUARD_SUP.clock_jump_ms) > cap - 20 * spike * TICK
        if not (near or ctl.tick % 50 == 0):
            cut = False                                 # far from the cap: probed now and then
        else:
            probe = clone(ctl)
            probe.step(Sample(t + TICK, spike * pol, 100 + (t // TICK) % 2))
            cut = probe.state == "fault"
        if cut or expect_cut:
            assert cut and expect_cut and ctl.state in ("ramp_up", "treat"), (charge, cut)
            rec = probe.faults[-1]
            after = charge + spike * TICK
            assert rec.code is FaultCode.DOSE_LIMIT
            assert rec.reason == (f"{after} uA*ms through the electrodes; the next tick could add "
                                  f"{spike * GUARD_SUP.clock_jump_ms} uA*ms, past the {CAP_NAME[case]} of "
                                  f"{cap} uA*ms"), rec.reason
            return
        t += TICK
        reading = abs(cmd.setpoint_ua) * cmd.duty_permille // 1000 * (1000 + high) // 1000
        ctl.step(Sample(t, reading * pol, 100 + (t // TICK) % 2))  # a live sensor's noise
        charge += reading * TICK
        assert ctl.state in ("ramp_up", "treat"), ctl.state   # the stop comes later
    raise AssertionError("never reached the guard")


@pytest.mark.req("DOSE-002", "ENV-005")
@pytest.mark.parametrize("case", sorted(GUARD_CASES))
def test_the_ramp_down_begins_on_the_first_tick_whose_landing_reaches_the_cap(case: str) -> None:
    """The charge so far plus the projection (the oracle above) reaching the cap starts the
    ramp-down on that tick: a drug whose dose is its electrode rating completes ("dose of D
    uA*ms reached"); a research session brought to its ceiling by readings 9 % high stops
    ("research charge ceiling of C uA*ms reached: ..."). Never a tick early, never late."""
    rx = GUARD_CASES[case]
    cap = rx.electrode_max_uams or rx.max_charge_uams
    high = HIGH_PERMILLE[case]
    ctl = Controller(rx, DEVICE, GUARD_SUP, tick_ms=TICK)
    t = 0
    ctl.step(Sample(t, 0, 0))
    assert ctl.start().accepted
    charge, pol = 0, rx.polarity
    projected: dict[int, Fraction] = {}
    for _ in range(60_000):
        cmd = ctl.command
        t += TICK
        reading = abs(cmd.setpoint_ua) * cmd.duty_permille // 1000 * (1000 + high) // 1000
        was = ctl.state
        ctl.step(Sample(t, reading * pol, 100 + (t // TICK) % 2))
        charge += reading * TICK
        if was != "treat":
            assert ctl.state in ("ramp_up", "treat"), ctl.state
            continue
        cmd_na = abs(cmd.setpoint_ua) * 1000
        if cmd_na not in projected:  # treat: one command, one projection
            projected[cmd_na] = oracle_uams(cmd_na, rx, TICK, TICK, GUARD_SUP)
        landing = charge + projected[cmd_na]
        if ctl.state == "ramp_down":
            assert landing + ROUNDING >= cap, (landing, cap)
            break
        assert ctl.state == "treat" and landing < cap, (ctl.state, landing, cap)
    else:
        raise AssertionError("never stopped")
    while ctl.state != "idle":
        t += TICK
        cmd = ctl.command
        ctl.step(Sample(t, abs(cmd.setpoint_ua) * pol, 100 + (t // TICK) % 2))
    if case == "electrode rating":
        assert ctl.outcome == "completed" and ctl.end_reason == f"dose of {rx.dose_uams} uA*ms reached"
    else:
        assert ctl.outcome == "stopped" and ctl.end_reason == (
            f"{CAP_NAME[case]} of {cap} uA*ms reached: {charge} uA*ms through the "
            "electrodes when the ramp-down began"), ctl.end_reason


@pytest.mark.req("DOSE-002", "ENV-005")
@pytest.mark.parametrize("case", sorted(GUARD_CASES))
@pytest.mark.parametrize("over", [-1, 0, 1])
def test_the_guard_counts_the_commands_upper_tolerance_whatever_carried_the_charge_there(
        case: str, over: int) -> None:
    """A backstop: whatever carried the charge near the cap (set here directly, a defect
    standing in), before every tick the charge plus the next tick at the clock-jump bound at
    the command's upper tolerance (average x (1 + permille) + floor, whole uA) must stay within
    the cap, even when the reading is low; at the cap exactly it holds, one uA*ms past it the
    output is cut, and a charge already past the cap is cut as such."""
    rx = GUARD_CASES[case]
    cap = rx.electrode_max_uams or rx.max_charge_uams
    ctl = Controller(rx, DEVICE, GUARD_SUP, tick_ms=TICK)
    t = 0
    ctl.step(Sample(t, 0, 0))
    assert ctl.start().accepted
    while ctl.state != "treat":
        t += TICK
        cmd = ctl.command
        ctl.step(Sample(t, cmd.setpoint_ua, 100 + (t // TICK) % 2))
    cmd = ctl.command
    avg = abs(cmd.setpoint_ua) * cmd.duty_permille // 1000
    pm = GUARD_SUP.tracking_tolerance_permille
    upper = avg * (1000 + pm) // 1000 + tracking_floor_ua(GUARD_SUP.tracking_tolerance_ua, pm,
                                                           rx.limit_ua(DEVICE))
    nxt = upper * GUARD_SUP.clock_jump_ms
    reading = avg - 1                                   # a little low, within the tolerance
    after = cap - nxt + over                            # the charge once this tick is counted
    ctl.bound_uams = after - reading * TICK  # type: ignore[misc]  # within tolerance: counted
    ctl.step(Sample(t + TICK, reading * rx.polarity, 100 + (t // TICK + 1) % 2))
    if over <= 0:
        assert ctl.state != "fault", ctl.faults
    else:
        assert ctl.faults[-1].code is FaultCode.DOSE_LIMIT
        assert ctl.faults[-1].reason == (
            f"{after} uA*ms through the electrodes; the next tick could add {nxt} uA*ms, past "
            f"the {CAP_NAME[case]} of {cap} uA*ms"), ctl.faults[-1].reason
    ctl2 = Controller(rx, DEVICE, GUARD_SUP, tick_ms=TICK)   # a charge at or past the cap
    ctl2.step(Sample(0, 0, 0))
    assert ctl2.start().accepted
    ctl2.bound_uams = cap + over  # type: ignore[misc]
    ctl2.step(Sample(TICK, 0, 0))
    assert ctl2.faults[-1].code is FaultCode.DOSE_LIMIT
    past = "past the" if over > 0 else "the next tick could add"
    assert ctl2.faults[-1].reason.startswith(f"{cap + over} uA*ms through the electrodes")
    assert past in ctl2.faults[-1].reason, ctl2.faults[-1].reason
    if over > 0:
        assert ctl2.faults[-1].reason == (f"{cap + over} uA*ms through the electrodes, past the "
                                          f"{CAP_NAME[case]} of {cap} uA*ms")
