"""The charge bound and the ends of sessions at the edges of their rules.

- DOSE-002 / ENV-005 / DOSE-003: the upper bound of the charge through the electrodes
  (`bound_uams`), tick by tick: a reading within the tracking tolerance counts as measured,
  one below it counts as the command; a research average that is not a whole uA adds the
  sensor's resolution, a drug's does not; the probe charge of a pause is exact integer charge;
- DOSE-002: a ramp-down begins on the tick whose landing (charge + projection) is exactly the
  dose or the cap, and a dose that is the cap completes;
- CTL-006: on the tick a goal (or a half-time reversal) is reached the command falls one slew
  step, never stays up nor rises, even from within one step of zero;
- SUP-015: the deadline of a ramp-down towards a fault counts every tick, late ones and ones
  that repeat the fault included; a blind tick keeps the ramp going;
- SUP-004, SUP-019: a ramp-then-fault in a stop's ramp-down, and a second one after a reset,
  are recorded as what they are.

Expected values are derived from the rules, the prescriptions, and the device and
supervision limits, never read from the controller.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from iontocore import Controller, Prescription, Sample, profiles
from iontocore.faults import FaultCode, Reaction
from iontocore.protocol import PULSE, Protocol, Step
from iontocore.supervision import SupervisionLimits, tracking_floor_ua

from short_session import (DEVICE, RX, SENSE_1UA, STEP_UA, SUP, TICK, in_swap_at_zero, run,
                           started)

DEX = profiles.load("dexamethasone-40")
DRUG = replace(DEX, target_ua=2_000, ramp_ms=1_000, min_ua=1_000, max_ua=2_000)
PM = SUP.tracking_tolerance_permille


def _begin(rx: Prescription, tick: int = TICK, sup: SupervisionLimits = SUP,
           device: object = DEVICE) -> Controller:
    ctl = Controller(rx, device, sup, tick_ms=tick)  # type: ignore[arg-type]
    ctl.step(Sample(0, 0, 0))
    assert ctl.start().accepted
    return ctl


def _state(ctl: Controller) -> str:
    """The state, read afresh (a comparison after a loop on it is not narrowed away)."""
    return ctl.state


def _feed(ctl: Controller, t: int, along_ua: int) -> None:
    """One sample at `t`: `along_ua` measured along the polarity; the voltage of a 2 kOhm
    load at the command, with one mV of noise (a live sensor)."""
    pol = ctl.polarity
    ctl.step(Sample(t, along_ua * pol, (abs(ctl.command.setpoint_ua) * 2 + t % 2) * pol))


def _average(ctl: Controller) -> int:
    """The whole-uA average the sensor reads for the last command."""
    cmd = ctl.command
    return abs(cmd.setpoint_ua) * cmd.duty_permille // 1000


def _to_treat(ctl: Controller, tick: int = TICK) -> int:
    t = ctl.t_ms
    while ctl.state != "treat":
        t += tick
        _feed(ctl, t, _average(ctl))
        assert ctl.state in ("ramp_up", "treat"), ctl.state
    return t


# ------------------------------------------------------------------ DOSE-002 the bound, per tick

@pytest.mark.req("DOSE-002")
@pytest.mark.parametrize("tick", [TICK, 1])
def test_a_reading_counts_as_measured_within_the_tolerance_and_as_the_command_below_it(
        tick: int) -> None:
    """The charge bound of one tick: the reading when it is within the tracking tolerance of
    the command (max(floor, permille of the command)), the command when it is below that;
    on a 1 ms tick as on a 10 ms one. The dose counts the reading either way."""
    ctl = _begin(DRUG, tick)
    t = _to_treat(ctl, tick)
    cmd = DRUG.target_ua
    assert abs(ctl.command.setpoint_ua) == cmd
    floor = tracking_floor_ua(SUP.tracking_tolerance_ua, PM, DRUG.limit_ua(DEVICE))
    edge = cmd - max(floor, cmd * PM // 1000)
    assert cmd * PM // 1000 > floor  # the permille part is the tolerance here
    for reading, counted in ((cmd, cmd), (edge, edge), (edge - 1, cmd), (edge + 1, edge + 1),
                             (cmd, cmd)):
        b, d = ctl.bound_uams, ctl.delivered_uams
        t += tick
        _feed(ctl, t, reading)
        assert ctl.state == "treat"
        assert ctl.bound_uams - b == counted * tick, (reading, ctl.bound_uams - b)
        assert ctl.delivered_uams - d == reading * tick


RESEARCH = Prescription(name="bound", family="research", target_ua=101, ramp_ms=60,
                        area_mm2=400, return_area_mm2=400, waveform="pulsed", pulse_hz=1_000,
                        duty_permille=500, protocol=Protocol((Step(PULSE, duration_ms=50_000),)))


@pytest.mark.req("ENV-005", "DOSE-003", "DOSE-002")
@pytest.mark.parametrize("rx", [RESEARCH, replace(DRUG, target_ua=1_999, max_ua=1_999,
                                                  waveform="pulsed", pulse_hz=1_000,
                                                  duty_permille=500)],
                         ids=["research", "drug"])
def test_an_average_of_a_fraction_of_a_ua_adds_the_resolution_for_research_only(
        rx: Prescription) -> None:
    """A pulsed command whose average (current x duty) is not a whole uA is read rounded down:
    for the research charge ceiling the bound adds one uA of resolution over the tick; for a
    drug (milliamps) it counts the reading as it is."""
    ctl = _begin(rx)
    t = _to_treat(ctl)
    avg_milli = rx.target_ua * rx.duty_permille
    assert avg_milli % 1000  # 50.5 uA, 999.5 uA
    extra = 1 if rx.family == "research" else 0
    for k in range(3):
        b = ctl.bound_uams
        t += TICK
        reading = avg_milli // 1000 + (k == 1)  # 50 or 51: within the tolerance
        _feed(ctl, t, reading)
        assert ctl.bound_uams - b == (reading + extra) * TICK, (k, ctl.bound_uams - b)


@pytest.mark.req("DOSE-001", "DOSE-002")
@pytest.mark.parametrize("rx", [RX, replace(RX, electrode_a="cathode")], ids=["anode", "cathode"])
def test_the_probe_charge_of_a_pause_is_exact_integer_charge(rx: Prescription) -> None:
    """While paused the probe current counts as probe charge and against the bound, signed
    along the polarity, in whole uA*ms (integers: what the session record shows)."""
    ctl, load = started(rx)
    run(ctl, load, rx.ramp_ms // TICK + 2)
    load.open = True
    run(ctl, load, 30)
    assert ctl.state == "paused"
    p0, b0, t = ctl.probe_uams, ctl.bound_uams, load.t
    for k, probe in enumerate((40, 41, 39, 40), start=1):
        ctl.step(Sample(t + k * TICK, probe * rx.polarity, 50_000 * rx.polarity))
    assert ctl.state == "paused"
    assert type(ctl.probe_uams) is int and type(ctl.bound_uams) is int
    assert ctl.probe_uams - p0 == 160 * TICK and ctl.bound_uams - b0 == 160 * TICK


# ------------------------------------------------------------------ SUP-004 records

@pytest.mark.req("SUP-004", "SUP-013")
def test_a_second_ramp_then_fault_at_zero_is_recorded_as_its_own() -> None:
    """A ramp-then-fault found with the output at zero faults at once, its record closed on
    that tick (zero_tick); after a reset, a second one gets its own closed record and leaves
    the first as it was."""
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    t = 0
    ctl.step(Sample(t, 0, 0))
    n = SUP.implausible_max_consecutive
    for _ in range(n):
        ctl.step(Sample(t + TICK, "garbage", 0))  # type: ignore[arg-type]
    assert ctl.state == "fault"
    first = ctl.faults[0]
    assert first.code is FaultCode.IMPLAUSIBLE_SAMPLE and first.zero_tick == first.tick
    for _ in range(SUP.reset_quiet_ms // TICK + 1):
        t += TICK
        ctl.step(Sample(t, 0, 0))
    assert ctl.reset().accepted and _state(ctl) == "idle"
    t += TICK
    ctl.step(Sample(t, 0, 0))
    for _ in range(n):
        ctl.step(Sample(t + TICK, "garbage", 0))  # type: ignore[arg-type]
    assert _state(ctl) == "fault" and len(ctl.faults) == 2
    assert ctl.faults[0] == first
    second = ctl.faults[1]
    assert second.code is FaultCode.IMPLAUSIBLE_SAMPLE and second.tick == ctl.tick
    assert second.zero_tick == second.tick and second.reaction is Reaction.RAMP_THEN_FAULT


# ------------------------------------------------------------------ DOSE-002 landing exactly

def _ahead_uams(cmd_ua: int, rx: Prescription) -> Fraction:
    """DOSE-002's projection in exact fractions, from the rule and the limits: the look-ahead
    tick and every ramp tick at the command plus the tracking tolerance for a punctual tick,
    one tick at the clock-jump bound at the command plus one step, then settle_ms +
    clock_jump_ms at the tracking floor (DC, every tick punctual)."""
    floor = tracking_floor_ua(SUP.tracking_tolerance_ua, PM, rx.limit_ua(DEVICE))
    tol = Fraction(1000 + PM, 1000)
    step = Fraction(min(rx.slew_ua_per_s, DEVICE.max_slew_ua_per_s) * TICK, 1000)
    total = (cmd_ua * tol + floor) * TICK
    c = Fraction(cmd_ua)
    while c > 0:
        total += (c * tol + floor) * TICK
        c -= step
    total += ((cmd_ua + step) * tol + floor) * SUP.clock_jump_ms
    return total + floor * (SUP.settle_ms + SUP.clock_jump_ms)


RAMP_STEP = DRUG.slew_ua_per_s * TICK // 1000     # 20 uA a tick: the ramp's readings
LAND_TICK = 150                                    # in treat (the ramp ends on tick 101)
LOW_TICK, LOW_READING = 120, 1_700                 # below the tolerance: the bound counts 2000


def _reading(j: int, low: bool) -> int:
    """The reading of the j-th tick after the start: the ramp's command (zero on the first),
    then the target; one low reading at LOW_TICK when `low`."""
    if low and j == LOW_TICK:
        return LOW_READING
    return min(RAMP_STEP * (j - 1), DRUG.target_ua)


@pytest.mark.req("DOSE-002")
@pytest.mark.parametrize("case", ["dose below the rating", "dose at the rating",
                                  "rating reached first"])
def test_the_ramp_down_begins_on_the_tick_whose_landing_is_exactly_the_dose_or_the_rating(
        case: str) -> None:
    """Charge so far + projection reaching the dose, or the electrode rating, exactly starts
    the ramp-down on that tick (at the dose: completed, also when the dose is the rating;
    at the rating with the dose still ahead: stopped, naming the charge)."""
    low = case == "rating reached first"
    delivered = sum(_reading(j, low) for j in range(1, LAND_TICK + 1)) * TICK
    bound = sum(_reading(j, False) for j in range(1, LAND_TICK + 1)) * TICK
    ahead = _ahead_uams(DRUG.target_ua, DRUG)
    assert ahead.denominator == 1  # no rounding in the projection for these numbers
    landing = bound + int(ahead)
    dose = landing  # reached by the dose count, or (one low reading) by the bound first
    rating = 2 * dose if case == "dose below the rating" else landing
    rx = replace(DRUG, dose_uams=dose, electrode_max_uams=rating)
    ctl = _begin(rx)
    pol = ctl.polarity
    for j in range(1, LAND_TICK + 1):
        r = _reading(j, low)
        assert ctl.state in ("ramp_up", "treat"), (j, ctl.state)
        assert abs(ctl.command.setpoint_ua) == _reading(j, False)
        ctl.step(Sample(j * TICK, r * pol, (2 * r + j % 2) * pol))
    assert ctl.delivered_uams == delivered and ctl.state == "ramp_down", ctl.state
    if case == "rating reached first":
        assert ctl.outcome is None and ctl.end_reason == ""
        assert ctl.events[-1].reason == (  # type: ignore[union-attr]
            f"electrode rating of {rating} uA*ms reached: {bound} uA*ms through the electrodes "
            "when the ramp-down began")
    else:
        assert ctl.events[-1].reason == f"dose of {dose} uA*ms reached"  # type: ignore[union-attr]
        assert ctl.events[-1].trigger == "finish"  # type: ignore[union-attr]


# ------------------------------------------------------------------ CTL-006 the goal tick

ONE_UA = replace(RX, target_ua=1, max_ua=1, min_ua=1, step_ua=0, probe_ua=1)
ONE_STEP_NA = ONE_UA.slew_ua_per_s * TICK          # 10 nA a tick: a whole ramp of 100 ticks


@pytest.mark.req("CTL-006", "CTL-002")
@pytest.mark.parametrize("case", ["goal in treat", "reversal", "goal in the swap"])
def test_from_within_one_step_of_zero_a_goal_or_a_reversal_falls_on_that_tick(case: str) -> None:
    """At 1 uA (a slew of 1 uA/s: 10 nA a tick) the command is within one step of zero: on the
    tick the goal (or the half-time reversal) is reached it falls one step, below a whole uA
    (0 uA sent), and after the goal it never shows current again, also when the goal comes
    while the swap holds zero for its dead time."""
    rx = replace(ONE_UA, reverse_at_half=case != "goal in treat")
    dead = 6_000 if case == "goal in the swap" else DEVICE.dead_time_ms  # the goal falls in it
    device = replace(DEVICE, min_reversal_session_ms=rx.duration_ms, dead_time_ms=dead)
    ctl, load = started(rx, device, SENSE_1UA)
    watched = "polarity_swap" if case == "reversal" else "ramp_down"
    while ctl.state != watched:
        before = ctl.state
        if case == "goal in the swap" and before == "polarity_swap":
            assert ctl.command.setpoint_ua == 0
        cmd = run(ctl, load, 1)[0]
        assert not ctl.finished
    assert before == ("polarity_swap" if case == "goal in the swap" else "treat")
    assert cmd.setpoint_ua == 0  # 1000 nA - 10 nA, or the swap's zero
    if case == "reversal":
        return
    assert ctl.end_reason == "" and ctl.outcome is None
    if case == "goal in the swap":  # the ramp-down begins at zero: the next quiet sample settles
        run(ctl, load, 1)
        assert ctl.outcome == "completed"
    rest = run(ctl, load, ONE_UA.ramp_ms // TICK + 5)
    assert all(c.setpoint_ua == 0 for c in rest), [c.setpoint_ua for c in rest if c.setpoint_ua]
    assert ctl.outcome == "completed"
    assert ctl.end_reason == f"treatment time of {rx.duration_ms} ms reached"


@pytest.mark.req("DOSE-002", "CTL-006")
def test_a_dose_within_the_first_projection_completes_without_any_current() -> None:
    """A dose the projection of the first ramp tick already reaches completes on that tick:
    the ramp-down begins at zero and no command ever shows current."""
    rx = replace(DRUG, dose_uams=1_000)
    assert _ahead_uams(0, rx) >= rx.dose_uams
    ctl = _begin(rx)
    cmds = [ctl.step(Sample(k * TICK, 0, 0)) for k in range(1, 6)]
    assert all(c.setpoint_ua == 0 for c in cmds), cmds
    assert ctl.outcome == "completed" and ctl.end_reason == f"dose of {rx.dose_uams} uA*ms reached"


# ------------------------------------------------------------------ RX-010 a one-tick pulse

@pytest.mark.req("RX-010", "RX-011")
def test_a_pulse_done_on_its_first_tick_at_the_target_marks_the_end_at_that_tick() -> None:
    """A pulse of one tick's on-time is done on the ramp's tick at the target: the protocol's
    end marker carries that tick's time from the session start."""
    rx = Prescription(name="one-tick", family="research", target_ua=100, ramp_ms=50,
                      area_mm2=400, return_area_mm2=400,
                      protocol=Protocol((Step(PULSE, duration_ms=TICK),)))
    ctl = _begin(rx)
    step = min(rx.slew_ua_per_s, DEVICE.max_slew_ua_per_s) * TICK // 1000
    at_target = rx.target_ua // step + 1  # the sample answering the first command at the target
    t = 0
    while ctl.state == "ramp_up":
        t += TICK
        _feed(ctl, t, _average(ctl))
    assert ctl.state == "ramp_down" and t == at_target * TICK
    assert not ctl.faults
    end = ctl.markers[-1]
    assert end.kind == "end" and end.t_ms == t and end.session_ms == t - TICK


# ------------------------------------------------------------------ SUP-004 / SUP-008 blind ramp

@pytest.mark.req("SUP-008", "CTL-006")
def test_a_blind_tick_keeps_a_ramp_down_going_to_its_last_step() -> None:
    """A tick without a sample in a ramp-down is a ramp tick (open loop): at 1 uA/s on a 1 ms
    tick (1 nA a tick) a ramp-down from 3 nA is at zero after two fresh ticks and a blind one,
    and the next quiet fresh sample settles the session."""
    rx = replace(DRUG, target_ua=1_000, ramp_ms=600_000, min_ua=500, max_ua=1_000)
    assert rx.slew_ua_per_s == 1
    ctl = _begin(rx, tick=1)
    t = 0
    for _ in range(3):                # 1, 2, 3 nA: the command sent stays 0 uA
        t += 1
        ctl.step(Sample(t, 0, 0))
    assert ctl.stop().accepted
    for _ in range(2):                # 2, 1 nA
        t += 1
        ctl.step(Sample(t, 0, 0))
    ctl.step(None)                    # 0 nA, open loop
    assert ctl.outcome is None
    t += 2
    ctl.step(Sample(t, 0, 0))
    assert ctl.state == "idle" and ctl.outcome == "stopped"


# ------------------------------------------------------------------ SUP-019 in a ramp-down

BATTERY = replace(DEVICE, supply_min_mv=6_000, supply_max_mv=9_000)


@pytest.mark.req("SUP-019", "CTL-006")
def test_a_low_supply_in_a_stops_ramp_down_ends_in_its_own_fault_at_zero() -> None:
    """A low supply found during a stop's ramp-down is a ramp-then-fault there too: the ramp
    goes on at the slew, and the session faults with supply_low once the command is zero."""
    ctl = Controller(RX, BATTERY, SUP, tick_ms=TICK)
    good, low = 8_000, BATTERY.supply_min_mv + 300    # below the stop level, above the minimum
    t = 0
    ctl.step(Sample(t, 0, 0, None, good))
    assert ctl.start().accepted
    while ctl.state != "treat":
        t += TICK
        c = ctl.command.setpoint_ua
        ctl.step(Sample(t, c + t // TICK % 2, 2 * c, None, good))
    assert ctl.stop().accepted
    cmds = [RX.target_ua]
    while _state(ctl) == "ramp_down":
        t += TICK
        c = ctl.command.setpoint_ua
        cmds.append(ctl.step(Sample(t, c + t // TICK % 2, 2 * c, None, low)).setpoint_ua)
    assert _state(ctl) == "fault" and [f.code for f in ctl.faults] == [FaultCode.SUPPLY_LOW]
    assert ctl.faults[0].reaction is Reaction.RAMP_THEN_FAULT
    assert cmds == list(range(RX.target_ua, -1, -STEP_UA)), cmds


# ------------------------------------------------------------------ SUP-007 not in a ramp-down

@pytest.mark.req("SUP-007")
def test_compliance_in_a_ramp_down_is_no_compliance_hold() -> None:
    """The compliance hold applies in the states that hold a current, not in the ramp-down:
    a load at compliance there adds no compliance-limited time."""
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 2)
    assert ctl.state == "treat" and ctl.compliance_limited_ms == 0
    assert ctl.stop().accepted
    load.ohm = DEVICE.compliance_mv * 1000 // (RX.target_ua * 3 // 4)  # allows 75 % of the target
    run(ctl, load, 10)
    assert _state(ctl) == "ramp_down"
    assert ctl.compliance_limited_ms == 0 and not ctl.compliance_limited


# ------------------------------------------------------------------ SUP-015 the ramp's deadline

LATE_MS = SUP.clock_jump_ms - 1   # a late tick, not a clock jump
EARLY_MS = 1                      # an early tick: the ramp falls a tenth of a step


def _dts(case: str) -> list[int]:
    """The intervals after the fault's tick: late ones for time, early ones for ticks, so the
    ramp neither reaches zero nor its deadline too soon. Late ticks: 25 in a row (each one
    repeats the late-ticks fault); low supply: one late tick in eleven (the late bucket
    drains again) while every sample repeats the supply fault."""
    if case == "late ticks":
        return [LATE_MS] * 25 + [EARLY_MS] * 400
    return ([LATE_MS] + [EARLY_MS] * 10) * 40


@pytest.mark.req("SUP-015", "SUP-009", "SUP-019")
@pytest.mark.parametrize("case", ["late ticks", "low supply"])
def test_a_ramp_towards_a_fault_that_does_not_reach_zero_is_cut_at_its_deadline(case: str) -> None:
    """A ramp-down towards a fault is cut (unsettled) once it has run both more ticks and more
    time than its bound from the command at its start (ceil(cmd / (slew x tick)) +
    ceil(settle_ms / tick) + 2 ticks; cmd / slew, times 1 + the late tolerance, + settle_ms
    + 2 ticks of time). Every tick
    counts, also one that repeats the fault being ramped towards (a late tick in a late-ticks
    ramp, a low supply reading in a supply ramp). The ramp's first tick is the fault's; the
    cut is allowed on the first tick past both bounds or the one after it (whether the
    fault's own tick counts is not the rule's to say)."""
    device = BATTERY if case == "low supply" else DEVICE
    ctl = Controller(RX, device, SUP, tick_ms=TICK)
    good, low = 8_000, BATTERY.supply_min_mv + 300
    t = 0

    def feed(dt: int, supply: int) -> None:
        nonlocal t
        t += dt
        c = ctl.command.setpoint_ua
        ctl.step(Sample(t, c + t % 2, 2 * c, None, supply))

    feed(0, good)
    assert ctl.start().accepted
    while ctl.state != "treat":
        feed(TICK, good)
    code = FaultCode.LATE_TICKS if case == "late ticks" else FaultCode.SUPPLY_LOW
    while _state(ctl) == "treat":
        feed(LATE_MS if case == "late ticks" else TICK, low if case == "low supply" else good)
    assert _state(ctl) == "ramp_down" and [f.code for f in ctl.faults] == [code]
    slew = RX.slew_ua_per_s
    cmd_na = RX.target_ua * 1000
    bound_ticks = -(-cmd_na // (slew * TICK)) + -(-SUP.settle_ms // TICK) + 2
    late = 1000 + SUP.late_tolerance_permille      # the ramp's time: late ticks stretch it
    bound_ms = -(-cmd_na * late // (slew * 1000)) + SUP.settle_ms + 2 * TICK
    t0, ticks, took, cut_at = t, 1, 0, 0
    for dt in _dts(case):
        ticks += 1
        took += dt
        feed(dt, low if case == "low supply" else good)
        if _state(ctl) != "ramp_down":
            cut_at = ticks
            break
    assert _state(ctl) == "fault", ctl.state
    rec = ctl.faults[-1]
    assert rec.code is FaultCode.UNSETTLED, ctl.faults
    assert ctl.command.enabled is False and took == t - t0 > bound_ms
    ms = 0                                         # the first tick past both bounds
    for want, dt in enumerate(_dts(case), start=2):
        ms += dt
        if want > bound_ticks and ms > bound_ms:
            break
    assert cut_at in (want, want + 1), (cut_at, want, bound_ticks)


@pytest.mark.req("DOSE-002")
@pytest.mark.parametrize("enabled", [False, True], ids=["output off", "zero command"])
def test_a_reverse_reading_beyond_the_tolerance_never_lowers_the_bound(enabled: bool) -> None:
    """Before the start the output is off; in a swap at zero it is on at 0 uA. Either way a
    reading against the polarity beyond the tolerance counts nothing towards the upper
    bound of the charge (it used to count -1000 uA*ms with the output off), while the
    measured charge keeps its sign."""
    if enabled:
        ctl, load = in_swap_at_zero(replace(DEVICE, dead_time_ms=5_000))
        t = load.t
    else:
        ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
        ctl.step(Sample(0, 0, 0))
        assert ctl.start().accepted and not ctl.command.enabled
        t = 0
    bound = ctl.bound_uams
    ctl.step(Sample(t + TICK, -100, 0))
    assert ctl.bound_uams == bound
