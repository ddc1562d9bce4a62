"""The controller in fault: the output stays off, charge still flowing is counted (DOSE-001),
and a reset needs the stated quiet time shown by punctual fresh samples (SUP-013).

Every expected value is derived from the device and supervision limits (the zero tolerance,
the reset quiet time, the late tolerance) and from the samples the test feeds, never read
from the controller. The quiet-run rule as SUP-013 states it: the run starts at a fresh
sample within the zero tolerance and grows by the interval of each later fresh sample that
is punctual (0 < dt <= tick x (1 + late tolerance)) and quiet; anything else (a missing,
repeated, late or not-quiet sample) means no evidence, and the next quiet sample starts the
run again at zero.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from iontocore import Controller, DeviceLimits, Prescription, Sample
from iontocore.faults import FaultCode
from iontocore.supervision import SupervisionLimits

DEVICE = DeviceLimits()
SUP = SupervisionLimits()
TICK = 10
NEED = SUP.reset_quiet_ms              # quiet time a reset needs (ms)
ZERO = DEVICE.zero_tolerance_ua


def _rx(anode_a: bool = True) -> Prescription:
    return Prescription(name="fault-state", family="tap-water", target_ua=2_000, ramp_ms=1_000,
                        duration_ms=60_000, site="palms",
                        electrode_a="anode" if anode_a else "cathode")


def _faulted_at(t_fault: int, anode_a: bool = True, sup: SupervisionLimits = SUP) -> Controller:
    """A controller cut by an over-current on its sample at `t_fault` (its first sample when
    `t_fault` is 0): the fault is a hard cut, so the state is fault on that very tick."""
    ctl = Controller(_rx(anode_a), DEVICE, sup, tick_ms=TICK)
    assert ctl.start().accepted
    t = t_fault - 5 * TICK
    while t < t_fault:
        if t >= 0:
            ctl.step(Sample(t, ctl.command.setpoint_ua, 100))
        t += TICK
    ctl.step(Sample(t_fault, DEVICE.sensor_max_ua, 100))  # far beyond the trip
    assert ctl.state == "fault"
    assert [f.code for f in ctl.faults] == [FaultCode.OVERCURRENT]
    return ctl


def _reset_ok(ctl: Controller) -> bool:
    return ctl.reset(acknowledge_overcurrent=True).accepted


# ------------------------------------------------------------------ DOSE-001 in fault

@pytest.mark.req("DOSE-001", "DOSE-002")
@pytest.mark.parametrize("anode_a", [True, False])
def test_a_leak_in_fault_counts_as_delivered_and_against_the_bound(anode_a: bool) -> None:
    """Current flowing in fault (a leak) is real delivery: each fresh sample adds current
    x interval along the session's polarity, to the dose and to the charge bound alike."""
    ctl = _faulted_at(200, anode_a)
    polarity = 1 if anode_a else -1
    d0, b0 = ctl.delivered_uams, ctl.bound_uams
    leak = 300 * polarity                # flowing along the session's polarity
    stamps = [210, 220, 237, 240]        # intervals 10, 10, 17, 3 ms
    prev = 200
    expected = 0
    for s in stamps:
        ctl.step(Sample(s, leak, 100))
        expected += 300 * (s - prev)
        prev = s
        assert ctl.delivered_uams - d0 == expected
        assert ctl.bound_uams - b0 == expected
    ctl.step(Sample(250, -leak, 100))    # against the polarity: counts negative
    expected -= 300 * 10
    assert ctl.delivered_uams - d0 == expected
    assert ctl.bound_uams - b0 == expected
    assert ctl.command.enabled is False and ctl.command.setpoint_ua == 0
    assert type(ctl.delivered_uams) is int and type(ctl.bound_uams) is int  # exact, as stated


@pytest.mark.req("DOSE-001")
def test_a_fault_on_the_first_sample_at_time_zero_still_counts_the_next_interval() -> None:
    """A time stamp of 0 is a real time: the interval after it is counted in fault."""
    ctl = _faulted_at(0)
    d0, b0 = ctl.delivered_uams, ctl.bound_uams
    ctl.step(Sample(TICK, 500, 100))
    assert ctl.delivered_uams - d0 == 500 * TICK
    assert ctl.bound_uams - b0 == 500 * TICK


@pytest.mark.req("DOSE-001", "SUP-013")
def test_a_repeated_time_stamp_in_fault_counts_nothing_and_is_no_quiet_time() -> None:
    ctl = _faulted_at(200)
    t = 200
    for _ in range(NEED // TICK - 1):     # a quiet run of NEED - TICK ms
        t += TICK
        ctl.step(Sample(t, 0, 0))
    d0 = ctl.delivered_uams
    ctl.step(Sample(t, 400, 0))           # the same time again with current: no interval
    ctl.step(Sample(t, 0, 0))             # and again, quiet: not fresh, no evidence either
    assert ctl.delivered_uams == d0
    # no evidence: the run starts again at the next fresh quiet sample
    for _ in range(NEED // TICK):
        t += TICK
        ctl.step(Sample(t, 0, 0))
        assert not _reset_ok(ctl)         # at most NEED - TICK ms of the new run
    t += TICK
    ctl.step(Sample(t, 0, 0))
    assert _reset_ok(ctl)                 # NEED ms of the new run
    assert [f.code for f in ctl.faults] == [FaultCode.OVERCURRENT]  # nothing went wrong inside


# ------------------------------------------------------------------ SUP-013: the quiet run

def _quiet_run(ctl: Controller, t: int, intervals: list[int], i: int = 0) -> int:
    for dt in intervals:
        t += dt
        ctl.step(Sample(t, i, 0))
    return t


@pytest.mark.req("SUP-013")
def test_a_current_at_the_zero_tolerance_is_quiet_and_one_above_it_is_not() -> None:
    ctl = _faulted_at(200)
    t = _quiet_run(ctl, 200, [TICK] * (NEED // TICK), i=ZERO)  # run starts at the first
    assert not _reset_ok(ctl)
    t = _quiet_run(ctl, t, [TICK], i=-ZERO)
    assert _reset_ok(ctl)
    ctl2 = _faulted_at(200)
    _quiet_run(ctl2, 200, [TICK] * (NEED // TICK + 5), i=ZERO + 1)
    assert not _reset_ok(ctl2)


@pytest.mark.req("SUP-013")
def test_an_early_sample_counts_its_own_interval() -> None:
    """A fresh sample 1 ms after the last one is punctual: it adds 1 ms, no more, no less."""
    ctl = _faulted_at(200)
    t = _quiet_run(ctl, 200, [TICK] * (NEED // TICK))     # NEED - TICK ms
    t = _quiet_run(ctl, t, [1])                           # NEED - TICK + 1 ms
    assert not _reset_ok(ctl)
    t = _quiet_run(ctl, t, [TICK - 2])                    # NEED - 1 ms
    assert not _reset_ok(ctl)
    _quiet_run(ctl, t, [1])                               # NEED ms
    assert _reset_ok(ctl)


@pytest.mark.req("SUP-013")
@pytest.mark.parametrize("late_permille", [SUP.late_tolerance_permille, 499])
def test_an_interval_of_exactly_the_late_tolerance_is_punctual_and_one_more_is_not(
        late_permille: int) -> None:
    """Punctual: at most tick x (1 + late tolerance), rounded down to whole ms (10 ms at 49.9 %
    late is 14 ms, at 50 % 15 ms)."""
    sup = replace(SUP, late_tolerance_permille=late_permille)
    punctual = TICK * (1000 + late_permille) // 1000
    n = -(-NEED // punctual)              # intervals of `punctual` ms to reach NEED
    ctl = _faulted_at(200, sup=sup)
    t = _quiet_run(ctl, 200, [TICK])      # the run starts
    t = _quiet_run(ctl, t, [punctual] * (n - 1))
    assert (n - 1) * punctual < NEED and not _reset_ok(ctl)
    _quiet_run(ctl, t, [punctual])
    assert _reset_ok(ctl)
    ctl2 = _faulted_at(200, sup=sup)
    t = _quiet_run(ctl2, 200, [TICK])
    _quiet_run(ctl2, t, [punctual + 1] * (2 * n))  # every one late: each restarts the run
    assert not _reset_ok(ctl2)


@pytest.mark.req("SUP-013")
@pytest.mark.parametrize("breaker", ["missing", "not quiet"])
def test_after_a_break_the_run_starts_again_at_zero(breaker: str) -> None:
    """After a missing or a not-quiet sample, the first quiet sample starts the run: NEED ms
    later (NEED / TICK more samples) a reset is accepted, one tick earlier it is not."""
    ctl = _faulted_at(200)
    t = _quiet_run(ctl, 200, [TICK] * (NEED // TICK + 3))
    if breaker == "missing":
        ctl.step(None)
    else:
        t = _quiet_run(ctl, t, [TICK], i=ZERO + 50)
    assert not _reset_ok(ctl)
    t = _quiet_run(ctl, t, [TICK])        # the run starts (0 ms)
    t = _quiet_run(ctl, t, [TICK] * (NEED // TICK - 1))
    assert not _reset_ok(ctl)
    _quiet_run(ctl, t, [TICK])
    assert _reset_ok(ctl)
    assert [f.code for f in ctl.faults] == [FaultCode.OVERCURRENT]


@pytest.mark.req("SUP-010", "SUP-013")
def test_the_leak_watch_after_a_reset_counts_from_when_the_output_first_went_off() -> None:
    """Idle (output off) since a sample stamped 0, a fault at 50 ms, a reset at once (no quiet
    time asked here): a leak is judged from 0, when the output went off, not from the fault."""
    sup = replace(SUP, reset_quiet_ms=0, leak_settle_ms=200)
    ctl = Controller(_rx(), DEVICE, sup, tick_ms=TICK)
    ctl.step(Sample(0, 0, 0))
    t = 0
    while t < 50:
        t += TICK
        ctl.step(Sample(t, (t // TICK) % 2, 0))
    assert ctl.emergency_stop().accepted
    t += TICK
    ctl.step(Sample(t, 0, 0))
    assert ctl.reset().accepted and ctl.state == "idle"
    leak = DEVICE.zero_tolerance_ua + 1
    while ctl.state == "idle" and t < 1_000:
        t += TICK
        ctl.step(Sample(t, leak, 0))
    assert ctl.faults[-1].code is FaultCode.LEAK and t == sup.leak_settle_ms, t
