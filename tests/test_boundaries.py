"""Every timing rule acts exactly at its boundary: not one tick before, and on the tick it
is reached. Each expected tick is derived from the prescription and the device and
supervision limits (or counted from the sample stream), never read from the controller.

Boundaries covered elsewhere: the debounces of every fault monitor and the sample
deadline (the fault matrix requires the detection latency to equal the named debounce,
so one tick early or late fails the cell), the reset quiet time
(tests/test_bounds.py::test_quiet_time_boundary_one_tick_before_and_at), the late-tick
and clock-jump predicates (tests/test_monitors.py).
"""

from __future__ import annotations

import pytest

from invariants import InvariantChecker
from iontocore import Command, Controller, DeviceLimits, Prescription, Sample, SupervisionLimits
from iontocore.faults import FaultCode

TICK = 10
SUP = SupervisionLimits()
DEVICE = DeviceLimits(min_reversal_session_ms=10_000)
COMPLIANCE = DEVICE.compliance_mv


class Bench:
    """A controller on a resistive load behind an ideal current source with a compliance
    voltage (and one LSB of sensor noise), checked by the independent invariant checker on every tick."""

    def __init__(self, rx: Prescription, device: DeviceLimits = DEVICE) -> None:
        self.rx, self.device = rx, device
        self.ctl = Controller(rx, device, SUP, tick_ms=TICK)
        self.check = InvariantChecker(rx, device, SUP, TICK)
        self.t = 1_000
        self.ohm = 2_000
        self.offset = 0      # current flowing beyond what the source was told (uA)
        self.open = False    # electrodes off the skin
        self.last: Sample | None = None

    def sample(self) -> Sample:
        cmd = self.ctl.command
        amp = abs(cmd.setpoint_ua) if cmd.enabled else 0
        sgn = -1 if cmd.setpoint_ua < 0 else 1
        lsb = (self.t // TICK) % 2  # one LSB of noise: a live sensor never repeats for long
        if self.open:
            return Sample(self.t, lsb, sgn * COMPLIANCE if amp else 0)
        amp = min(amp, COMPLIANCE * 1000 // self.ohm)
        i = amp * cmd.duty_permille // 1000 + self.offset + lsb
        return Sample(self.t, sgn * i, sgn * min(amp * self.ohm // 1000, COMPLIANCE))

    def step(self) -> Command:
        s = self.last = self.sample()
        cmd = self.ctl.step(s)
        self.check.step(s, cmd, self.ctl.state, self.ctl.delivered_uams)
        self.t += TICK
        return cmd

    def start(self) -> None:
        reply = self.ctl.start()
        self.check.request("start", reply.accepted, self.ctl.state)
        assert reply.accepted, reply

    def time_of(self, done, limit: int) -> int | None:  # type: ignore[no-untyped-def]
        """Step until `done()`; the sample time of the tick on which it first held (None if
        not within `limit` ticks)."""
        for _ in range(limit):
            t = self.t
            self.step()
            if done():
                return t
        return None

    def until(self, done, limit: int = 200_000) -> None:  # type: ignore[no-untyped-def]
        for _ in range(limit):
            self.step()
            if done():
                return
        raise AssertionError(f"not reached in {limit} ticks: {self.ctl.state}")


def tap(**kw: object) -> Prescription:
    base: dict[str, object] = dict(name="boundary", family="tap-water", target_ua=10_000,
                                   ramp_ms=5_000, duration_ms=600_000, site="palms")
    return Prescription(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.req("SUP-007")
def test_the_compliance_hold_is_released_exactly_after_hold_release_ms() -> None:
    b = Bench(tap())
    b.start()
    b.until(lambda: b.ctl.state == "treat")
    b.ohm = 10_000  # 10 mA would need 100 V: the load allows 6 mA at the 60 V rail
    for _ in range(300):
        b.step()
    held = abs(b.ctl.command.setpoint_ua)
    assert abs(held - COMPLIANCE * 1000 // 10_000) <= 1 and b.ctl.compliance_limited
    b.ohm = 2_000  # back off the rail: the hold is released hold_release_ms later
    first_off = b.t
    rose_at = None
    for _ in range(SUP.hold_release_ms // TICK + 50):
        t = b.t
        cmd = b.step()
        if abs(cmd.setpoint_ua) > held:
            rose_at = t
            break
    assert rose_at == first_off + SUP.hold_release_ms, (rose_at, first_off)


@pytest.mark.req("SUP-007")
def test_a_return_to_the_rail_restarts_the_release_time_and_held_time_is_counted() -> None:
    """Off the rail for less than hold_release_ms, then one tick back at it: the release
    waits hold_release_ms from the next tick off the rail. compliance_limited_ms grows by one
    tick for every tick the command is held (and by nothing once released)."""
    b = Bench(tap())
    b.start()
    b.until(lambda: b.ctl.state == "treat")
    assert b.ctl.compliance_limited_ms == 0
    b.ohm = 10_000
    held_ticks = 0
    for _ in range(100):
        b.step()
        held_ticks += b.ctl.compliance_limited
    held = abs(b.ctl.command.setpoint_ua)
    assert held_ticks > 0 and b.ctl.compliance_limited_ms == held_ticks * TICK
    b.ohm = 2_000
    for _ in range(SUP.hold_release_ms // TICK - 1):  # one tick short of the release
        assert abs(b.step().setpoint_ua) <= held
    b.ohm = 10_000  # back at the rail for one tick
    b.step()
    b.ohm = 2_000
    first_off = b.t
    rose_at = b.time_of(lambda: abs(b.ctl.command.setpoint_ua) > held,
                        SUP.hold_release_ms // TICK + 50)
    assert rose_at == first_off + SUP.hold_release_ms, (rose_at, first_off)
    counted = b.ctl.compliance_limited_ms
    assert counted == (held_ticks + 2 * SUP.hold_release_ms // TICK) * TICK, counted
    for _ in range(20):
        b.step()
    assert b.ctl.compliance_limited_ms == counted and not b.ctl.compliance_limited


@pytest.mark.req("SUP-007")
def test_one_tick_at_the_rail_holds_for_the_whole_release_time() -> None:
    """A single compliance-limited tick straight back to a normal load: the hold is set on that
    tick and released hold_release_ms after the first tick off the rail, not earlier."""
    b = Bench(tap())
    b.start()
    b.until(lambda: b.ctl.state == "treat")
    target = abs(b.ctl.command.setpoint_ua)
    b.ohm = 10_000
    b.step()
    assert b.ctl.compliance_limited
    held = abs(b.ctl.command.setpoint_ua)
    assert held < target
    b.ohm = 2_000
    first_off = b.t
    rose_at = b.time_of(lambda: abs(b.ctl.command.setpoint_ua) > held,
                        SUP.hold_release_ms // TICK + 50)
    assert rose_at == first_off + SUP.hold_release_ms, (rose_at, first_off)


@pytest.mark.req("CTL-003")
def test_the_new_polarity_shows_exactly_at_the_dead_time() -> None:
    b = Bench(tap(target_ua=1_000, ramp_ms=1_000, duration_ms=20_000, reverse_at_half=True))
    b.start()
    zero_at = flipped_at = None
    for _ in range(5_000):
        t = b.t
        cmd = b.step()
        if b.ctl.state == "polarity_swap" and cmd.setpoint_ua == 0 and zero_at is None:
            zero_at = t
        if cmd.setpoint_ua < 0:
            flipped_at = t
            break
    assert zero_at is not None and flipped_at == zero_at + DEVICE.dead_time_ms, (zero_at, flipped_at)


@pytest.mark.req("CTL-003")
def test_a_current_on_the_dead_time_tick_delays_the_flip_to_the_next_quiet_tick() -> None:
    b = Bench(tap(target_ua=1_000, ramp_ms=1_000, duration_ms=20_000, reverse_at_half=True))
    b.start()
    b.until(lambda: b.ctl.state == "polarity_swap" and b.ctl.command.setpoint_ua == 0)
    zero_at = b.last.t_ms  # type: ignore[union-attr]
    while b.t < zero_at + DEVICE.dead_time_ms:
        assert b.step().setpoint_ua == 0
    b.offset = DEVICE.zero_tolerance_ua + 1  # just not quiet on the boundary tick
    assert b.step().setpoint_ua == 0
    b.offset = DEVICE.zero_tolerance_ua - 1   # the tolerance at most (with the LSB): quiet
    assert b.step().setpoint_ua < 0


@pytest.mark.req("RX-003")
@pytest.mark.parametrize("leak_ticks, residual", [
    (0, 0), (40, 0),
    (0, DEVICE.zero_tolerance_ua - 1),  # with the LSB: exactly the tolerance every other tick
])
def test_the_pulse_gap_counts_only_current_free_time(leak_ticks: int, residual: int) -> None:
    """The next pulse starts on the tick the gap's current-free time (command zero, measured
    within the zero tolerance, the tolerance itself included) reaches pulse_gap_ms, counted
    here from the samples."""
    rx = Prescription(name="gap", family="research", target_ua=500, ramp_ms=1_000,
                      pulse_count=2, pulse_on_ms=2_000, pulse_gap_ms=3_000, area_mm2=1_000,
                      return_area_mm2=1_000)
    b = Bench(rx)
    b.start()
    b.until(lambda: b.ctl.state == "pulse_gap" and b.ctl.command.setpoint_ua == 0)
    b.offset = DEVICE.zero_tolerance_ua + 5  # a slow output stage: current after the command
    free_ms, prev_zero, rose = 0, True, False
    for k in range(rx.pulse_gap_ms // TICK + leak_ticks + 50):
        if k == leak_ticks:
            b.offset = residual
        t_before = b.t
        cmd = b.step()
        quiet = abs(b.last.current_ua) <= DEVICE.zero_tolerance_ua  # type: ignore[union-attr]
        if prev_zero and quiet:
            free_ms += TICK
        if cmd.setpoint_ua != 0:
            rose = True
            break
        assert free_ms < rx.pulse_gap_ms, f"gap complete at {t_before} but no pulse"
        prev_zero = cmd.setpoint_ua == 0
    assert rose and free_ms == rx.pulse_gap_ms, (free_ms, k)


@pytest.mark.req("SUP-005")
def test_treatment_resumes_exactly_when_contact_has_been_stable_for_the_prescribed_time() -> None:
    b = Bench(tap(contact_stable_ms=2_000))
    b.start()
    b.until(lambda: b.ctl.state == "treat")
    b.open = True
    b.until(lambda: b.ctl.state == "paused", limit=100)
    for _ in range(50):
        b.step()
    b.open = False
    back_at = b.t  # the first sample with contact present (at the probe current)
    resumed_at = b.time_of(lambda: b.ctl.state == "ramp_up", 2_000 // TICK + 50)
    assert resumed_at == back_at + 2_000, (resumed_at, back_at)


@pytest.mark.req("SUP-005")
def test_a_pause_ends_the_session_on_the_first_tick_beyond_max_pause_ms() -> None:
    rx = tap(max_pause_ms=5_000)
    b = Bench(rx)
    b.start()
    b.until(lambda: b.ctl.state == "treat")
    b.open = True
    b.until(lambda: b.ctl.state == "paused", limit=100)
    paused_ticks = 0  # ticks that began paused: each adds one tick of pause time
    while b.ctl.state == "paused":
        b.step()
        paused_ticks += 1
        assert paused_ticks < 10_000
    assert b.ctl.state == "ramp_down"
    assert paused_ticks * TICK == rx.max_pause_ms + TICK  # more than the limit, by one tick
    b.until(lambda: b.ctl.state == "idle", limit=10_000)
    assert "contact lost for more than" in b.ctl.end_reason


@pytest.mark.req("CTL-007")
def test_the_device_maximum_session_time_acts_exactly_at_its_limit() -> None:
    device = DeviceLimits(min_reversal_session_ms=10_000, max_session_ms=60_000)
    rx = tap(duration_ms=55_000, contact_stable_ms=100)
    b = Bench(rx, device)
    b.start()
    first = b.t  # the session's first sample
    b.until(lambda: b.ctl.state == "treat")
    b.open = True  # a 10 s pause pushes the treatment past the device's session time
    for _ in range(1_000):
        b.step()
    b.open = False
    ended_at = b.time_of(lambda: b.ctl.state == "ramp_down", device.max_session_ms // TICK)
    assert ended_at == first + device.max_session_ms, (ended_at, first)
    b.until(lambda: b.ctl.state == "idle", limit=10_000)
    assert "device maximum session time" in b.ctl.end_reason


@pytest.mark.req("SUP-010")
def test_a_leak_faults_exactly_leak_settle_ms_after_the_output_went_off() -> None:
    b = Bench(tap())
    b.offset = DEVICE.zero_tolerance_ua + 1
    off_at = b.t  # idle: the first tick commands the output off
    faulted_at = b.time_of(lambda: b.ctl.state == "fault", SUP.leak_settle_ms // TICK + 20)
    assert faulted_at == off_at + SUP.leak_settle_ms
    assert b.ctl.faults[-1].code is FaultCode.LEAK


@pytest.mark.req("SUP-009")
@pytest.mark.parametrize("gap, faults", [(SUP.clock_jump_ms, False), (SUP.clock_jump_ms + 1, True)])
def test_a_sample_exactly_clock_jump_ms_late_is_no_jump_one_more_is(gap: int, faults: bool) -> None:
    b = Bench(tap())
    b.start()
    b.until(lambda: b.ctl.state == "treat")
    b.t += gap - TICK
    b.step()
    assert (b.ctl.state == "fault" and b.ctl.faults[-1].code is FaultCode.CLOCK_JUMP) is faults


@pytest.mark.req("CTL-002")
@pytest.mark.parametrize("late_by", [1, TICK, 5 * TICK])
def test_a_late_tick_ramps_no_further_than_one_nominal_tick(late_by: int) -> None:
    rx = tap(target_ua=10_000, ramp_ms=5_000)  # 2 mA/s: 20 uA per 10 ms tick
    step_ua = rx.target_ua * 1000 // rx.ramp_ms * TICK // 1000
    b = Bench(rx)
    b.start()
    for _ in range(50):
        b.step()
    before = abs(b.ctl.command.setpoint_ua)
    b.t += late_by
    assert abs(b.step().setpoint_ua) - before == step_ua   # capped at one tick of slew
    before = abs(b.ctl.command.setpoint_ua)
    assert abs(b.step().setpoint_ua) - before == step_ua   # and punctual ticks go on as before


@pytest.mark.req("RX-003")
def test_a_pulse_ends_exactly_at_its_on_time() -> None:
    """Review B29, made exact in issue 11: the output holds the target for exactly
    pulse_on_ms (each command holds for one tick: on a 10 ms tick, pulse_on_ms / 10 commands
    at the target), then falls; not a tick later (B29 counted the time in treat, which missed
    the interval in which the output reached the target, so the pulse ran a tick long)."""
    rx = Prescription(name="on-time", family="research", target_ua=500, ramp_ms=1_000,
                      pulse_count=2, pulse_on_ms=2_000, pulse_gap_ms=3_000, area_mm2=1_000,
                      return_area_mm2=1_000)
    b = Bench(rx)
    b.start()
    at_target = 0
    for _ in range(10_000):
        cmd = b.step()
        if cmd.setpoint_ua == rx.target_ua:
            at_target += 1
        elif at_target:
            break
        assert at_target * TICK <= rx.pulse_on_ms, at_target
    assert at_target * TICK == rx.pulse_on_ms and b.ctl.state == "pulse_gap"


@pytest.mark.req("CTL-003", "RX-003")
def test_the_reversal_starts_exactly_at_half_the_treatment_time() -> None:
    """The half-time reversal fires on the tick the treatment time (time in ramp_up and treat
    on an obeying output, counted here from the samples) reaches half the duration."""
    rx = tap(target_ua=1_000, ramp_ms=1_000, duration_ms=20_000, reverse_at_half=True)
    b = Bench(rx)
    b.start()
    treated = 0
    for _ in range(5_000):
        began = b.ctl.state
        b.step()
        if began in ("ramp_up", "treat") and b.check.t is not None and b.ctl.tick > 1:
            treated += TICK
        if b.ctl.state == "polarity_swap":
            break
        assert treated * 2 < rx.duration_ms, treated
    assert b.ctl.state == "polarity_swap" and treated * 2 == rx.duration_ms


@pytest.mark.req("SUP-015")
@pytest.mark.parametrize("sign", [1, -1])
def test_current_at_a_zero_command_in_a_pulse_gap_faults_exactly_after_settle_ms(sign: int) -> None:
    """Review B31: current of either sign above the zero tolerance, below the uncommanded-
    current floor, while the gap's command is zero: the output does not settle (SUP-015),
    detected exactly settle_ms after the first such sample."""
    rx = Prescription(name="leaky-gap", family="research", target_ua=500, ramp_ms=1_000,
                      pulse_count=2, pulse_on_ms=2_000, pulse_gap_ms=3_000, area_mm2=1_000,
                      return_area_mm2=1_000)
    b = Bench(rx)
    b.start()
    b.until(lambda: b.ctl.state == "pulse_gap" and b.ctl.command.setpoint_ua == 0)
    b.offset = sign * (DEVICE.zero_tolerance_ua + 10)
    first = b.t
    faulted_at = b.time_of(lambda: b.ctl.state == "fault", SUP.settle_ms // TICK + 50)
    assert b.ctl.faults and b.ctl.faults[-1].code is FaultCode.UNSETTLED, b.ctl.faults
    assert faulted_at == first + SUP.settle_ms


@pytest.mark.req("CTL-002", "SUP-007")
@pytest.mark.parametrize("electrode_a", ["anode", "cathode"])
def test_at_the_rail_the_command_follows_the_current_down_in_either_polarity(electrode_a: str) -> None:
    """Review B20: following the measured current down at the compliance voltage must read
    the current along the polarity; a cathodal session must hold what the load allows, not
    collapse (the checker on every tick: no step beyond the slew below what flows)."""
    b = Bench(tap(electrode_a=electrode_a))
    b.start()
    b.until(lambda: b.ctl.state == "treat")
    b.ohm = 10_000  # the load allows 6 mA at the 60 V rail
    for _ in range(300):
        b.step()
    allowed = COMPLIANCE * 1000 // 10_000
    assert abs(abs(b.ctl.command.setpoint_ua) - allowed) <= 1 and b.ctl.compliance_limited
    assert (b.ctl.command.setpoint_ua > 0) is (electrode_a == "anode")
    assert b.ctl.stop().accepted  # ramping down on the rail: down at the slew below what flows
    b.check.request("stop", True, b.ctl.state)
    b.until(lambda: b.ctl.state == "idle", limit=20_000)
