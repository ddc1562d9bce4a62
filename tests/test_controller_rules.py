"""Controller rules on short sessions (the fast session suite mutation testing runs against
core/controller.py): a 10-second tap-water prescription with a 1-second ramp on an ideal
resistive load, milliseconds per session. Every expected value is derived from the
prescription and the device and supervision limits, never read from the controller."""

from __future__ import annotations

from collections.abc import Callable
from copy import copy
from dataclasses import replace

import pytest

from iontocore import OFF, Command, Controller, DeviceLimits, Prescription, Sample
from iontocore.events import StateChanged
from iontocore.faults import FaultCode, Reaction
from iontocore.protocol import GAP, PULSE, Protocol, Step

from clone import clone
from short_session import DEVICE, RX, STEP_UA, SUP, TICK, Load, run, started


@pytest.mark.req("CTL-002", "CTL-001")
def test_ramp_up_rises_one_slew_step_a_tick_to_the_target_and_no_further() -> None:
    ctl, load = started()
    cmds = run(ctl, load, RX.ramp_ms // TICK + 20)
    values = [c.setpoint_ua for c in cmds]
    assert all(0 <= b - a <= STEP_UA for a, b in zip([0] + values, values))
    assert values[RX.ramp_ms // TICK - 1] == RX.target_ua  # the ramp takes ramp_ms exactly
    assert max(values) == RX.target_ua and ctl.state == "treat"


@pytest.mark.req("CTL-006")
def test_a_tap_water_session_ends_completed_after_its_treatment_time() -> None:
    ctl, load = started()
    n = 0
    cmd = OFF
    while not (ctl.state == "idle" and ctl.outcome) and n < 2_000:
        cmd = ctl.step(load(cmd))
        n += 1
    assert ctl.outcome == "completed"
    assert ctl.treatment_ms == RX.duration_ms
    # then a ramp-down at the slew: target / step ticks plus the settling tick
    assert n <= RX.duration_ms // TICK + RX.target_ua // STEP_UA + 3
    assert cmd == OFF


@pytest.mark.req("CTL-006")
def test_stop_ramps_down_one_step_a_tick_and_ends_stopped() -> None:
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 5)
    assert ctl.stop().accepted
    cmds = run(ctl, load, RX.target_ua // STEP_UA + 3)
    values = [c.setpoint_ua for c in cmds if c.enabled]
    assert all(0 <= a - b <= STEP_UA for a, b in zip([RX.target_ua] + values, values))
    assert ctl.state == "idle" and ctl.outcome == "stopped"
    assert not ctl.start().accepted  # CTL-008


@pytest.mark.req("CTL-003")
def test_after_the_flip_the_new_sign_waits_for_a_near_zero_reading_on_its_own_tick() -> None:
    """The polarity may flip ticks before the command shows the new sign (a slow slew needs
    several ticks to make 1 uA); the first command of the new sign still needs the measured
    current near zero on that tick: a reading beyond the zero tolerance keeps it at zero, and
    the rise starts again from zero."""
    rx = replace(RX, reverse_at_half=True, target_ua=50, max_ua=0, min_ua=0, step_ua=0)
    assert rx.slew_ua_per_s * TICK < 1000  # under 1 uA a tick
    device = replace(DEVICE, min_reversal_session_ms=rx.duration_ms)
    ctl = Controller(rx, device, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    ctl.start()
    for _ in range(rx.duration_ms // TICK):
        if ctl.polarity == -1:
            break
        run(ctl, load, 1)
    assert ctl.polarity == -1 and ctl.command.setpoint_ua == 0
    for _ in range(1_000):  # until a quiet tick would show the new sign
        probe = clone(ctl)
        if run(probe, copy(load), 1)[0].setpoint_ua:
            break
        run(ctl, load, 1)
    s = load(ctl.command)
    leak = DEVICE.zero_tolerance_ua + 1
    assert ctl.step(Sample(s.t_ms, leak, s.voltage_mv)).setpoint_ua == 0
    assert ctl.faults == []
    # quiet ticks: the command starts again from zero at the slew and shows the new sign
    ticks = -(-1000 // (rx.slew_ua_per_s * TICK))  # ticks to make 1 uA
    assert [c.setpoint_ua for c in run(ctl, load, ticks)] == [0] * (ticks - 1) + [-1]


@pytest.mark.req("RX-005")
def test_adjust_accepts_whole_steps_within_floor_and_ceiling_only() -> None:
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 5)
    assert not ctl.adjust(RX.step_ua // 2).accepted
    assert not ctl.adjust(0).accepted
    assert not ctl.adjust(RX.max_ua - RX.target_ua + RX.step_ua).accepted
    assert not ctl.adjust(RX.min_ua - RX.target_ua - RX.step_ua).accepted
    assert ctl.adjust(RX.max_ua - RX.target_ua).accepted
    cmds = run(ctl, load, (RX.max_ua - RX.target_ua) // STEP_UA + 5)
    assert cmds[-1].setpoint_ua == RX.max_ua
    assert all(0 <= b.setpoint_ua - a.setpoint_ua <= STEP_UA for a, b in zip(cmds, cmds[1:]))
    assert ctl.adjust(RX.min_ua - RX.max_ua).accepted
    cmds = run(ctl, load, (RX.max_ua - RX.min_ua) // STEP_UA + 5)
    assert cmds[-1].setpoint_ua == RX.min_ua


@pytest.mark.req("SUP-005", "DOSE-001")
def test_contact_loss_pauses_at_the_probe_and_time_and_dose_stand_still() -> None:
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 5)
    load.open = True
    run(ctl, load, SUP.contact_loss_debounce_ms // TICK + 3)
    assert ctl.state == "paused"
    time_then, dose_then = ctl.treatment_ms, ctl.delivered_uams
    cmds = run(ctl, load, 10)
    assert all(c.setpoint_ua <= RX.probe_ua for c in cmds)
    assert ctl.treatment_ms == time_then and ctl.delivered_uams == dose_then
    load.open = False
    run(ctl, load, RX.contact_stable_ms // TICK + 3)
    assert ctl.state in ("ramp_up", "treat")


@pytest.mark.req("SUP-005", "CTL-007")
def test_a_pause_longer_than_the_prescription_allows_stops_the_session() -> None:
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 5)
    load.open = True
    run(ctl, load, (SUP.contact_loss_debounce_ms + RX.max_pause_ms) // TICK + 10)
    assert ctl.state == "idle" and ctl.outcome == "stopped"


@pytest.mark.req("SUP-001", "SM-002")
def test_a_reading_beyond_the_trip_cuts_on_that_tick_and_fault_stays_off() -> None:
    ctl, load = started()
    run(ctl, load, 20)
    trip = RX.ceiling_ua + max(SUP.trip_floor_ua, RX.ceiling_ua * SUP.trip_margin_permille // 1000)
    assert ctl.step(Sample(load.t + TICK, trip + 1, 1_000)) == OFF
    assert ctl.state == "fault" and ctl.faults[-1].code is FaultCode.OVERCURRENT
    load.t += TICK
    assert all(c == OFF for c in run(ctl, load, 5))


@pytest.mark.req("SUP-008")
def test_missing_samples_cut_at_the_sample_deadline() -> None:
    ctl, load = started()
    run(ctl, load, 20)
    for n in range(1, SUP.sample_deadline_ms // TICK):
        assert ctl.step(None).enabled, n
    assert ctl.step(None) == OFF and ctl.faults[-1].code is FaultCode.SAMPLE_LOSS


@pytest.mark.req("SUP-008", "DOSE-001")
def test_a_repeated_time_stamp_is_no_fresh_sample() -> None:
    """A sample with the time stamp of the one before (a HAL repeating its last reading) is
    not fresh: nothing is counted for it, the command holds, and as many of them as the
    sample deadline allows cut like missing samples."""
    ctl, load = started()
    run(ctl, load, 20)
    stale = load(ctl.command)
    held = ctl.step(stale)
    delivered, treated = ctl.delivered_uams, ctl.treatment_ms
    for n in range(1, SUP.sample_deadline_ms // TICK):
        assert ctl.step(stale) == held, n
        assert (ctl.delivered_uams, ctl.treatment_ms, ctl.t_ms) == (delivered, treated, stale.t_ms)
    assert ctl.step(stale) == OFF and ctl.faults[-1].code is FaultCode.SAMPLE_LOSS
    assert ctl.faults[-1].reason == f"no fresh sample for {SUP.sample_deadline_ms} ms"


def _implausible(ctl: Controller, load: Load) -> Command:
    load.t += TICK
    return ctl.step(Sample(load.t, DEVICE.sensor_max_ua + 1, 0))


@pytest.mark.req("SUP-004")
@pytest.mark.parametrize("stopped_first", [False, True])
def test_implausible_samples_in_a_row_ramp_down_open_loop_then_fault(stopped_first: bool) -> None:
    """Readings beyond the sensor's range are no samples: the command holds (in treat) for fewer than
    implausible_max_consecutive of them; at that many the fault is recorded (ramp then fault,
    its reason the count) and the ramp-down runs open loop, one slew step a tick, trusting the
    command; at zero the controller is in fault. A ramp-down already running (a stop) is the
    ramp towards the fault: it is not stopped again."""
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 5)
    assert ctl.state == "treat" and ctl.command.setpoint_ua == RX.target_ua
    if stopped_first:
        assert ctl.stop().accepted
        run(ctl, load, 1)
    n = SUP.implausible_max_consecutive
    now = ctl.command.setpoint_ua
    for k in range(1, n):  # held in treat; a ramp-down goes on open loop
        assert _implausible(ctl, load).setpoint_ua == now - (k * STEP_UA if stopped_first else 0)
    out = _implausible(ctl, load)
    rec = ctl.faults[-1]
    assert (rec.code, rec.reason, rec.reaction, rec.tick) == (
        FaultCode.IMPLAUSIBLE_SAMPLE, f"{n} implausible samples in a row",
        Reaction.RAMP_THEN_FAULT, ctl.tick)
    assert ctl.state == "ramp_down"
    mags = [out.setpoint_ua]
    while ctl.state == "ramp_down" and len(mags) < 1_000:
        mags.append(_implausible(ctl, load).setpoint_ua)
    assert all(a - b == STEP_UA for a, b in zip(mags, mags[1:]) if b), mags
    assert mags[-1] == 0 and ctl.state == "fault" and ctl.faults[-1].code is FaultCode.IMPLAUSIBLE_SAMPLE
    stops = [e for e in ctl.events if isinstance(e, StateChanged) and e.trigger == "stop"]
    assert len(stops) == 1 and len(ctl.faults) == 1


@pytest.mark.req("SUP-008")
@pytest.mark.parametrize("ohm", [2_000, 40_000])  # 40 kohm: at the compliance voltage
def test_a_ramp_down_goes_on_open_loop_through_missing_samples(ohm: int) -> None:
    """Without samples a ramp-down trusts its command and falls one slew step a tick, at the
    compliance voltage too (where it otherwise follows the measured current down)."""
    ctl, load = started()
    load.ohm = ohm
    run(ctl, load, RX.ramp_ms // TICK + 5)
    assert ctl.compliance_limited is (ohm == 40_000)
    assert ctl.stop().accepted
    before = run(ctl, load, 1)[0].setpoint_ua
    blind = [ctl.step(None).setpoint_ua for _ in range(SUP.sample_deadline_ms // TICK - 1)]
    assert blind == [before - k * STEP_UA for k in range(1, len(blind) + 1)]
    assert ctl.faults == []


@pytest.mark.req("SUP-013")
def test_reset_needs_the_quiet_time_of_punctual_samples() -> None:
    ctl, load = started()
    run(ctl, load, 20)
    assert ctl.emergency_stop().accepted and ctl.state == "fault"
    quiet = SUP.reset_quiet_ms // TICK
    run(ctl, load, quiet)  # the first sample starts the quiet run at 0 ms
    assert not ctl.reset().accepted
    run(ctl, load, 1)
    assert ctl.reset().accepted and ctl.state == "idle"


@pytest.mark.req("CTL-003")
def test_reversal_keeps_the_output_at_zero_for_the_dead_time() -> None:
    rx = replace(RX, reverse_at_half=True)
    device = replace(DEVICE, min_reversal_session_ms=RX.duration_ms)
    ctl = Controller(rx, device, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    ctl.start()
    cmds = run(ctl, load, (RX.duration_ms // 2 + RX.ramp_ms * 3) // TICK)
    signs = [(c.setpoint_ua > 0) - (c.setpoint_ua < 0) for c in cmds]
    first_neg = signs.index(-1)
    last_pos = max(i for i, s in enumerate(signs) if s == 1)
    assert (first_neg - last_pos - 1) * TICK >= device.dead_time_ms
    assert cmds[-1].setpoint_ua == -RX.target_ua


@pytest.mark.req("RX-005")
def test_adjust_is_refused_and_changes_nothing_while_ramping_down_or_in_fault() -> None:
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 5)
    assert ctl.stop().accepted and ctl.state == "ramp_down"
    reply = ctl.adjust(RX.step_ua)
    assert reply.accepted is False and not reply
    cmds = run(ctl, load, RX.target_ua // STEP_UA + 3)
    assert max(c.setpoint_ua for c in cmds) < RX.target_ua  # still only falling
    ctl2, load2 = started()
    ctl2.emergency_stop()
    assert ctl2.adjust(RX.step_ua).accepted is False


@pytest.mark.req("LINK-005")
def test_report_fault_refuses_a_code_the_hal_may_not_report_and_says_which_are_allowed() -> None:
    from iontocore.faults import EXTERNAL_CODES

    ctl, load = started()
    run(ctl, load, 5)
    reply = ctl.report_fault(FaultCode.OVERCURRENT, "not the HAL's to say")
    assert reply.accepted is False and "allowed" in reply.reason
    assert all(c.value in reply.reason for c in EXTERNAL_CODES)
    assert ctl.state == "ramp_up" and not ctl.faults


@pytest.mark.req("CTL-007", "SUP-005")
def test_total_pause_time_beyond_the_prescription_ends_the_session_stopped() -> None:
    rx = replace(RX, max_pause_ms=1_000, max_paused_total_ms=1_000)
    ctl, load = started(rx)
    run(ctl, load, RX.ramp_ms // TICK + 5)
    for _ in range(4):  # pauses of 600 ms each, each within max_pause_ms
        load.open = True
        run(ctl, load, 60)
        load.open = False
        run(ctl, load, rx.contact_stable_ms // TICK + 5)
        if ctl.state == "idle":
            break
    assert ctl.state == "idle" and ctl.outcome == "stopped" and not ctl.faults
    assert ctl.paused_ms <= rx.max_paused_total_ms + 2 * TICK


DRUG = Prescription(name="drug-rules", family="drug", target_ua=2_000, ramp_ms=1_000,
                    duration_ms=60_000, dose_uams=20_000_000, electrode_max_uams=40_000_000,
                    max_ua=2_000, min_ua=500, step_ua=500, area_mm2=1_000, return_area_mm2=1_000)


@pytest.mark.req("DOSE-002", "DOSE-001")
def test_a_drug_session_ends_completed_at_or_below_its_dose_and_near_it() -> None:
    ctl = Controller(DRUG, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    ctl.start()
    cmd = OFF
    for _ in range(DRUG.duration_ms // TICK):
        cmd = ctl.step(load(cmd))
        if ctl.state == "idle" and ctl.outcome:
            break
    assert ctl.outcome == "completed", ctl.end_reason
    assert ctl.delivered_uams <= DRUG.dose_uams
    # short of the dose by at most the projection's margin (SAFETY.md): a few percent here
    assert ctl.delivered_uams >= DRUG.dose_uams * 97 // 100


@pytest.mark.req("RX-011")
def test_a_step_without_a_current_of_its_own_runs_at_the_adjusted_target() -> None:
    """The patient's adjustment moves the target every step without a current of its own
    runs at, and a step with its own current does not carry over to the next one."""
    rx = Prescription(name="adj", family="research", target_ua=100, max_ua=200, min_ua=50,
                      step_ua=50, ramp_ms=100, area_mm2=400, return_area_mm2=400,
                      protocol=Protocol((Step(PULSE, duration_ms=2_000), Step(GAP, duration_ms=1_000),
                                         Step(PULSE, duration_ms=2_000, current_ua=80),
                                         Step(GAP, duration_ms=1_000),
                                         Step(PULSE, duration_ms=2_000))))
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    cmds = run(ctl, load, 50)
    assert ctl.adjust(50).accepted  # during the first pulse: 100 -> 150 uA
    for _ in range(3_000):
        if ctl.finished:
            break
        cmds += run(ctl, load, 1)
    plateaus, current = [], 0
    for c in cmds:
        if c.setpoint_ua:
            current = max(current, c.setpoint_ua)
        elif current:
            plateaus.append(current)
            current = 0
    assert plateaus == [150, 80, 150], plateaus



@pytest.mark.req("RX-011")
def test_a_pulse_by_time_holds_its_target_for_exactly_its_on_time() -> None:
    """The on-time counts from the first interval the output spends at the target (the tick
    that reaches it) and the ramp down starts on the tick it is complete: a 1000 ms pulse is
    1000 ms at the target on a 10 ms tick (it once ran a tick long), a 500 ms pulse 500 ms."""
    rx = Prescription(name="t", family="research", target_ua=100, ramp_ms=100, area_mm2=400,
                      return_area_mm2=400,
                      protocol=Protocol((Step(PULSE, duration_ms=1_000), Step(GAP, duration_ms=1_000),
                                         Step(PULSE, duration_ms=500))))
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    cmds: list[Command] = []
    while not ctl.finished and len(cmds) < 5_000:
        cmds += run(ctl, load, 1)
    at_target, runs = 0, []
    for c in cmds:
        if c.setpoint_ua == rx.target_ua:
            at_target += 1
        elif at_target:
            runs.append(at_target * TICK)
            at_target = 0
    assert runs == [1_000, 500] and ctl.outcome == "completed", (runs, ctl.end_reason)


def _paused(device: DeviceLimits = DEVICE, rx: Prescription = RX) -> tuple[Controller, Load]:
    ctl = Controller(rx, device, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, RX.ramp_ms // TICK + 5)
    load.open = True
    for _ in range(50):
        run(ctl, load, 1)
        if ctl.state == "paused":
            break
    run(ctl, load, 5)
    assert ctl.state == "paused" and ctl.command.setpoint_ua == rx.probe_ua
    return ctl, load


OPEN = SUP.contact_open_ohm // 1000  # mV per uA above which the contact is open
LOW = replace(DEVICE, compliance_mv=10_000)  # a rail the probe can reach below the open impedance
RAIL = LOW.compliance_mv - SUP.compliance_margin_mv  # at compliance from here up


@pytest.mark.req("SUP-017", "CTL-004")
@pytest.mark.parametrize("device, i, v, back", [
    (DEVICE, RX.probe_ua // 2, RX.probe_ua, True),               # half the probe: contact
    (DEVICE, RX.probe_ua // 2 - 1, RX.probe_ua, False),          # less than half: still open
    (DEVICE, RX.probe_ua // 2, RX.probe_ua // 2 * OPEN, True),   # at the open impedance
    (DEVICE, RX.probe_ua // 2, RX.probe_ua // 2 * OPEN + 1, False),  # above it: open
    (LOW, RX.probe_ua, RAIL - 1, True),                          # just below the rail
    (LOW, RX.probe_ua, RAIL, False),                             # at compliance: not present
    (replace(DEVICE, zero_tolerance_ua=0), 1, 2, True),          # a probe of 1 uA: contact
])
def test_contact_is_back_after_contact_stable_ms_of_a_present_reading_at_the_probe(
        device: DeviceLimits, i: int, v: int, back: bool) -> None:
    """While paused at the probe, contact counts as present when the reading is at least half
    the probe, its impedance not above contact_open_ohm and the output not at compliance; the
    session ramps up again exactly contact_stable_ms after the first such reading."""
    rx = replace(RX, probe_ua=1) if i == 1 else RX
    ctl, load = _paused(device, rx)
    first = load.t + TICK
    resumed_at = None
    for _ in range(RX.contact_stable_ms // TICK + 3):
        load.t += TICK
        ctl.step(Sample(load.t, i, v))
        if ctl.state != "paused":
            resumed_at = load.t
            break
    assert resumed_at == (first + RX.contact_stable_ms if back else None), (resumed_at, first)
    assert ctl.state == ("ramp_up" if back else "paused") and ctl.faults == []


@pytest.mark.req("SUP-017")
@pytest.mark.parametrize("duty, amplitude", [(500, 100), (300, 166), (1_000, 50)])
def test_a_pulsed_probe_is_the_probe_as_an_average_in_whole_microamps(duty: int,
                                                                      amplitude: int) -> None:
    """Paused, the probe current is an average: a pulsed output gives probe x 1000 / duty as
    its amplitude, rounded down to a whole uA (50 uA at 30 %: 166 uA)."""
    rx = replace(RX, waveform="dc" if duty == 1_000 else "pulsed",
                 pulse_hz=0 if duty == 1_000 else 1_000, duty_permille=duty)
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, RX.ramp_ms // TICK + 5)
    load.open = True
    for _ in range(100):
        run(ctl, load, 1)
        if ctl.state == "paused" and ctl.command.setpoint_ua == amplitude:
            break
    probe = ctl.command.setpoint_ua
    assert ctl.state == "paused" and probe == amplitude and type(probe) is int, ctl.command


@pytest.mark.req("CTL-007")
def test_the_tick_a_pause_runs_too_long_already_falls_to_zero() -> None:
    """A pause longer than max_pause_ms stops the session on that tick, and the command falls
    towards zero at once (with a slew step larger than the probe: to zero on that tick)."""
    device = replace(DEVICE, max_slew_ua_per_s=10_000)
    rx = replace(RX, target_ua=10_000, max_ua=0, min_ua=0, step_ua=0)
    assert rx.slew_ua_per_s * TICK // 1000 > rx.probe_ua
    ctl = Controller(rx, device, SUP, tick_ms=TICK)
    load = Load(ohm=500)
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, rx.ramp_ms // TICK + 5)
    load.open = True
    for _ in range(rx.max_pause_ms // TICK + 100):
        cmd = run(ctl, load, 1)[0]
        if ctl.state == "ramp_down":
            break
    last = ctl.events[-1]
    assert ctl.state == "ramp_down" and isinstance(last, StateChanged)
    assert (last.trigger, last.reason) == ("stop", f"contact lost for more than {rx.max_pause_ms} ms")
    assert cmd.setpoint_ua == 0, cmd


@pytest.mark.req("DOSE-001", "SUP-002", "SUP-014")
@pytest.mark.parametrize("reading, counts", [
    (lambda c: c, True),                      # the output does what it is told
    (lambda c: c * 7 // 10, False),           # short of the command beyond the tolerance
    (lambda c: c * 13 // 10, False),          # above it: uncommanded current
])
def test_treatment_time_counts_only_while_the_output_obeys(reading: Callable[[int], int],
                                                           counts: bool) -> None:
    """Treatment time is time the output did what it was told: a reading off the command
    (either way, beyond the tracking tolerance) stops the clock on that tick, before any
    monitor's debounce ends the session."""
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 5)
    assert ctl.state == "treat"
    before = ctl.treatment_ms
    for _ in range(5):
        s = load(ctl.command)
        ctl.step(Sample(s.t_ms, reading(ctl.command.setpoint_ua), s.voltage_mv))
    assert ctl.faults == [] and ctl.state == "treat"
    assert ctl.treatment_ms - before == (5 * TICK if counts else 0)


@pytest.mark.req("SUP-005")
@pytest.mark.parametrize("lifted_ticks", [1, SUP.contact_loss_debounce_ms // TICK + 1])
def test_a_lift_on_a_swaps_way_down_is_judged_at_the_sense_current(lifted_ticks: int) -> None:
    """The electrodes lifted on a polarity swap's way down (at compliance the command would
    follow the collapsed current to zero, where contact is not judged): the command stays at
    the contact sense current while the suspicion is pending. A lift that remains pauses the
    session exactly at the debounce, with the command at the sense current until then; one
    lifted sample, the contact back on the next, is no pause and the way down goes on."""
    ctl, load = started(replace(RX, reverse_at_half=True),
                        replace(DEVICE, min_reversal_session_ms=RX.duration_ms))
    while not (ctl.state == "polarity_swap" and ctl.command.setpoint_ua < RX.target_ua // 2):
        run(ctl, load, 1)
    sense = SUP.contact_sense_ua
    sent = []
    for k in range(SUP.contact_loss_debounce_ms // TICK + 5):
        load.open = k < lifted_ticks
        sent.append((run(ctl, load, 1)[0].setpoint_ua, str(ctl.state)))
    n = SUP.contact_loss_debounce_ms // TICK      # ticks after the first lifted sample
    if lifted_ticks > n:
        assert [c for c, _ in sent[:n]] == [sense] * n, sent
        assert sent[n][1] == "paused" and all(s == "polarity_swap" for _, s in sent[:n]), sent
    else:
        assert sent[0][0] == sense and all(s == "polarity_swap" for _, s in sent), sent
        assert [c for c, _ in sent[1:]] == sorted((c for c, _ in sent[1:]), reverse=True)
        assert sent[-1][0] < sense and ctl.pauses == 0, sent


@pytest.mark.req("SUP-005", "SUP-015")
def test_a_lift_in_the_final_ramp_down_lets_it_end() -> None:
    """No pause in the final ramp-down: the command follows the collapsed current to zero
    (it is not kept at the sense current to judge the contact), and the session ends."""
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 5)
    assert ctl.stop().accepted
    load.open = True
    run(ctl, load, SUP.contact_loss_debounce_ms // TICK + 2)
    assert ctl.command.setpoint_ua == 0, ctl.command
    run(ctl, load, SUP.leak_settle_ms // TICK + 10)
    assert ctl.state == "idle" and ctl.outcome == "stopped" and ctl.faults == [], ctl.faults


@pytest.mark.req("SUP-005")
@pytest.mark.parametrize("flowing, back", [(0, True), (-1, False)])
def test_contact_comes_back_with_half_the_probe_it_was_sent(flowing: int, back: bool) -> None:
    """Contact comes back (here at once: a stable time of 0 ms) on a sample not at
    compliance, below the open-contact impedance, with at least half the probe flowing: half
    of the whole uA the output was sent, also while the probe rises between whole uA (a slew
    of 0.5 uA a tick from a pause entered on the ramp up). One uA less is not enough."""
    slew = 50                                   # uA/s: 500 nA a tick
    rx = replace(RX, ramp_ms=RX.target_ua * 1000 // slew, duration_ms=100_000,
                 contact_stable_ms=0, max_pause_ms=5_000)
    ctl, load = started(rx)
    while ctl.command.setpoint_ua < SUP.contact_sense_ua + 2:
        run(ctl, load, 1)
    load.open = True
    sent = [c.setpoint_ua for c in run(ctl, load, SUP.contact_loss_debounce_ms // TICK + 1)]
    assert ctl.state == "paused" and sent[-1] < RX.probe_ua, (ctl.state, sent)
    while not (sent[-1] == sent[-2] and sent[-1] % 2 == 0):   # between whole uA now, even
        sent.append(run(ctl, load, 1)[0].setpoint_ua)
        assert sent[-1] < RX.probe_ua and ctl.state == "paused", sent
    load.t += TICK
    i = sent[-1] // 2 + flowing                   # half of what was sent, exactly
    ctl.step(Sample(load.t, i, i * load.ohm // 1000))
    assert (str(ctl.state) == "ramp_up") is back, (ctl.state, sent[-3:], i)
