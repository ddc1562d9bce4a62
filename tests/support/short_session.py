"""The short session every controller-rule test runs: a 10-second tap-water prescription
with a 1-second ramp on an ideal resistive load, milliseconds per session (the fast session
suite mutation testing runs against core/controller.py). Expected values in the tests are
derived from these constants and the device and supervision limits, never read from the
controller."""

from __future__ import annotations

from dataclasses import replace

from iontocore import OFF, Command, Controller, DeviceLimits, Prescription, Sample
from iontocore.supervision import SupervisionLimits

TICK = 10
SUP = SupervisionLimits()
DEVICE = DeviceLimits()
RX = Prescription(name="rules", family="tap-water", target_ua=2_000, ramp_ms=1_000,
                  duration_ms=10_000, max_ua=3_000, min_ua=1_000, step_ua=500,
                  max_pause_ms=1_000, contact_stable_ms=200, probe_ua=50, site="palms")
STEP_UA = RX.target_ua * 1000 // RX.ramp_ms * TICK // 1000  # slew x tick


class Load:
    """An ideal current source into `ohm` (pulsed: the sensor reads the average), with the
    device's compliance and one LSB of sensor noise (a live ADC: SUP-003); `open` lifts the electrodes (no current, voltage at the rail)."""

    def __init__(self, ohm: int = 2_000) -> None:
        self.ohm, self.t, self.open = ohm, 0, False

    def __call__(self, cmd: Command) -> Sample:
        self.t += TICK
        amp = abs(cmd.setpoint_ua) if cmd.enabled else 0
        sgn = -1 if cmd.setpoint_ua < 0 else 1
        lsb = (self.t // TICK) % 2
        if self.open:
            return Sample(self.t, lsb, sgn * DEVICE.compliance_mv if amp else 0)
        amp = min(amp, DEVICE.compliance_mv * 1000 // self.ohm)
        avg = amp * cmd.duty_permille // 1000  # the sensor reads the average of a pulsed output
        return Sample(self.t, sgn * avg + lsb, sgn * amp * self.ohm // 1000)


def run(ctl: Controller, load: Load, ticks: int, cmd: Command | None = None) -> list[Command]:
    """`ticks` ticks, each sample the load's answer to the previous command (by default the
    controller's last command, so that runs in a row are one continuous session)."""
    out = []
    cmd = ctl.command if cmd is None else cmd
    for _ in range(ticks):
        cmd = ctl.step(load(cmd))
        out.append(cmd)
    return out


def started(rx: Prescription = RX, device: DeviceLimits = DEVICE,
            supervision: SupervisionLimits = SUP) -> tuple[Controller, Load]:
    ctl = Controller(rx, device, supervision, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    return ctl, load


SENSE_1UA = replace(SUP, contact_sense_ua=1)
"""Supervision for sessions at a few uA (shaping at sub-uA steps): a set-point below the
contact sense current is refused (SUP-005), so these judge contact from 1 uA."""

RESET_QUIET_TICKS = SUP.reset_quiet_ms // TICK + 1  # a fault's quiet time, and one tick more


def quiet(ctl: Controller, t: int, ticks: int) -> int:
    """`ticks` samples after time `t` with nothing flowing (one LSB of noise, no voltage);
    returns the last one's time."""
    for _ in range(ticks):
        t += TICK
        ctl.step(Sample(t, (t // TICK) % 2, 0))
    return t


def in_swap_at_zero(device: DeviceLimits = DEVICE) -> tuple[Controller, Load]:
    """A started session reversing at half time (allowed by `device` for this duration), run
    until the polarity swap holds the output at zero."""
    rx = replace(RX, reverse_at_half=True)
    ctl, load = started(rx, replace(device, min_reversal_session_ms=rx.duration_ms))
    while not (ctl.state == "polarity_swap" and ctl.command.setpoint_ua == 0):
        run(ctl, load, 1)
    return ctl, load
