"""The command at the output (CTL-001..003, SUP-019): the clamp to the limit, the slew, the
tracking margin of a fall, the hold on a bad supply reading, the sign gate and the leak
watch's off time, each at its boundary.

Expected values come from the prescription, the device and supervision limits and the
samples the test feeds (the slew is target / ramp, the margin of a fall is the larger of the
tracking floor and tracking_tolerance_permille of the command), never from the controller's
attributes. A few tests stand in for a defective state handler (they replace it, or flip the
polarity behind the swap's back) to show the output's own guards hold without it.
"""

from __future__ import annotations

from copy import copy
from dataclasses import replace

import pytest

from iontocore import Command, Controller, DeviceLimits, Prescription, Sample
from iontocore.faults import FaultCode
from iontocore.protocol import GAP, PULSE, Protocol, Step
from iontocore.supervision import tracking_floor_ua

from clone import clone
from short_session import DEVICE, RX, STEP_UA, SUP, TICK, Load, run, started

COMPLIANCE = DEVICE.compliance_mv


def _ints(cmds: list[Command]) -> bool:
    """Commands are exact integers, as the interface states."""
    return all(type(c.setpoint_ua) is int and type(c.duty_permille) is int for c in cmds)


def _in_treat() -> tuple[Controller, Load]:
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 2)
    assert ctl.state == "treat" and ctl.command.setpoint_ua == RX.target_ua
    return ctl, load


# ------------------------------------------------------------------ CTL-001: the clamp

@pytest.mark.req("CTL-001", "CTL-002")
def test_the_output_clamp_holds_whatever_a_handler_asks() -> None:
    """A handler asking for ten times the limit (a defect standing in) still gets at most the
    effective limit, reached at the slew, and no fault: the clamp is at the output."""
    ctl, load = _in_treat()
    limit = RX.limit_ua(DEVICE)
    ctl._handlers["treat"] = lambda t, i, dt: 10 * limit  # type: ignore[attr-defined]
    cmds = run(ctl, load, (limit - RX.target_ua) // STEP_UA + 10)
    values = [c.setpoint_ua for c in cmds]
    assert max(values) == limit == values[-1] and ctl.state == "treat" and not ctl.faults
    assert all(0 <= b - a <= STEP_UA for a, b in zip([RX.target_ua] + values, values))
    assert _ints(cmds)


# ------------------------------------------------------------------ SUP-019 mid-ramp

@pytest.mark.req("SUP-019", "CTL-002")
def test_a_bad_supply_reading_mid_ramp_holds_the_command_on_that_tick() -> None:
    """One supply reading under supply_min_mv (before its debounce) stops the rise on that
    tick: the command stays where it was; the next good reading rises one step again."""
    device = replace(DEVICE, supply_min_mv=9_000, supply_max_mv=20_000)
    ctl = Controller(RX, device, SUP, tick_ms=TICK)
    load = Load()
    t = load.t

    def feed(supply_mv: int) -> Command:
        nonlocal t
        s = load(ctl.command)
        t = s.t_ms
        return ctl.step(Sample(s.t_ms, s.current_ua, s.voltage_mv, None, supply_mv))

    feed(12_000)
    assert ctl.start().accepted
    values = [feed(12_000).setpoint_ua for _ in range(10)]
    assert values == [STEP_UA * k for k in range(1, 11)]
    held = [feed(8_000) for _ in range(2)]          # under the minimum, not yet debounced
    assert [c.setpoint_ua for c in held] == [values[-1]] * 2 and ctl.state == "ramp_up"
    after = [feed(12_000) for _ in range(3)]
    assert [c.setpoint_ua for c in after] == [values[-1] + STEP_UA * k for k in (1, 2, 3)]
    assert _ints(held + after) and not ctl.faults


# ------------------------------------------------------------------ CTL-002: falls

def _fall(ctl: Controller, t: int, reading_ua: int, voltage_mv: int, ticks: int) -> list[int]:
    out = []
    for k in range(1, ticks + 1):
        cmd = ctl.step(Sample(t + k * TICK, reading_ua, voltage_mv))
        assert _ints([cmd])
        out.append(cmd.setpoint_ua if cmd.enabled else 0)
    return out


@pytest.mark.req("CTL-002")
def test_off_the_rail_a_low_reading_does_not_steepen_the_ramp_down() -> None:
    """Below the compliance voltage a reading far under the command means a broken stage or
    sensor, not a collapsed load: the ramp-down still falls one slew step a tick."""
    ctl, load = _in_treat()
    assert ctl.stop().accepted
    values = _fall(ctl, load.t, 0, 100, 3)
    assert values == [RX.target_ua - STEP_UA * k for k in (1, 2, 3)], values


@pytest.mark.req("CTL-002", "SUP-004")
def test_a_ramp_towards_a_fault_falls_at_the_slew_even_at_the_rail() -> None:
    """A ramp-then-fault reaction (implausible samples, SUP-004) ramps down on the command
    alone: a reading that collapsed at the compliance voltage does not make it steeper."""
    ctl, load = _in_treat()
    t = load.t
    ctl.step(Sample(t + TICK, RX.target_ua, COMPLIANCE))  # at the rail, still tracking
    t += TICK
    for k in range(1, SUP.implausible_max_consecutive + 1):
        ctl.step(Sample(t + k * TICK, "garbage", 100))  # type: ignore[arg-type]
    t += SUP.implausible_max_consecutive * TICK
    assert ctl.state == "ramp_down" and ctl.faults[-1].code is FaultCode.IMPLAUSIBLE_SAMPLE
    start = ctl.command.setpoint_ua
    values = _fall(ctl, t, 0, COMPLIANCE, 3)
    assert values == [start - STEP_UA * k for k in (1, 2, 3)], (start, values)


@pytest.mark.req("CTL-002")
@pytest.mark.parametrize("below, follows", [(0, False), (1, True)])
def test_at_the_rail_a_fall_follows_the_current_only_beyond_the_tracking_margin(
        below: int, follows: bool) -> None:
    """At the compliance voltage a falling command follows the measured current down only
    when it lies more than the margin under the command: margin = max(tracking floor,
    tracking_tolerance_permille of the command). At exactly the margin it is noise and the
    command falls one slew step; one uA further it follows: the reading minus one step."""
    ctl, load = _in_treat()
    floor = tracking_floor_ua(SUP.tracking_tolerance_ua, SUP.tracking_tolerance_permille,
                              RX.limit_ua(DEVICE))
    margin = max(floor, RX.target_ua * SUP.tracking_tolerance_permille // 1000)
    assert margin > floor  # the permille term decides here
    reading = RX.target_ua - margin - below
    assert ctl.stop().accepted
    got = _fall(ctl, load.t, reading, COMPLIANCE, 1)[0]
    assert got == (reading - STEP_UA if follows else RX.target_ua - STEP_UA), (reading, got)


@pytest.mark.req("CTL-002", "CTL-003")
@pytest.mark.parametrize("sample_first", [True, False])
@pytest.mark.parametrize("electrode_a", ["anode", "cathode"])
def test_the_first_ramp_command_is_the_slew_times_the_time_rounded_down(
        sample_first: bool, electrode_a: str) -> None:
    """The command never rises faster than the slew, from the very first tick (started before
    or after the first sample), in the prescribed polarity from the start (no dead time
    before the first current: nothing flowed before): with 999 nA a tick (333 uA/s at 3 ms)
    the k-th interval's command is floor(999 k / 1000) uA."""
    rx = replace(RX, target_ua=333, ramp_ms=1_000, max_ua=0, min_ua=0, step_ua=0, probe_ua=20,
                 electrode_a=electrode_a)
    sign = 1 if electrode_a == "anode" else -1
    tick = 3
    assert rx.slew_ua_per_s * tick == 999
    ctl = Controller(rx, DEVICE, SUP, tick_ms=tick)
    t = 0
    if sample_first:
        ctl.step(Sample(t, 0, 0))
    assert ctl.start().accepted
    if not sample_first:
        t -= tick
    got = []
    for _ in range(12):
        t += tick
        cmd = ctl.step(Sample(t, ctl.command.setpoint_ua, ctl.command.setpoint_ua * 2))
        got.append(cmd.setpoint_ua)
    # started before any sample, the first sample has no interval before it: no rise yet
    first = 1 if sample_first else 0
    assert got == [sign * (999 * k // 1000) for k in range(first, first + 12)]


# ------------------------------------------------------------------ SUP-010: the off time

@pytest.mark.req("SUP-010")
def test_the_leak_watch_counts_the_off_time_from_a_first_sample_stamped_zero() -> None:
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    leak = DEVICE.zero_tolerance_ua + 1
    t = 0
    while t < SUP.leak_settle_ms:
        ctl.step(Sample(t, leak, 0))
        assert ctl.state == "idle", t
        t += TICK
    ctl.step(Sample(t, leak, 0))  # off since 0: leak_settle_ms now
    assert ctl.state == "fault" and ctl.faults[-1].code is FaultCode.LEAK


@pytest.mark.req("SUP-010")
def test_after_a_session_the_off_time_starts_when_the_output_goes_off() -> None:
    """A current that dies out within leak_settle_ms of the output going off at the end of
    a session is no leak: the off time starts at the end, not at some earlier moment."""
    ctl, load = started()
    cmd = ctl.command
    while ctl.state != "idle":
        cmd = ctl.step(load(cmd))
        assert ctl.state != "fault", ctl.faults
    off_at = load.t
    t = off_at
    while t + TICK < off_at + SUP.leak_settle_ms:
        t += TICK
        ctl.step(Sample(t, DEVICE.zero_tolerance_ua + 5, 0))  # dying out, still above zero
    ctl.step(Sample(t + TICK, 0, 0))
    assert ctl.state == "idle" and not ctl.faults and ctl.outcome == "completed"


# ------------------------------------------------------------------ CTL-003: the sign gate

def _flipped_behind_the_swap(device: DeviceLimits) -> tuple[Controller, int]:
    """In treat, the polarity is flipped without a swap (a defect standing in); returns the
    controller and the time of its last sample."""
    ctl = Controller(RX, device, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, RX.ramp_ms // TICK + 2)
    assert ctl.state == "treat"
    ctl._polarity = -ctl._polarity  # type: ignore[attr-defined]
    return ctl, load.t


@pytest.mark.req("CTL-003")
@pytest.mark.parametrize("dead_time_ms", [DEVICE.dead_time_ms, 1])
def test_the_output_shows_a_new_sign_only_after_the_dead_time_at_zero(dead_time_ms: int) -> None:
    """Even with a reading of zero, the output never shows a new sign without first sitting
    at zero for the dead time: the command drops to zero, and the first command of the new
    sign comes on the first tick at least dead_time_ms after the first zero."""
    device = replace(DEVICE, dead_time_ms=dead_time_ms)
    ctl, t = _flipped_behind_the_swap(device)
    first_zero = None
    for _ in range(dead_time_ms // TICK + 20):
        t += TICK
        cmd = ctl.step(Sample(t, (t // TICK) % 2, 0))  # near zero, one LSB of noise
        if cmd.setpoint_ua == 0 and first_zero is None:
            first_zero = t
        if cmd.setpoint_ua < 0:
            break
        assert cmd.setpoint_ua == 0, (t, cmd)  # never the old sign either: at zero
    assert first_zero is not None and cmd.setpoint_ua < 0
    assert t == first_zero + max(TICK, -(-dead_time_ms // TICK) * TICK), (t, first_zero)


@pytest.mark.req("CTL-002")
@pytest.mark.parametrize("permille", [SUP.tracking_tolerance_permille, 333])
def test_the_tracking_margin_of_a_fall_is_counted_from_the_whole_ua_command(permille: int) -> None:
    """The margin of a fall is the tracking tolerance of the command sent, in whole uA:
    max(floor, C x permille / 1000 rounded down) for C = the command in whole uA. On every
    tick of a ramp-down whose slew is not a whole uA a tick (the command carries nA), a reading
    just inside the margin (in nA, exact) lets the command fall one step, a reading one uA
    further makes it follow the current down: the reading minus one step."""
    sup = replace(SUP, tracking_tolerance_permille=permille)
    rx = replace(RX, target_ua=1_995, max_ua=0, min_ua=0, step_ua=0)
    step_na = rx.slew_ua_per_s * TICK
    assert step_na % 1000  # 19 950 nA a tick: the command carries a fraction of a uA
    floor = tracking_floor_ua(sup.tracking_tolerance_ua, permille, rx.limit_ua(DEVICE))
    ctl = Controller(rx, DEVICE, sup, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, rx.ramp_ms // TICK + 2)
    assert ctl.state == "treat" and ctl.stop().accepted
    prev_na, t = rx.target_ua * 1000, load.t
    for _ in range(60):
        margin = max(floor, prev_na // 1000 * permille // 1000)
        follow = (prev_na - margin * 1000 - 1) // 1000  # the largest reading it follows
        for reading, want_na in ((follow + 1, prev_na - step_na), (follow, follow * 1000 - step_na)):
            probe = clone(ctl)
            cmd = probe.step(Sample(t + TICK, reading, COMPLIANCE))
            assert cmd.setpoint_ua == max(want_na, 0) // 1000, (prev_na, reading, cmd)
        t += TICK
        ctl.step(Sample(t, prev_na // 1000, COMPLIANCE))  # on track: fall one step
        prev_na -= step_na
        assert ctl.command.setpoint_ua == prev_na // 1000 and ctl.state == "ramp_down"


# ------------------------------------------------------------------ CTL-002: ending on an open load

def _open_sample(load: Load, cmd: Command) -> Sample:
    """The load's answer with the electrodes lifted: no current, the voltage at the rail."""
    load.open = True
    try:
        return load(cmd)
    finally:
        load.open = False


RESEARCH = Prescription(name="edges", family="research", target_ua=200, ramp_ms=1_000,
                        area_mm2=400, return_area_mm2=400,
                        protocol=Protocol((Step(PULSE, duration_ms=1_000),
                                           Step(GAP, duration_ms=500),
                                           Step(PULSE, duration_ms=500))))
ENDINGS = {
    # name: (prescription, the state the ending leaves). The time-based endings of treat (the
    # treatment time, the half-time reversal) cannot fall on a collapsed tick: treatment time
    # counts only while the output does what it was told.
    "pulse done": (RESEARCH, "treat"),
    "last pulse done": (replace(RESEARCH, protocol=Protocol((Step(PULSE, duration_ms=1_000),))),
                        "treat"),
}


@pytest.mark.req("CTL-002", "CTL-006")
@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_an_ending_on_a_collapsed_current_drops_to_zero_not_to_a_current_of_its_own(
        ending: str) -> None:
    """On the tick the output is to go to zero (a protocol pulse done, the last one or not),
    with the current collapsed at the rail (the electrodes lifted on
    that very tick), the command follows the current down to zero: it never stops at a
    current of its own (1 uA) on the way."""
    rx, leaves = ENDINGS[ending]
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    for _ in range(20_000):
        if ctl.state == leaves:
            probe, probe_load = clone(ctl), copy(load)
            probe.step(_open_sample(probe_load, probe.command))
            if probe.state != leaves:       # the ending falls on this tick
                cmd = ctl.step(_open_sample(load, ctl.command))
                assert ctl.state == probe.state and cmd.setpoint_ua == 0, (ctl.state, cmd)
                return
        run(ctl, load, 1)
    raise AssertionError(f"no ending from {leaves}")


@pytest.mark.req("CTL-002", "RX-008", "RX-009")
@pytest.mark.parametrize("limit", ["pauses", "pause time", "interrupt ends"])
def test_a_session_ended_by_a_lost_contact_drops_to_zero_on_that_tick(limit: str) -> None:
    """Contact lost beyond the pauses allowed, a pause past max_pause_ms, or a protocol pulse
    interrupted with on_interrupt = end: on the tick the session ends the command follows the
    collapsed current to zero, never to a current of its own."""
    if limit == "interrupt ends":
        rx = replace(RESEARCH,
                     protocol=Protocol((Step(PULSE, duration_ms=5_000),), on_interrupt="end"))
    else:
        # paused, the command is the probe and falls at the slew: a probe of one step falls
        # to zero in one tick
        rx = replace(RX, max_pauses=0 if limit == "pauses" else 3, max_pause_ms=1_000,
                     probe_ua=STEP_UA)
    ctl, load = started(rx)
    run(ctl, load, rx.ramp_ms // TICK + 5)
    load.open = True
    for _ in range(rx.max_pause_ms // TICK + 100):
        state = ctl.state
        cmd = run(ctl, load, 1)[0]
        if ctl.state == "ramp_down":
            assert cmd.setpoint_ua == 0, (state, cmd)
            return
    raise AssertionError(f"the session did not end: {ctl.state}")
