"""The plan alone (core/protocol.py `Plan`), driven as the controller drives it: what an
interrupted pulse leaves and what follows it with on_interrupt = "skip" (RX-009), and the
markers of each boundary (RX-010). Expected values are worked out by hand from the protocol:
a 1000 ms pulse at 100 uA with a slew of 1000 uA/s has ramps of 100 uA x 0.1 s, so its
nominal charge is 100 uA x (1000 ms + 100 ms) = 110000 uA*ms."""

from __future__ import annotations

import pytest

from iontocore.events import Marker, PulseReport
from iontocore.protocol import Plan, Protocol, Step


def _skip_plan() -> Plan:
    steps = (Step("pulse", duration_ms=1000), Step("gap", duration_ms=500),
             Step("pulse", duration_ms=1000))
    return Plan(Protocol(steps, "skip"), slew_ua_per_s=1000, duty_permille=1000, tick_ms=10)


@pytest.mark.req("RX-009", "RX-010")
def test_after_an_interrupted_pulse_skip_goes_to_the_next_step_once() -> None:
    plan = _skip_plan()
    assert plan.begin(1, 1_000, 100) == [Marker(1, 1_000, 0, "pulse 1", "pulse", 1, 1)]
    plan.count(30_000, plan.tick_ms)
    # a pause 300 ms into pulse 1: the pulse is invalid, its report closes now
    assert plan.interrupt(31, 1_300, "contact loss") == [
        PulseReport(1, 1, 1, 0, 300, 110_000, 30_000, False, "contact loss"),
        Marker(31, 1_300, 300, "pulse 1 interrupted: contact loss", "interrupt", 1, 1)]
    # contact back: the next step is the gap after pulse 1 (step 2), not pulse 2
    assert plan.resume(50, 1_500, 100) == [Marker(50, 1_500, 500, "gap 1", "gap", 2, 1)]
    # a second resume (contact back again, after a pause in the gap) has no pulse to skip
    assert plan.resume(60, 1_600, 100) == []
    assert plan.step == Step("gap", duration_ms=500)
    # the gap runs its time and pulse 2 follows, the first and only attempt of it
    assert not plan.rest_done(490) and plan.rest_done(10)
    assert plan.next(120, 2_200, 100) == [Marker(120, 2_200, 1_200, "pulse 2", "pulse", 3, 2)]
    assert plan.completed == 0 and plan.valid_pulses == 0
    # pulse 2 interrupted too: skipping it, the protocol ends (step 4, after the last)
    plan.interrupt(130, 2_300, "contact loss")
    assert plan.resume(140, 2_400, 100) == [Marker(140, 2_400, 1_400, "end", "end", 4, 2)]
    assert plan.step is None and plan.ended


@pytest.mark.req("RX-009")
def test_without_an_interrupted_pulse_resume_does_nothing() -> None:
    plan = _skip_plan()
    plan.begin(1, 1_000, 100)
    assert plan.resume(5, 1_040, 100) == []      # the pulse is in force, not interrupted
    assert plan.step == Step("pulse", duration_ms=1000) and plan.markers == [
        Marker(1, 1_000, 0, "pulse 1", "pulse", 1, 1)]


@pytest.mark.req("RX-009", "RX-010", "RX-011")
def test_repeat_walks_baseline_pulse_attempts_gap_and_the_end_with_every_marker_and_report() -> None:
    """Baseline 200 ms, then a pulse of 1000 ms at its own 50 uA repeated twice with 400 ms
    between. Nominal charge of each pulse by hand: 50 uA x 1000 ms plus its ramps, 50 uA x
    0.05 s (50 uA at 1000 uA/s) = 50000 + 2500 = 52500 uA*ms. Session time from t = 5000."""
    steps = (Step("baseline", duration_ms=200),
             Step("pulse", duration_ms=1000, current_ua=50, repeat=2, gap_ms=400))
    plan = Plan(Protocol(steps, "repeat"), slew_ua_per_s=1000, duty_permille=1000, tick_ms=10)
    assert plan.step is None and plan.current_for(100) == 100          # not begun
    assert plan.begin(1, 5_000, 100) == [Marker(1, 5_000, 0, "baseline 1", "baseline", 1, 0)]
    assert plan.current_for(100) == 100                                # a baseline: no current of its own
    plan.count(7, plan.tick_ms)          # no pulse open: not counted
    assert plan.interrupt(5, 5_040, "contact loss") == []              # no pulse in force
    assert plan.quiet(5_050) == []                                  # no pulse report open
    assert plan.pulse_done(100_000, 50)                                # no pulse to wait for
    assert not plan.rest_done(199) and plan.rest_done(1)
    assert plan.next(21, 5_200, 100) == [Marker(21, 5_200, 200, "pulse 1", "pulse", 2, 1)]
    assert plan.current_for(100) == 50                                 # the step's own current
    plan.count(10_000, plan.tick_ms)
    assert not plan.pulse_done(50_000, 600)                            # 600 of 1000 ms
    assert plan.rest_done(5_000)                                       # no rest in force ...
    assert not plan.pulse_done(50_000, 0)                              # ... and the on-time unchanged
    assert plan.interrupt(81, 5_800, "contact loss") == [
        PulseReport(1, 1, 2, 200, 800, 52_500, 10_000, False, "contact loss"),
        Marker(81, 5_800, 800, "pulse 1 interrupted: contact loss", "interrupt", 2, 1)]
    assert plan.quiet(5_900) == []                                 # already closed
    plan.count(999, plan.tick_ms)        # paused: not counted
    assert plan.resume(101, 6_000, 100) == [
        Marker(101, 6_000, 1_000, "pulse 1 (attempt 2)", "pulse", 2, 1)]
    assert not plan.pulse_done(50_000, 999) and plan.pulse_done(50_000, 1)  # from 0 again
    plan.count(52_000, plan.tick_ms)
    assert plan.next(151, 6_500, 100) == [Marker(151, 6_500, 1_500, "gap 1", "gap", 3, 1)]
    assert plan.completed == 1 and plan.current_for(100) == 100
    assert plan.interrupt(152, 6_510, "contact loss") == []            # ramping down: done, not in force
    plan.count(500, plan.tick_ms)        # its ramp down counts
    assert plan.quiet(6_590) == [PulseReport(1, 2, 2, 1_000, 1_590, 52_500, 52_500, True, "")]
    assert plan.quiet(6_600) == []
    assert not plan.rest_done(399) and plan.rest_done(1)
    assert plan.next(201, 7_000, 100) == [Marker(201, 7_000, 2_000, "pulse 2", "pulse", 4, 2)]
    plan.count(52_400, plan.tick_ms)
    assert plan.pulse_done(50_000, 1_000)
    assert plan.next(301, 8_000, 100) == [Marker(301, 8_000, 3_000, "end", "end", 5, 2)]
    assert plan.step is None and plan.ended and plan.completed == 2
    plan.count(100, plan.tick_ms)
    assert plan.quiet(8_090) == [PulseReport(2, 1, 4, 2_000, 3_090, 52_500, 52_500, True, "")]
    assert plan.abort(320, 8_100, "stop requested", cut=False) == []  # over: nothing more
    assert plan.valid_pulses == 2 and plan.pulses_planned == 2
    assert [m.label for m in plan.markers] == [
        "baseline 1", "pulse 1", "pulse 1 interrupted: contact loss", "pulse 1 (attempt 2)",
        "gap 1", "pulse 2", "end"]
    assert [(r.pulse, r.attempt, r.valid) for r in plan.reports] == [
        (1, 1, False), (1, 2, True), (2, 1, True)]


def _charge_plan() -> Plan:
    """A pulse of 20000 uA*ms, two gaps, a pulse of 1000 ms, pulsed at 50 % duty."""
    steps = (Step("pulse", charge_uams=20_000), Step("gap", duration_ms=300),
             Step("gap", duration_ms=200), Step("pulse", duration_ms=1000))
    return Plan(Protocol(steps), slew_ua_per_s=1000, duty_permille=500, tick_ms=10)


@pytest.mark.req("DOSE-003", "RX-010", "RX-011")
def test_a_charge_pulse_ends_when_its_charge_and_the_nominal_ramp_down_reach_it() -> None:
    """At 100 uA and 50 % duty the average is 50 uA, falling 1000 uA/s x 10 ms x 50 % = 5 uA
    per tick once the pulse ends: 45 + 40 + ... + 5 = 225 uA x 10 ms = 2250 uA*ms still to
    come, so the pulse is done at 20000 - 2250 = 17750 uA*ms counted. The pulse by time after
    the gaps: (100 uA x 1000 ms + 100 uA x 0.1 s of ramps) x 50 % = 55000 uA*ms."""
    plan = _charge_plan()
    assert plan.begin(1, 2_000, 100) == [Marker(1, 2_000, 0, "pulse 1", "pulse", 1, 1)]
    plan.count(17_749, plan.tick_ms)
    assert not plan.pulse_done(100_000, 0)
    plan.count(1, plan.tick_ms)
    assert plan.pulse_done(100_000, 0)
    assert plan.next(40, 2_390, 100) == [Marker(40, 2_390, 390, "gap 1", "gap", 2, 1)]
    plan.count(2_250, plan.tick_ms)
    assert plan.quiet(2_490) == [PulseReport(1, 1, 1, 0, 490, 20_000, 20_000, True, "")]
    assert not plan.rest_done(299) and plan.rest_done(1)
    assert plan.next(80, 2_790, 100) == [Marker(80, 2_790, 790, "gap 2", "gap", 3, 1)]
    assert plan.rest_done(200)
    assert plan.next(100, 2_990, 100) == [Marker(100, 2_990, 990, "pulse 2", "pulse", 4, 2)]
    plan.count(3_000, plan.tick_ms)
    # stopped during pulse 2: invalid with the reason, and the protocol ends there
    assert plan.abort(110, 3_090, "stop requested", cut=False) == [
        PulseReport(2, 1, 4, 990, 1_090, 55_000, 3_000, False, "stop requested"),
        Marker(110, 3_090, 1_090, "end: stop requested", "end", 4, 2)]
    assert plan.abort(111, 3_100, "fault: watchdog", cut=True) == []  # ended once
    assert plan.quiet(3_190) == [] and plan.completed == 1 and plan.valid_pulses == 1


@pytest.mark.req("RX-009", "RX-010")
@pytest.mark.parametrize("cut", [True, False])
def test_an_end_during_the_ramp_down_keeps_the_done_pulse_valid(cut: bool) -> None:
    """The pulse was done (its charge reached, the ramp down under way) before the end. A stop
    lets its report close once the output is back at zero: valid when the charge is within 1 %
    of the pulse's. A cut (a fault) closes it at once, short of its ramp down: then it says by
    how much (DOSE-003: a charge pulse is valid only within 1 %)."""
    plan = _charge_plan()
    plan.begin(1, 2_000, 100)
    plan.count(17_750, plan.tick_ms)
    assert plan.pulse_done(100_000, 0)
    plan.next(40, 2_390, 100)
    plan.count(1_000, plan.tick_ms)
    end = Marker(45, 2_440, 440, "end: why", "end", 2, 1)
    short = PulseReport(1, 1, 1, 0, 440, 20_000, 18_750, False,
                        "delivered 18750 of 20000 uA*ms: not within 1 % (DOSE-003)")
    assert plan.abort(45, 2_440, "why", cut=cut) == ([short, end] if cut else [end])
    plan.count(1_250, plan.tick_ms)                                # cut: closed, no more counted
    assert plan.quiet(2_490) == ([] if cut else [
        PulseReport(1, 1, 1, 0, 490, 20_000, 20_000, True, "")])


@pytest.mark.req("RX-009", "RX-010")
def test_an_end_before_the_start_and_in_the_first_step() -> None:
    plan = _charge_plan()
    assert plan.abort(0, 1_990, "stop requested", cut=True) == []  # not begun: nothing to mark
    assert plan.markers == [] and plan.reports == []
    plan.begin(1, 2_000, 100)
    plan.count(500, plan.tick_ms)
    assert plan.abort(2, 2_010, "stop requested", cut=False) == [
        PulseReport(1, 1, 1, 0, 10, 20_000, 500, False, "stop requested"),
        Marker(2, 2_010, 10, "end: stop requested", "end", 1, 1)]
    baseline = Plan(Protocol((Step("baseline", duration_ms=100), Step("pulse", duration_ms=100))),
                    slew_ua_per_s=1000, duty_permille=1000, tick_ms=10)
    baseline.begin(1, 0, 100)
    assert baseline.abort(3, 20, "fault: watchdog", cut=True) == [
        Marker(3, 20, 20, "end: fault: watchdog", "end", 1, 0)]


@pytest.mark.req("DOSE-003")
@pytest.mark.parametrize("cmd_na, slew, duty, tail", [
    # 100 uA at 1000 permille, 100 uA/s: the average falls 1 uA per 10 ms tick,
    # 99 + 98 + ... + 1 = 4950 uA x 10 ms = 49500 uA*ms
    (100_000, 100, 1000, 49_500),
    # 100 uA at 50 %: 50 uA falling 0.5 uA per tick, 49.5 + 49 + ... + 0.5 = 2475 uA x 10 ms
    (100_000, 100, 500, 24_750),
])
def test_a_charge_pulse_counts_the_nominal_ramp_down_from_its_average(
        cmd_na: int, slew: int, duty: int, tail: int) -> None:
    plan = Plan(Protocol((Step("pulse", charge_uams=100_000),)), slew_ua_per_s=slew,
                duty_permille=duty, tick_ms=10)
    plan.begin(1, 0, 100)
    plan.count(100_000 - tail - 1, plan.tick_ms)
    assert not plan.pulse_done(cmd_na, 0)
    plan.count(1, plan.tick_ms)
    assert plan.pulse_done(cmd_na, 0)


@pytest.mark.req("DOSE-003")
def test_at_the_slowest_slew_the_ramp_down_falls_one_na_per_tick() -> None:
    """1 uA/s with a 1 ms tick is 1 nA per tick: from 1 uA, 999 + 998 + ... + 1 nA over
    1 ms each = 499.5 uA*ms still to come, 499 in whole uA*ms (the pulse ends on or after
    its charge, never before)."""
    plan = Plan(Protocol((Step("pulse", charge_uams=1_000),)), slew_ua_per_s=1,
                duty_permille=1000, tick_ms=1)
    plan.begin(1, 0, 1)
    plan.count(500, plan.tick_ms)
    assert not plan.pulse_done(1_000, 0)
    plan.count(1, plan.tick_ms)
    assert plan.pulse_done(1_000, 0)
