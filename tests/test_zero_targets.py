"""Where the output is to be at zero, it is asked for zero, never for a current of its own
(CTL-002, RX-011): a session ended by its total pause time (the probe of one slew step falls
to zero in one tick), and a step without current that follows another one (a gap, then a
baseline) keeps the output at zero on every tick."""

from __future__ import annotations

from dataclasses import replace

import pytest

from iontocore import Controller, Prescription, Sample
from iontocore.faults import FaultCode
from iontocore.protocol import BASELINE, GAP, PULSE, Protocol, Step

from short_session import DEVICE, RX, STEP_UA, SUP, TICK, Load, in_swap_at_zero, run, started


@pytest.mark.req("CTL-002", "RX-008")
def test_a_session_ended_by_its_total_pause_time_drops_to_zero_on_that_tick() -> None:
    rx = replace(RX, max_pause_ms=5_000, max_paused_total_ms=1_000, probe_ua=STEP_UA)
    ctl, load = started(rx)
    run(ctl, load, rx.ramp_ms // TICK + 5)
    load.open = True
    for _ in range(rx.max_paused_total_ms // TICK + 100):
        cmd = run(ctl, load, 1)[0]
        if ctl.state == "ramp_down":
            assert cmd.setpoint_ua == 0, cmd
            break
    else:
        raise AssertionError(ctl.state)
    run(ctl, load, 5)
    assert ctl.end_reason.startswith("paused ") and ctl.outcome == "stopped", ctl.end_reason


@pytest.mark.req("RX-011")
def test_a_baseline_after_a_gap_keeps_the_output_at_zero() -> None:
    rx = Prescription(name="rests", family="research", target_ua=100, ramp_ms=100, area_mm2=400,
                      return_area_mm2=400,
                      protocol=Protocol((Step(PULSE, duration_ms=300), Step(GAP, duration_ms=200),
                                         Step(BASELINE, duration_ms=300),
                                         Step(PULSE, duration_ms=300))))
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    values, states = [], []
    while not ctl.finished and len(values) < 1_000:
        values.append(run(ctl, load, 1)[0].setpoint_ua)
        states.append(ctl.state)
    assert ctl.outcome == "completed"
    # from the first zero after the first pulse to the rise of the second, nothing but zero
    first_zero = values.index(0, values.index(100))
    rise = next(k for k in range(first_zero, len(values)) if values[k] > 0)
    assert (rise - first_zero) * TICK >= 500 - TICK, (first_zero, rise)
    assert all(v == 0 for v in values[first_zero:rise])


@pytest.mark.req("SUP-015")
@pytest.mark.parametrize("sign", [1, -1])
def test_current_of_either_sign_with_the_command_at_zero_is_unsettled(sign: int) -> None:
    """Commanded zero (enabled) with more than the zero tolerance flowing for settle_ms cuts
    the output, whichever way the current flows; at the tolerance it is settled."""
    for reading, cuts in ((DEVICE.zero_tolerance_ua + 1, True), (DEVICE.zero_tolerance_ua, False)):
        ctl, load = in_swap_at_zero(replace(DEVICE, dead_time_ms=5_000))
        t = load.t
        for _ in range((SUP.settle_ms + 500) // TICK):
            t += TICK
            ctl.step(Sample(t, sign * reading, 0 + (t // TICK) % 2))
            if ctl.state == "fault":
                break
        got = [f.code for f in ctl.faults]
        assert got == ([FaultCode.UNSETTLED] if cuts else []), (reading, got)
