"""The classes of safety defect an independent review found (issue 9), one test per case
and per class: uncommanded current, pulsed supervision, the electrode rating, sessions that
never end, requests that could be tricked. Every expected value here is derived from the
prescription and the device and supervision limits, never read from the controller."""

from __future__ import annotations

import dataclasses

import pytest

import sessions
from invariants import trip_ua
from iontocore.protocol import Protocol, Step
from iontocore import OFF, Command, Controller, DeviceLimits, Prescription, Sample, profiles
from iontocore.faults import FaultCode
from iontocore.hal.sim import SimConfig, SimulatedDevice, parse_injection
from iontocore.supervision import SupervisionLimits, Supervisor
from hypothesis import example, given
from hypothesis import strategies as st

SUP = SupervisionLimits()
DEVICE = DeviceLimits()
TICK = 10


def drive(ctl: Controller, source, max_ticks: int) -> int:  # type: ignore[no-untyped-def]
    """Step `ctl` with samples from `source(command) -> Sample | None` until the session
    has ended (idle with an outcome, or fault); returns the ticks it took. Fails the test
    if the session is still going after `max_ticks` (the library alone must end it)."""
    cmd = OFF
    for n in range(1, max_ticks + 1):
        cmd = ctl.step(source(cmd))
        if ctl.state == "fault" or (ctl.state == "idle" and ctl.outcome):
            return n
    raise AssertionError(f"session still running after {max_ticks} ticks: {ctl.state}, "
                         f"t={ctl.t_ms} ms")


class Load:
    """A resistive load behind an ideal current source with a compliance voltage; optional
    constant offset current (an output stage that does not obey), one LSB of noise."""

    def __init__(self, ohm: int = 2_000, offset_ua: int = 0, compliance_mv: int = 60_000,
                 dt: int = TICK) -> None:
        self.ohm, self.offset, self.compliance, self.dt = ohm, offset_ua, compliance_mv, dt
        self.t = 0

    def __call__(self, cmd: Command) -> Sample:
        self.t += self.dt
        amp = abs(cmd.setpoint_ua) if cmd.enabled else 0
        sgn = -1 if cmd.setpoint_ua < 0 else 1
        amp = min(amp, self.compliance * 1000 // self.ohm)
        avg = amp * cmd.duty_permille // 1000
        i = sgn * (avg + self.offset) + (self.t // TICK) % 2
        v = min((amp + abs(self.offset)) * self.ohm // 1000, self.compliance) * sgn  # the peak
        return Sample(self.t, i, v)


# ---------------------------------------------------------------- 1. uncommanded current

@pytest.mark.req("SUP-014")
def test_current_above_the_command_at_the_voltage_limit_faults() -> None:
    """The review's case: 7 kOhm, the output stage runs away at 60 s; 8.6 mA flow at the
    60 V rail whatever the command. Before: ramp_down forever at command 0."""
    rx = profiles.load("hyperhidrosis-palms")
    ctl, rec = sessions.run(rx, inject=["overcurrent@60"], ohm=7_000)
    assert ctl.state == "fault" and ctl.faults[0].code is FaultCode.UNCOMMANDED_CURRENT
    assert "commanded" in ctl.faults[0].reason
    # At the rail the hold makes the command what flows (60 V / 7 kOhm), so nothing is
    # wrong until the command falls: at the half-time reversal. Then the command falls at
    # the slew; once it is more than the tolerance below what flows, the debounce runs.
    flowing = DEVICE.compliance_mv * 1000 // 7_000
    tolerance = max(SUP.tracking_tolerance_ua, flowing * SUP.tracking_tolerance_permille // 1000)
    t_rev = next(e.t_ms for e in rec.events if getattr(e, "trigger", "") == "reverse")
    latest = t_rev + tolerance * 1000 // rx.slew_ua_per_s + SUP.tracking_debounce_ms + 3 * TICK
    assert t_rev < ctl.faults[0].t_ms <= latest, (t_rev, ctl.faults[0].t_ms, latest)


@pytest.mark.req("SUP-015", "CTL-007")
@pytest.mark.parametrize("offset", [30, -30])
def test_a_constant_offset_never_lets_a_ramp_down_hang(offset: int) -> None:
    """30 uA that nobody commands: below the tracking floor (50 uA), above the zero
    tolerance (20 uA). Before: ramp-down never settled."""
    rx = profiles.load("hyperhidrosis-palms")
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    ctl.start()
    load = Load(offset_ua=offset)
    for _ in range(3_000):
        ctl.step(load(ctl.command))
    ctl.stop()
    drive(ctl, load, 10**6)
    assert ctl.state == "fault" and ctl.faults[-1].code is FaultCode.UNSETTLED
    # the ramp-down from 15 mA at the prescribed slew, then settle_ms at zero
    ramp_ms = 15_000 * 1000 // rx.slew_ua_per_s
    assert ctl.t_ms <= 3_000 * TICK + ramp_ms + SUP.settle_ms + 5 * TICK


@pytest.mark.req("SUP-015", "DOSE-001")
def test_a_polarity_swap_that_cannot_flip_faults_and_time_stops_counting() -> None:
    rx = Prescription(name="short-swap", family="tap-water", target_ua=2_000, ramp_ms=1_000,
                      duration_ms=20_000, reverse_at_half=True, site="palms")
    device = DeviceLimits(min_reversal_session_ms=10_000)
    ctl = Controller(rx, device, SUP, tick_ms=TICK)
    ctl.start()
    load = Load(offset_ua=30)
    cmd = OFF
    for _ in range(5_000):
        cmd = ctl.step(load(cmd))
        if ctl.state == "polarity_swap" and cmd.setpoint_ua == 0:
            break
    assert ctl.state == "polarity_swap" and cmd.setpoint_ua == 0, ctl.state
    time_at_zero = ctl.treatment_ms
    drive(ctl, load, 10_000)
    assert ctl.state == "fault" and ctl.faults[-1].code is FaultCode.UNSETTLED
    assert ctl.treatment_ms == time_at_zero  # 30 uA at a zero command: not treatment time


@pytest.mark.req("SUP-015")
def test_ramp_down_deadline_one_tick_before_and_at_the_bound() -> None:
    """A ramp-down whose command cannot fall (samples say the current collapsed back up
    each tick): the deadline is from the slew, settle_ms and two ticks."""
    rx = profiles.load("hyperhidrosis-palms")
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    ctl.start()
    load = Load()
    for _ in range(3_000):
        ctl.step(load(ctl.command))
    start_cmd = abs(ctl.command.setpoint_ua)
    ctl.stop()
    t0 = ctl.t_ms
    ramp_ms = -(-start_cmd * 1000 // rx.slew_ua_per_s)
    bound = ramp_ms + SUP.settle_ms + 2 * TICK
    load.offset = 25  # just above the zero tolerance: never settles, never uncommanded
    for _ in range(100_000):
        ctl.step(load(ctl.command))
        if ctl.state != "ramp_down":
            break
    assert ctl.state == "fault" and ctl.faults[-1].code is FaultCode.UNSETTLED
    # whichever comes first: settle_ms of current at zero command, or the phase deadline
    assert ctl.t_ms - t0 <= bound + TICK


# ---------------------------------------------------------------- 2. pulsed supervision

PULSED_10 = Prescription(name="pulsed-ten", family="tap-water", target_ua=20_000,
                         ramp_ms=30_000, duration_ms=600_000, waveform="pulsed",
                         pulse_hz=1_000, duty_permille=100, site="palms")


@pytest.mark.req("SUP-017", "SUP-006")
def test_a_short_at_ten_percent_duty_is_caught_at_once() -> None:
    """Before: completed after 4 minutes on a 50 ohm short (average judged as the peak)."""
    ctl, _ = sessions.run(PULSED_10, inject=["short@60"])
    assert ctl.state == "fault" and ctl.faults[0].code is FaultCode.SHORT_CIRCUIT
    assert ctl.faults[0].t_ms <= 60_000 + SUP.short_debounce_ms + 2 * TICK


@pytest.mark.req("SUP-017", "SUP-005")
@pytest.mark.parametrize("duty", [100, 500, 900])
def test_a_pulsed_session_resumes_after_a_contact_loss(duty: int) -> None:
    """Before: never resumed (contact return compared the average with the amplitude)."""
    rx = dataclasses.replace(profiles.load("hyperhidrosis-palms-pulsed"), duty_permille=duty,
                             name=f"pulsed-{duty}")
    ctl, rec = sessions.run(rx, inject=["contact-loss@60:5"])
    assert ctl.outcome == "completed" and ctl.pauses == 1, ctl.end_reason
    assert ctl.treatment_ms == rx.duration_ms


@pytest.mark.req("SUP-017", "SUP-005")
def test_contact_return_needs_the_impedance_below_the_open_threshold() -> None:
    """A 1 MOhm 'contact' carries the probe current below the rail but is still open by
    the threshold: no resume, so no endless pause/resume cycle (before: 2,184 pauses)."""
    ctl, _ = sessions.run("hyperhidrosis-child", ohm=1_000_000)
    assert ctl.outcome == "stopped" and ctl.pauses <= 1, (ctl.pauses, ctl.end_reason)


# ---------------------------------------------------------------- 3. the electrode rating

def _drug(target_ua: int, dose_ma_min: float, ramp_ms: int = 30_000) -> Prescription:
    dose = round(dose_ma_min * 60_000_000)
    return Prescription(name="rated", family="drug", target_ua=target_ua, ramp_ms=ramp_ms,
                        dose_uams=dose, electrode_max_uams=dose, duration_ms=3_600_000,
                        probe_ua=min(50, target_ua), area_mm2=2_000, return_area_mm2=2_000)


LATE_BURSTS = [f"late-ticks@{s}:0.1" for s in range(560, 600, 2)]


@pytest.mark.req("DOSE-002")
@pytest.mark.parametrize("inject, sample_every", [([], 10), (LATE_BURSTS, 10), ([], 15)])
def test_dose_never_passes_the_rating_whatever_the_tick_timing(inject: list[str],
                                                              sample_every: int) -> None:
    """Before: 41.0 mA*min against 40 with late ticks; 40.5 with samples every 15 ms on a
    10 ms tick. Late bursts during the final ramp-down may end it with the hard guard's
    cut (dose_limit) or a late-ticks fault; they never carry the dose past the rating."""
    rx = _drug(4_000, 40)
    device = DeviceLimits(max_session_ms=3_600_000)
    ctl = Controller(rx, device, SUP, tick_ms=TICK)
    sim = SimulatedDevice(SimConfig(tick_ms=sample_every, injections=[parse_injection(k) for k in inject]))
    ctl.start()
    drive(ctl, lambda cmd: (sim.apply(cmd), sim.read())[1], 200_000)
    assert ctl.delivered_uams <= rx.electrode_max_uams, ctl.delivered_uams - rx.electrode_max_uams
    if not inject:
        assert ctl.outcome == "completed", ctl.end_reason
    else:
        assert ctl.outcome == "completed" or ctl.faults[-1].code in (FaultCode.DOSE_LIMIT,
                                                                    FaultCode.LATE_TICKS)


@pytest.mark.req("DOSE-002")
@pytest.mark.parametrize("target_ua", [30, 100, 250])
def test_dose_at_microamp_currents_ends_at_or_below_the_rating(target_ua: int) -> None:
    """Before: +3.1 % at microamp currents."""
    rx = _drug(target_ua, target_ua * 5 / 1000, ramp_ms=10_000)  # about 5 min at the target
    device = DeviceLimits(max_session_ms=3_600_000)
    ctl, _ = sessions.run(rx, device=device)
    # the dose equals the rating: the guard's upper bound of the charge (a reading low
    # counts as the command less the tracking tolerance) may reach the rating a little
    # before the measured dose does, and then the session stops for the rating
    assert ctl.outcome == "completed" or (ctl.outcome == "stopped" and "electrode rating"
                                          in ctl.end_reason), ctl.end_reason
    assert ctl.delivered_uams <= rx.electrode_max_uams
    # and not far short of it: the projection's margin (DOSE-002) is the tracking tolerance
    # on the ramp-down (permille of its charge, plus the floor over its time), one tick at
    # the clock-jump bound, the settling tail and one tick of look-ahead
    floor = max(1, min(SUP.tracking_tolerance_ua, target_ua * SUP.tracking_tolerance_permille // 1000))
    ramp_charge = target_ua * rx.ramp_ms // 2
    margin = (ramp_charge * SUP.tracking_tolerance_permille // 1000 + floor * rx.ramp_ms
              + (target_ua * 11 // 10 + floor) * (SUP.clock_jump_ms + 2 * TICK)
              + floor * (SUP.settle_ms + SUP.clock_jump_ms))
    # plus what the guard's upper bound counted above the readings (noise below the
    # tolerance band: a fraction of a percent at 30 uA, none at 250 uA)
    bias = ctl.bound_uams - ctl.delivered_uams - ctl.probe_uams
    assert 0 <= bias <= rx.dose_uams // 50, bias
    assert ctl.delivered_uams >= rx.dose_uams - margin * 11 // 10 - bias, \
        (rx.dose_uams - ctl.delivered_uams, margin, bias)


@pytest.mark.req("DOSE-002")
def test_ticks_slower_than_the_projection_cut_before_the_rating() -> None:
    """Every tick of the ramp-down at 99 ms (late, but below the 100 ms jump bound): the
    planned ramp cannot land under the rating, so the hard guard cuts first."""
    rx = _drug(4_000, 2, ramp_ms=30_000)
    device = DeviceLimits(max_session_ms=3_600_000)
    ctl = Controller(rx, device, SUP, tick_ms=TICK)
    ctl.start()
    load = Load()
    for _ in range(100_000):
        ctl.step(load(ctl.command))
        if ctl.state in ("ramp_down", "fault"):
            break
    load.dt = 99
    drive(ctl, load, 100_000)
    assert ctl.delivered_uams <= rx.electrode_max_uams
    assert ctl.state == "fault" and ctl.faults[-1].code in (FaultCode.DOSE_LIMIT,
                                                           FaultCode.LATE_TICKS)


# ---------------------------------------------------------------- 4. sessions that end

@pytest.mark.req("CTL-007")
def test_the_library_alone_ends_a_session_at_the_device_maximum() -> None:
    """No runner: pauses every few seconds keep the session from reaching its time; the
    device's max_session_ms ends it. Before: it never ended."""
    rx = dataclasses.replace(profiles.load("hyperhidrosis-palms"), max_pauses=1_000,
                             max_paused_total_ms=14_400_000, name="many-pauses")
    device = DeviceLimits(max_session_ms=1_200_000)
    ctl = Controller(rx, device, SUP, tick_ms=TICK)
    ctl.start()
    load = Load()
    ticks = [0]

    def flaky(cmd: Command) -> Sample:  # contact lost 4 s of every 8 s
        ticks[0] += 1
        s = load(cmd)
        if (ticks[0] // 400) % 2:
            return Sample(s.t_ms, (ticks[0] % 2), 60_000 if cmd.setpoint_ua >= 0 else -60_000)
        return s

    drive(ctl, flaky, 1_200_000 // TICK + 10_000)
    assert ctl.outcome == "stopped" and "maximum session time" in ctl.end_reason
    assert ctl.t_ms <= device.max_session_ms + 15_000 * 1000 // rx.slew_ua_per_s + 2_000


@pytest.mark.req("CTL-007")
def test_pause_count_and_total_pause_time_end_the_session() -> None:
    rx = dataclasses.replace(profiles.load("hyperhidrosis-palms"), max_pauses=3,
                             name="three-pauses", contact_stable_ms=100)
    ctl, _ = sessions.run(rx, inject=[f"contact-loss@{s}:3" for s in (100, 200, 300, 400, 500)])
    assert ctl.outcome == "stopped" and "at most 3 pauses" in ctl.end_reason
    assert ctl.pauses == 3
    rx = dataclasses.replace(profiles.load("hyperhidrosis-palms"), max_paused_total_ms=10_000,
                             name="ten-seconds", contact_stable_ms=100)
    ctl, _ = sessions.run(rx, inject=[f"contact-loss@{s}:6" for s in (100, 200)])
    assert ctl.outcome == "stopped" and "at most 10000 ms" in ctl.end_reason
    assert 10_000 < ctl.paused_ms <= 10_000 + 2 * TICK


@pytest.mark.req("CTL-007")
def test_child_profile_on_an_open_load_ends_inside_the_device_maximum(capsys: pytest.CaptureFixture[str]) -> None:
    from iontocore.shell import cli

    code = cli.main(["run", "--profile", "hyperhidrosis-child", "--fast", "--json",
                     "--sim-ohms", "1000000"])
    import json
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 3 and info["outcome"] == "stopped"
    assert info["pauses"] <= 1 and "stop requested" not in info["end_reason"]
    assert info["ticks"] * TICK <= DEVICE.max_session_ms


# ---------------------------------------------------------------- 5. requests and evidence

def _faulted(tick_ms: int = TICK) -> tuple[Controller, int]:
    ctl = Controller(profiles.load("hyperhidrosis-palms"), DEVICE, SUP, tick_ms=tick_ms)
    ctl.start()
    t = 0
    for _ in range(50):
        t += tick_ms
        ctl.step(Sample(t, ctl.command.setpoint_ua + (t // tick_ms) % 2, 100))
    assert ctl.emergency_stop().accepted
    return ctl, t


@pytest.mark.req("SUP-013")
@pytest.mark.parametrize("stamps", [[10, 5_000], [10, 2**63], [10, 1_200], [10, 20, 1_020]])
def test_one_time_jumped_sample_is_no_quiet_time(stamps: list[int]) -> None:
    ctl, t = _faulted()
    for s in stamps:
        ctl.step(Sample(t + s, 0, 0))
    assert not ctl.reset().accepted and ctl.state == "fault"


@pytest.mark.req("SUP-013")
def test_quiet_time_boundary_one_tick_before_and_at() -> None:
    ctl, t = _faulted()
    need = SUP.reset_quiet_ms // TICK  # intervals of one tick each
    ctl.step(Sample(t + TICK, 0, 0))  # the run starts here
    for k in range(2, need + 1):
        ctl.step(Sample(t + k * TICK, 0, 0))
    assert not ctl.reset().accepted          # (need - 1) ticks of quiet
    ctl.step(Sample(t + (need + 1) * TICK, 0, 0))
    assert ctl.reset().accepted              # need ticks: exactly reset_quiet_ms
    # a late (not jumped) sample also restarts the run
    ctl2, t2 = _faulted()
    punctual = TICK * (1000 + SUP.late_tolerance_permille) // 1000
    ctl2.step(Sample(t2 + TICK, 0, 0))
    ctl2.step(Sample(t2 + TICK + punctual + 1, 0, 0))
    base = t2 + TICK + punctual + 1
    for k in range(1, need):
        ctl2.step(Sample(base + k * TICK, 0, 0))
    assert not ctl2.reset().accepted
    ctl2.step(Sample(base + need * TICK, 0, 0))
    assert ctl2.reset().accepted


@pytest.mark.req("CTL-008")
@pytest.mark.parametrize("how", ["stop", "emergency_stop", "complete"])
def test_an_ended_session_stays_ended(how: str) -> None:
    rx = Prescription(name="ten-seconds", family="tap-water", target_ua=1_000, ramp_ms=1_000,
                      duration_ms=10_000, site="palms")
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    assert ctl.start().accepted
    load = Load()
    for _ in range(200):
        ctl.step(load(ctl.command))
    if how == "stop":
        ctl.stop()
    elif how == "emergency_stop":
        ctl.emergency_stop()
    drive(ctl, load, 100_000)
    if ctl.state == "fault":
        load.offset = 0
        for _ in range(SUP.reset_quiet_ms // TICK + 5):
            load.t += TICK
            ctl.step(Sample(load.t, 0, 0))
        assert ctl.reset().accepted and ctl.state == "idle"
    refused = ctl.start()
    assert not refused.accepted and "new Controller" in refused.reason
    assert ctl.state == "idle" and ctl.command == OFF


@pytest.mark.req("CTL-008", "SUP-013")
def test_a_fault_before_any_start_may_be_reset_and_started() -> None:
    ctl = Controller(profiles.load("hyperhidrosis-palms"), DEVICE, SUP, tick_ms=TICK)
    ctl.emergency_stop()
    for k in range(1, SUP.reset_quiet_ms // TICK + 3):
        ctl.step(Sample(k * TICK, 0, 0))
    assert ctl.reset().accepted and ctl.start().accepted


@pytest.mark.req("SUP-003")
def test_a_sensor_frozen_at_a_constant_command_is_caught_within_the_device_setting() -> None:
    """Before: dexamethasone-40 with sensor-stuck@100 faulted at 600.8 s."""
    ctl, _ = sessions.run("dexamethasone-40", inject=["sensor-stuck@100"])
    assert ctl.state == "fault" and ctl.faults[0].code is FaultCode.SENSOR_STUCK
    assert ctl.faults[0].t_ms <= 100_000 + DEVICE.sensor_frozen_ms + 2 * TICK
    assert "bit-identical" in ctl.faults[0].reason
    off = DeviceLimits(sensor_frozen_ms=0)  # a maker whose sensor has no such noise
    ctl, _ = sessions.run("dexamethasone-40", inject=["sensor-stuck@100"], device=off)
    assert not ctl.faults or ctl.faults[0].t_ms > 100_000 + 10 * DEVICE.sensor_frozen_ms


# ---------------------------------------------------------------- the red team's second round

def _treating(rx: Prescription | None = None, ticks: int = 3_000) -> tuple[Controller, Load]:
    rx = rx or Prescription(name="plain", family="tap-water", target_ua=15_000, ramp_ms=30_000,
                            duration_ms=1_200_000, max_ua=20_000, min_ua=1_000, step_ua=1_000,
                            site="palms")
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    ctl.start()
    load = Load()
    for _ in range(ticks):
        ctl.step(load(ctl.command))
    return ctl, load


@pytest.mark.parametrize("fault, every, code", [pytest.param(*case, marks=pytest.mark.req(rid)) for *case, rid in [
    ("above", 20, FaultCode.UNCOMMANDED_CURRENT, "SUP-014"),     # 19 ticks in 20 far above the command
    ("reversed", 20, FaultCode.UNCOMMANDED_CURRENT, "SUP-014"),  # 19 in 20 against the polarity
    ("short", 3, FaultCode.SHORT_CIRCUIT, "SUP-006"),            # 2 in 3 at 50 ohm
    ("relay", 3, FaultCode.RELAY_MISMATCH, "SUP-010"),           # 2 in 3 with the relay reversed
    ("gain", 20, FaultCode.TRACKING, "SUP-002"),                 # 19 in 20 at 60 % gain
    ("above", 2, FaultCode.UNCOMMANDED_CURRENT, "SUP-014"),      # every other tick
]])
def test_a_fault_that_lets_good_samples_through_is_still_caught(fault: str, every: int,
                                                                 code: FaultCode) -> None:
    """Red team D1: one good sample per window restarted every debounce; never caught."""
    ctl, load = _treating()
    for k in range(3_000):
        s = load(ctl.command)
        cmd = ctl.command.setpoint_ua
        if k % every:
            if fault == "above":  # above the band, below the trip
                s = Sample(s.t_ms, cmd * 5 // 4, s.voltage_mv)
            elif fault == "reversed":
                s = Sample(s.t_ms, -cmd, -s.voltage_mv)
            elif fault == "short":
                s = Sample(s.t_ms, s.current_ua, s.current_ua * 50 // 1000)
            elif fault == "relay":
                s = Sample(s.t_ms, s.current_ua, s.voltage_mv, -1)
            else:
                s = Sample(s.t_ms, s.current_ua * 6 // 10, s.voltage_mv * 6 // 10)
        elif fault == "relay":
            s = Sample(s.t_ms, s.current_ua, s.voltage_mv, 1)
        ctl.step(s)
        if ctl.state == "fault":
            break
    assert ctl.state == "fault" and ctl.faults[-1].code is code, ctl.faults
    assert ctl.faults[-1].t_ms - 30_000 <= 2_000


@pytest.mark.req("SUP-001", "SUP-017")
@pytest.mark.parametrize("duty", [1000, 100, 500, 900])
@pytest.mark.parametrize("margin, cuts", [(1, True), (0, False)])
def test_a_reading_beyond_the_trip_cuts_during_a_sensor_fault_ramp_down(duty: int, margin: int,
                                                                        cuts: bool) -> None:
    """Red team D2: after implausible samples the ramp-down judged nothing, not even the trip.
    The sensor shows the average: at a duty below 100 % the trip shows as trip x duty, and a
    reading one uA beyond that cuts at once; exactly at it does not."""
    rx = Prescription(name="plain", family="tap-water", target_ua=15_000, ramp_ms=30_000,
                      duration_ms=1_200_000, max_ua=20_000, min_ua=1_000, step_ua=1_000,
                      site="palms", **({} if duty == 1000 else {"waveform": "pulsed", "pulse_hz": 1_000,
                                                   "duty_permille": duty}))
    ctl, load = _treating(rx)
    for _ in range(SUP.implausible_max_consecutive):
        ctl.step(Sample(load.t + 1, float("nan"), 0))  # type: ignore[arg-type]
        load.t += TICK
    assert ctl.state == "ramp_down"
    trip = trip_ua(rx, DEVICE, SUP)  # from the prescription and the limits
    shown = trip if duty == 1000 else trip * duty // 1000
    s = load(ctl.command)
    ctl.step(Sample(s.t_ms, shown + margin, 60_000))
    if cuts:
        assert ctl.state == "fault" and ctl.faults[-1].code is FaultCode.OVERCURRENT
    else:
        assert not any(f.code is FaultCode.OVERCURRENT for f in ctl.faults)


@pytest.mark.req("SUP-005", "DOSE-001")
def test_contact_flicker_pauses_and_does_not_count_as_treatment() -> None:
    """Red team D3: contact gone 20 ms of every 30 ms was never declared lost and counted
    as treatment at full rate."""
    ctl, load = _treating()
    time_before, paused = ctl.treatment_ms, False
    for k in range(300):
        s = load(ctl.command)
        if k % 3:
            s = Sample(s.t_ms, (k % 2), 60_000)
        ctl.step(s)
        paused |= ctl.state == "paused"
    assert paused or ctl.state != "treat", ctl.state
    assert ctl.treatment_ms - time_before <= 300 * TICK // 2


@pytest.mark.req("DOSE-002")
def test_one_tick_beyond_every_bound_ends_the_session_at_once() -> None:
    """Red team D4: a single 100 ms tick just under the trip carried the dose past the
    rating; the core cannot un-deliver it, so it must end the session there and then."""
    rx = _drug(4_000, 4, ramp_ms=30_000)
    ctl = Controller(rx, DeviceLimits(max_session_ms=3_600_000), SUP, tick_ms=TICK)
    ctl.start()
    load = Load()
    for _ in range(100_000):  # greedy: every sample at the top of the tolerance band
        s = load(ctl.command)
        ctl.step(Sample(s.t_ms, s.current_ua * 105 // 100 + 25, s.voltage_mv))
        if ctl.state == "ramp_down" and abs(ctl.command.setpoint_ua) < 100:
            break
    left = rx.electrode_max_uams - ctl.delivered_uams
    big = DEVICE.sensor_max_ua - 1_000  # one 100 ms tick near the sensor's range
    load.t += SUP.clock_jump_ms - TICK
    ctl.step(Sample(load.t + TICK, big, 8_000))
    assert ctl.delivered_uams > rx.electrode_max_uams and 0 < left < big * 100
    assert ctl.state == "fault" and ctl.faults[-1].code in (FaultCode.DOSE_LIMIT,
                                                           FaultCode.OVERCURRENT)


@pytest.mark.req("CTL-003")
@pytest.mark.parametrize("tick, target, ramp", [(1, 1_000, 10_000), (10, 100, 10_000)])
def test_the_sign_a_command_shows_changes_only_with_the_current_near_zero(tick: int, target: int,
                                                                          ramp: int) -> None:
    """Red team D5: the swap flipped internally on one quiet sample; the new sign showed
    ticks later, when the measured current could be anything."""
    from invariants import InvariantChecker

    rx = Prescription(name="slow-swap", family="tap-water", target_ua=target, ramp_ms=ramp,
                      duration_ms=40_000, reverse_at_half=True, site="palms")
    ctl = Controller(rx, DeviceLimits(min_reversal_session_ms=10_000), SUP, tick_ms=tick)
    check = InvariantChecker(rx, DeviceLimits(min_reversal_session_ms=10_000), SUP, tick)
    ctl.start()
    load = Load(dt=tick)
    flipped_at = None
    for k in range(100_000):
        s = load(ctl.command)
        if ctl.state == "polarity_swap" and ctl.command.setpoint_ua == 0:
            # quiet on alternate ticks only: a sample may let the flip through, the next not
            s = Sample(s.t_ms, 0 if k % 2 else 60, 0)
        cmd = ctl.step(s)
        check.step(s, cmd, ctl.state)
        if cmd.setpoint_ua < 0:
            flipped_at = k
            break
        if ctl.state == "fault":
            break
    # the checker (CTL-003 from the samples alone) raised nothing; the swap either showed
    # the new sign on a quiet sample or ended as a fault, never with current flowing
    assert flipped_at is not None or ctl.faults[-1].code in (FaultCode.UNSETTLED,
                                                             FaultCode.UNCOMMANDED_CURRENT)


@pytest.mark.req("SUP-014", "SUP-017")
def test_uncommanded_current_is_judged_on_the_amplitude_at_low_duty() -> None:
    """Red team D9: 1.49 mA amplitude at a 1 mA command passed at 10 % duty (the 50 uA
    floor was applied to the average, 500 uA of amplitude)."""
    rx = Prescription(name="low-duty", family="tap-water", target_ua=1_000, ramp_ms=1_000,
                      max_ua=2_000, duration_ms=600_000, waveform="pulsed", pulse_hz=1_000,
                      duty_permille=100, site="palms")
    ctl, load = _treating(rx, 300)
    for _ in range(100):
        s = load(ctl.command)
        ctl.step(Sample(s.t_ms, 149 + (s.t_ms // TICK) % 2, 1_490))
    assert ctl.state == "fault" and ctl.faults[-1].code is FaultCode.UNCOMMANDED_CURRENT


@pytest.mark.req("SUP-014", "SUP-017")
@given(st.integers(-20_000, 20_000), st.sampled_from([100, 250, 500, 900, 1000]),
       st.integers(1, 20_000), st.booleans(), st.booleans())
@example(0, 1000, 51, True, False)
@example(15_000, 100, 1_501 + 50, True, True)
def test_any_current_beyond_the_band_is_caught_within_the_debounce(
        command: int, duty: int, beyond: int, at_rail: bool, reverse: bool) -> None:
    """From the limits alone: the band is the command's amplitude plus max(floor, 10 %) of
    it (floor: tracking_tolerance_ua, at most 10 % of the limit); any amplitude beyond it,
    or against the polarity beyond the floor, at the rail or not, faults after exactly the
    debounce (or at once as over-current when it is past the trip)."""
    limit, trip = 20_000, 22_000
    floor = max(1, min(SUP.tracking_tolerance_ua, limit * SUP.tracking_tolerance_permille // 1000))
    band = abs(command) + max(floor, abs(command) * SUP.tracking_tolerance_permille // 1000)
    sign = (1 if command >= 0 else -1) * (-1 if reverse else 1)
    amp = (beyond + floor) if reverse else band + beyond  # beyond the band, either way
    if reverse and command == 0:
        amp = band + beyond
    avg = sign * amp * duty // 1000 if command else sign * amp
    if command and abs(avg) * 1000 // duty <= (band if not reverse else floor):
        return  # the average's rounding brought it back inside: not a case
    sup = Supervisor(SUP, 60_000, DEVICE.zero_tolerance_ua, TICK, limit)
    cmd = Command(command, True, duty if command else 1000)
    v = (60_000 if at_rail else 1_000) * (1 if avg >= 0 else -1)
    codes = [sup.observe(t, avg, v, None, TICK, cmd, cmd.duty_permille, trip, -1)
             for t in range(0, SUP.tracking_debounce_ms + TICK, TICK)]
    fired = [c for c in codes if c is not None]
    assert fired, (command, duty, amp, avg)
    assert fired[0] in (FaultCode.UNCOMMANDED_CURRENT, FaultCode.OVERCURRENT,
                        FaultCode.SHORT_CIRCUIT), fired
    if fired[0] is FaultCode.UNCOMMANDED_CURRENT:
        assert codes.index(fired[0]) == SUP.tracking_debounce_ms // TICK


@pytest.mark.req("SUP-005", "SUP-017", "CTL-001")
@pytest.mark.parametrize("duty", [100, 500])
def test_a_pulsed_probe_never_exceeds_the_set_point(duty: int) -> None:
    """Review B07: the probe is an average, its amplitude probe / duty; at 10 % duty a 50 uA
    probe is a 500 uA amplitude, above a 200 uA set-point and its limit: capped at both."""
    rx = Prescription(name="tiny-pulsed", family="research", target_ua=200, ramp_ms=1_000,
                      max_ua=400, probe_ua=50,  # a protocol that pauses (repeats) on contact loss
                      protocol=Protocol((Step("pulse", duration_ms=60_000),), on_interrupt="repeat"),
                      waveform="pulsed", pulse_hz=1_000, duty_permille=duty,
                      area_mm2=1_000, return_area_mm2=1_000)
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    ctl.start()
    load = Load()
    for _ in range(500):
        ctl.step(load(ctl.command))
    assert ctl.state == "treat"
    opened = Load(ohm=10_000_000)  # electrodes off the skin: at the rail, no current
    opened.t = load.t
    paused = 0
    for _ in range(300):
        cmd = ctl.step(opened(ctl.command))
        assert abs(cmd.setpoint_ua) <= rx.target_ua, (ctl.state, cmd)  # the set-point
        paused += ctl.state == "paused"
    assert paused > 100


@pytest.mark.req("CTL-001")
def test_the_output_is_clamped_to_the_limit_whatever_a_handler_asks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth (review): a handler asking for twice the set-point still never gets
    a command beyond the effective limit."""
    from iontocore import controller as controller_mod
    from invariants import effective_limit_ua

    monkeypatch.setattr(controller_mod.Controller, "_load_target", lambda self: self.setpoint_ua * 2)
    rx = profiles.load("hyperhidrosis-palms")
    limit = effective_limit_ua(rx, DEVICE)
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    ctl.start()
    load = Load()
    peak = 0
    for _ in range(10_000):
        peak = max(peak, abs(ctl.step(load(ctl.command)).setpoint_ua))
    assert peak == limit and ctl.state != "fault"


@pytest.mark.req("SUP-001")
@pytest.mark.parametrize("reading, trips", [(20_500, False), (20_501, True)])
def test_the_session_trip_never_exceeds_the_device_trip(reading: int, trips: bool) -> None:
    """Review B14: the limit plus its margin (22 mA) lies above a device trip of 20.5 mA: the
    session trips at the device's, on the first sample beyond it."""
    device = dataclasses.replace(DEVICE, max_current_ua=20_000, trip_ua=20_500)
    rx = profiles.load("hyperhidrosis-palms", device)      # limit 20 mA
    ctl = Controller(rx, device, SUP, tick_ms=TICK)
    ctl.start()
    load = Load()
    for _ in range(3_000):
        ctl.step(load(ctl.command))
    s = load(ctl.command)
    ctl.step(Sample(s.t_ms, reading, s.voltage_mv))
    assert (ctl.state == "fault" and ctl.faults[-1].code is FaultCode.OVERCURRENT) is trips


@pytest.mark.req("SUP-013")
def test_a_new_fault_needs_its_own_quiet_time() -> None:
    """Review B22: the quiet time shown before a reset must not carry over to the next
    fault: fault, quiet, reset, emergency stop, and an immediate reset is refused."""
    ctl, t = _faulted()
    need = SUP.reset_quiet_ms // TICK + 1
    for k in range(1, need + 1):
        ctl.step(Sample(t + k * TICK, 0, 0))
    t += need * TICK
    assert ctl.reset().accepted and ctl.state == "idle"
    assert ctl.emergency_stop().accepted and ctl.state == "fault"
    assert not ctl.reset().accepted
    ctl.step(Sample(t + TICK, 0, 0))  # one quiet tick is not reset_quiet_ms either
    assert not ctl.reset().accepted and ctl.state == "fault"
