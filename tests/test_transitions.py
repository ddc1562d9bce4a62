"""Each state change of the controller on its exact tick, and what the output does on it:
the settling of a ramp-down, the fault at the end of a ramp towards a fault, the polarity
flip of a swap and its return to treat, the pause count, the first and last steps of a
research protocol, and a sensor whose noise must change the reading.

Expected ticks and values are derived from the prescription, the device and supervision
limits and the samples the test feeds, never read from the controller.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from iontocore import Command, Controller, Prescription, Sample
from iontocore.events import StateChanged
from iontocore.faults import FaultCode
from iontocore.protocol import BASELINE, GAP, PULSE, Protocol, Step

from short_session import (DEVICE, RESET_QUIET_TICKS, RX, SENSE_1UA, STEP_UA, SUP, TICK, Load, quiet,
                           run, started)

ZERO = DEVICE.zero_tolerance_ua


def _changes(ctl: Controller) -> list[tuple[str, str, str]]:
    return [(e.trigger, e.source, e.dest) for e in ctl.events if isinstance(e, StateChanged)]


def _treat() -> tuple[Controller, Load]:
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 2)
    assert ctl.state == "treat"
    return ctl, load


# ------------------------------------------------------------------ the end of a ramp-down

@pytest.mark.req("CTL-006")
@pytest.mark.parametrize("reading, settles", [(ZERO, True), (-ZERO, True), (ZERO + 1, False)])
def test_a_ramp_down_settles_on_the_first_reading_within_the_zero_tolerance(
        reading: int, settles: bool) -> None:
    ctl, load = _treat()
    assert ctl.stop().accepted
    run(ctl, load, RX.target_ua // STEP_UA)   # the command falls to zero at the slew
    assert ctl.command.setpoint_ua == 0 and ctl.state == "ramp_down"
    ctl.step(Sample(load.t + TICK, reading, 0))
    assert (ctl.state == "idle" and ctl.outcome == "stopped") is settles, ctl.state
    assert ctl.end_reason == ("stop requested" if settles else "")


@pytest.mark.req("SUP-004", "CTL-006")
def test_a_ramp_towards_a_fault_ends_in_fault_never_in_idle() -> None:
    """A ramp-then-fault reaction ramps down and, at zero, goes to fault: the ramp-down never
    settles to idle on the way, even with the current within the zero tolerance."""
    ctl, load = _treat()
    t = load.t
    for k in range(1, SUP.implausible_max_consecutive + 1):
        ctl.step(Sample(t + k * TICK, "garbage", 100))  # type: ignore[arg-type]
    t += SUP.implausible_max_consecutive * TICK
    assert ctl.state == "ramp_down"
    load.t = t
    for _ in range(RX.target_ua // STEP_UA + 2):
        run(ctl, load, 1)
        if ctl.state == "fault":
            break
    t = load.t
    assert _changes(ctl)[-2:] == [("stop", "treat", "ramp_down"), ("fault", "ramp_down", "fault")]
    assert ctl.outcome == "fault" and [f.code for f in ctl.faults] == [FaultCode.IMPLAUSIBLE_SAMPLE]
    # the fault's record is closed at zero, and the controller recovers cleanly after a reset
    assert ctl.faults[0].zero_tick == ctl.tick
    t = quiet(ctl, t, RESET_QUIET_TICKS)
    assert ctl.reset().accepted and ctl.state == "idle"
    t = quiet(ctl, t, SUP.leak_settle_ms // TICK + 5)   # idle, quiet: nothing happens
    assert ctl.state == "idle" and len(ctl.faults) == 1


# ------------------------------------------------------------------ the polarity swap

def _swapping(rx: Prescription) -> tuple[Controller, Load, list[tuple[int, int, int, str]]]:
    """Run a reversing session through its swap; per tick (t, command, polarity, state)
    (contact judged from 1 uA: the slow case runs at 2 uA)."""
    device = replace(DEVICE, min_reversal_session_ms=rx.duration_ms)
    ctl = Controller(rx, device, SENSE_1UA, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    seen: list[tuple[int, int, int, str]] = []
    for _ in range(rx.duration_ms // TICK):
        cmd = run(ctl, load, 1)[0]
        seen.append((load.t, cmd.setpoint_ua, ctl.polarity, ctl.state))
        if ctl.polarity == -1 and ctl.state == "treat":
            break
    return ctl, load, seen


@pytest.mark.req("CTL-003")
@pytest.mark.parametrize("slow", [False, True])
def test_the_swap_flips_the_polarity_only_at_zero_after_the_dead_time(slow: bool) -> None:
    """The flip comes on the first tick that is dead_time_ms after the command first showed
    zero and finds the command (in nA, not only the whole uA sent) at zero. At the short
    session's slew both happen together and the dead time decides; with a slew under 1 uA a
    tick the fall from 1 uA to zero takes longer than the dead time and the nA zero decides."""
    rx = replace(RX, reverse_at_half=True)
    if slow:
        rx = replace(rx, target_ua=2, ramp_ms=2_000, max_ua=0, min_ua=0, step_ua=0, probe_ua=2)
    step_na = rx.slew_ua_per_s * TICK
    if slow:
        assert step_na < 1000 and 1000 // step_na * TICK > DEVICE.dead_time_ms
    ctl, load, seen = _swapping(rx)
    swap = [s for s in seen if s[3] == "polarity_swap"]
    first_zero = next(t for t, cmd, _, _ in swap if cmd == 0)
    at_zero_na = -(-rx.target_ua * 1000 // step_na)   # ticks for the nA command to reach zero
    t_na_zero = swap[0][0] + (at_zero_na - 1) * TICK
    flip = next(t for t, _, pol, _ in seen if pol == -1)
    assert flip == max(first_zero + DEVICE.dead_time_ms, t_na_zero + TICK), \
        (flip, first_zero, t_na_zero)


@pytest.mark.req("CTL-003")
def test_the_swap_returns_to_treat_on_the_tick_the_new_polarity_reaches_the_target() -> None:
    ctl, load, seen = _swapping(replace(RX, reverse_at_half=True))
    after = [s for s in seen if s[2] == -1]
    # treat begins on the tick that finds the command at the target (as the ramp-up's
    # at_target): the tick after the first command at the target, not before, not after
    first_treat = next(k for k, s in enumerate(after) if s[3] == "treat")
    first_at = next(k for k, s in enumerate(after) if s[1] == -RX.target_ua)
    assert first_treat == first_at + 1, (first_treat, first_at)


# ------------------------------------------------------------------ pauses

@pytest.mark.req("RX-008")
def test_the_pause_after_the_last_allowed_one_ends_the_session() -> None:
    rx = replace(RX, max_pauses=2, max_pause_ms=5_000)
    ctl, load = started(rx)
    run(ctl, load, rx.ramp_ms // TICK + 2)
    for n in (1, 2):
        load.open = True
        run(ctl, load, 30)
        assert ctl.state == "paused" and ctl.pauses == n, (ctl.state, ctl.pauses)
        assert _changes(ctl)[-1] == ("contact_lost", "treat", "paused")
        assert [e.reason for e in ctl.events if isinstance(e, StateChanged)][-1] == "load open"
        load.open = False
        run(ctl, load, rx.contact_stable_ms // TICK + rx.ramp_ms // TICK + 5)
        assert ctl.state == "treat", ctl.state
    load.open = True
    run(ctl, load, 30)
    assert ctl.state in ("ramp_down", "idle") and ctl.pauses == 2
    load.open = False
    run(ctl, load, rx.ramp_ms // TICK + 5)
    assert ctl.state == "idle" and ctl.outcome == "stopped"
    assert ctl.end_reason == "contact lost 3 times: at most 2 pauses allowed", ctl.end_reason


# ------------------------------------------------------------------ research protocols

def _research(steps: tuple[Step, ...]) -> tuple[Controller, Load]:
    rx = Prescription(name="edges", family="research", target_ua=100, ramp_ms=100,
                      area_mm2=400, return_area_mm2=400, protocol=Protocol(steps))
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    return ctl, load


@pytest.mark.req("RX-011")
def test_a_baseline_first_keeps_the_output_at_zero_from_its_first_tick() -> None:
    ctl, load = _research((Step(BASELINE, duration_ms=500), Step(PULSE, duration_ms=300)))
    cmds = run(ctl, load, 500 // TICK)
    assert [c.setpoint_ua for c in cmds] == [0] * (500 // TICK)


@pytest.mark.req("RX-011", "CTL-006")
def test_after_a_last_step_without_current_the_output_never_rises_again() -> None:
    ctl, load = _research((Step(PULSE, duration_ms=300), Step(GAP, duration_ms=200)))
    cmds: list[Command] = []
    while not ctl.finished and len(cmds) < 1_000:
        cmds += run(ctl, load, 1)
    values = [c.setpoint_ua for c in cmds]
    last_peak = max(k for k, v in enumerate(values) if v == 100)
    assert all(b <= a for a, b in zip(values[last_peak:], values[last_peak + 1:])), values
    assert ctl.outcome == "completed" and values[-1] == 0


# ------------------------------------------------------------------ SUP-003 frozen sensor

@pytest.mark.req("SUP-003")
def test_a_sensor_that_must_change_within_sensor_frozen_ms_faults_when_it_does_not() -> None:
    frozen = 200
    device = replace(DEVICE, sensor_frozen_ms=frozen)
    ctl = Controller(RX, device, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, RX.ramp_ms // TICK + 2)
    t = load.t
    s = Sample(t + TICK, RX.target_ua, RX.target_ua * 2)
    first = t + TICK
    while not ctl.faults and t < first + 10 * frozen:
        t += TICK
        ctl.step(s._replace(t_ms=t))
    assert [f.code for f in ctl.faults] == [FaultCode.SENSOR_STUCK] and ctl.state == "ramp_down"
    assert t - first == frozen, (t, first)   # identical for frozen ms after the first


# ------------------------------------------------------------------ SUP-015 deadlines

def _deadline(swap: bool, dt: int) -> tuple[int, Controller, Sample]:
    """A ramp-down (or a swap's way down) whose handler never ends it (a defect standing in:
    the ramp-down holds the set-point, the swap never flips), samples every `dt` ms on an ideal
    load; returns the number of ticks in the phase when the output was cut, and the controller."""
    rx = replace(RX, reverse_at_half=swap)
    device = replace(DEVICE, min_reversal_session_ms=rx.duration_ms)
    ctl = Controller(rx, device, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, RX.ramp_ms // TICK + 2)
    if swap:
        ctl._handlers["polarity_swap"] = lambda t, i, dt: 0  # type: ignore[attr-defined]
        while ctl.state != "polarity_swap":
            run(ctl, load, 1)
    else:
        ctl._handlers["ramp_down"] = lambda t, i, dt: RX.target_ua  # type: ignore[attr-defined]
        assert ctl.stop().accepted
    t = load.t
    for n in range(1, 2_000):
        t += dt
        load.t = t - TICK   # the load answers at t
        cmd = ctl.command
        s = load(cmd)
        ctl.step(s)
        if ctl.state == "fault":
            return n, ctl, s
    raise AssertionError("never cut")


@pytest.mark.req("SUP-015")
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("dt", [TICK, TICK * (1000 + SUP.late_tolerance_permille) // 1000, TICK // 2])
def test_a_phase_that_never_ends_is_cut_once_past_both_its_tick_and_time_bounds(
        swap: bool, dt: int) -> None:
    """The bound from the command at the phase's start, the slew, settle_ms (and the dead time
    for a swap) with two ticks of margin: the ramp at the slew takes ceil(command / slew) ms,
    with ticks up to the late tolerance late up to (1 + tolerance) times that, and
    ceil(command / (slew x tick)) ticks. The cut comes on the first tick past both: with
    punctual late ticks the tick bound decides, with early ticks the time bound."""
    slew = RX.target_ua * 1000 // RX.ramp_ms
    extra = SUP.settle_ms + (DEVICE.dead_time_ms if swap else 0)
    late = 1000 + SUP.late_tolerance_permille      # the ramp's time: late ticks stretch it
    bound_ms = -(-RX.target_ua * 1000 * late // (slew * 1000)) + extra + 2 * TICK
    bound_ticks = -(-RX.target_ua * 1000 // (slew * TICK)) + -(-extra // TICK) + 2
    want = max(bound_ticks + 1, bound_ms // dt + 1)
    n, ctl, last = _deadline(swap, dt)
    assert n == want, (n, want)
    assert ctl.faults[-1].code is FaultCode.UNSETTLED
    what = "polarity swap" if swap else "ramp-down"
    held = 0 if swap else RX.target_ua   # the command the defective handler kept
    assert ctl.faults[-1].reason == (
        f"{what} did not settle: command {held} uA, measured {last.current_ua} uA after "
        f"{n * dt} ms and {n} ticks (bound {bound_ms} ms, {bound_ticks} ticks)"), ctl.faults[-1].reason


# ------------------------------------------------------------------ CTL-007 device session time

@pytest.mark.req("CTL-007")
@pytest.mark.parametrize("first", [0, 1_000])
def test_the_device_session_time_counts_from_the_last_sample_before_start(first: int) -> None:
    """The device's maximum session time runs from the last sample before the start (stamped
    0 or later): the ramp-down begins on the sample exactly max_session_ms after it, with the
    outcome stopped and the reason naming both times. A pause pushes the treatment past it."""
    device = replace(DEVICE, max_session_ms=12_000)
    rx = replace(RX, duration_ms=10_000, max_pause_ms=5_000)
    ctl = Controller(rx, device, SUP, tick_ms=TICK)
    load = Load()
    load.t = first - TICK
    run(ctl, load, 1)
    assert load.t == first and ctl.start().accepted
    run(ctl, load, rx.ramp_ms // TICK + 2)
    load.open = True
    run(ctl, load, 300)
    load.open = False
    ended = None
    for _ in range(device.max_session_ms // TICK + 5):
        run(ctl, load, 1)
        if ctl.state == "ramp_down":
            ended = load.t
            break
    assert ended == first + device.max_session_ms, (ended, first)
    run(ctl, load, rx.target_ua // STEP_UA + 5)
    assert ctl.state == "idle" and ctl.outcome == "stopped"
    assert ctl.end_reason == (f"device maximum session time of {device.max_session_ms} ms reached "
                              f"({device.max_session_ms} ms since start)"), ctl.end_reason
