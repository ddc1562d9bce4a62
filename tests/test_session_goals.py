"""How sessions end on their goal (CTL-006, DOSE-002): a drug whose dose is reached completes,
one whose dose is not reached within its duration stops and says how much it delivered, a
tap-water session completes at its treatment time; on the tick each ends, the command
already falls one slew step (the ramp-down starts on that tick, it does not hold a tick).

Expected values come from the prescription, the device limits and the samples fed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from iontocore import Controller, Prescription, Sample, profiles

from short_session import DEVICE, RX, SUP, TICK

DEX = profiles.load("dexamethasone-40")


def _run_to_end(rx: Prescription) -> tuple[Controller, int, list[int]]:
    """Ideal readings (the command, one LSB of noise on the voltage); returns the controller,
    the charge fed until the ramp-down began (uA*ms) and the commands around that tick."""
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    t = 0
    ctl.step(Sample(t, 0, 0))
    assert ctl.start().accepted
    fed = 0
    cmds: list[int] = []
    for _ in range(200_000):
        cmd = ctl.command
        t += TICK
        reading = abs(cmd.setpoint_ua) * cmd.duty_permille // 1000
        was = ctl.state
        out = ctl.step(Sample(t, reading * rx.polarity, abs(cmd.setpoint_ua) * 2 + (t // TICK) % 2))
        if was in ("ramp_up", "treat", "polarity_swap"):
            fed += reading * TICK
        cmds.append(abs(out.setpoint_ua))
        if ctl.state == "ramp_down":
            return ctl, fed, cmds[-3:]
    raise AssertionError("never ended")


def _slew_step_na(rx: Prescription) -> int:
    return min(rx.slew_ua_per_s, DEVICE.max_slew_ua_per_s) * TICK


@pytest.mark.req("CTL-006", "DOSE-002")
def test_a_drug_that_cannot_reach_its_dose_in_time_stops_and_says_how_much() -> None:
    rx = replace(DEX, duration_ms=60_000)
    ctl, fed, last = _run_to_end(rx)
    assert ctl.delivered_uams == fed < rx.dose_uams
    assert ctl.treatment_ms == rx.duration_ms      # it stops at its duration, not a tick later
    assert ctl._ending == ("stopped", f"dose not reached within {rx.duration_ms} ms: "  # type: ignore[attr-defined]
                                      f"{fed} of {rx.dose_uams} uA*ms delivered when the "
                                      "ramp-down began")
    assert last[-2] == rx.target_ua
    assert last[-1] == (rx.target_ua * 1000 - _slew_step_na(rx)) // 1000  # falls on that tick


@pytest.mark.req("CTL-006", "DOSE-002")
def test_a_drug_that_reaches_its_dose_completes_and_falls_on_that_tick() -> None:
    rx = replace(DEX, dose_uams=300_000_000)  # reached in treat
    ctl, fed, last = _run_to_end(rx)
    assert fed < rx.dose_uams
    assert ctl._ending == ("completed", f"dose of {rx.dose_uams} uA*ms reached")  # type: ignore[attr-defined]
    assert last[-2] == rx.target_ua
    assert last[-1] == (rx.target_ua * 1000 - _slew_step_na(rx)) // 1000


@pytest.mark.req("CTL-006")
def test_a_tap_water_session_completes_at_its_time_and_falls_on_that_tick() -> None:
    ctl, fed, last = _run_to_end(RX)
    assert ctl.treatment_ms == RX.duration_ms
    assert ctl._ending == ("completed", f"treatment time of {RX.duration_ms} ms reached")  # type: ignore[attr-defined]
    assert last[-2] == RX.target_ua
    assert last[-1] == (RX.target_ua * 1000 - _slew_step_na(RX)) // 1000
