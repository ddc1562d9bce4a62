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
from iontocore.supervision import tracking_floor_ua

from short_session import DEVICE, SUP, TICK

ROUNDING = 4  # uA*ms: the parts rounded up one by one


def oracle_uams(cmd_na: int, rx: Prescription, dt_ms: int, tick_ms: int = TICK) -> Fraction:
    pm = SUP.tracking_tolerance_permille
    floor = tracking_floor_ua(SUP.tracking_tolerance_ua, pm, rx.limit_ua(DEVICE))
    slew = min(rx.slew_ua_per_s, DEVICE.max_slew_ua_per_s)
    tol = Fraction(1000 + pm, 1000)
    avg = Fraction(cmd_na * rx.duty_permille, 10**6)           # uA, average
    step = Fraction(slew * tick_ms * rx.duty_permille, 10**6)  # uA a tick, average
    total = (avg * tol + floor) * dt_ms                        # the look-ahead tick
    c = avg
    while c > 0:                                               # the ramp, tick by tick
        total += (c * tol + floor) * dt_ms
        c -= step
    total += ((avg + step) * tol + floor) * SUP.clock_jump_ms  # one tick at the jump bound
    return total + floor * (SUP.settle_ms + SUP.clock_jump_ms)


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
