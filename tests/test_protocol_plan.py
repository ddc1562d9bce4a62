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
    plan.count(30_000)
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


@pytest.mark.req("RX-009")
def test_without_an_interrupted_pulse_resume_does_nothing() -> None:
    plan = _skip_plan()
    plan.begin(1, 1_000, 100)
    assert plan.resume(5, 1_040, 100) == []      # the pulse is in force, not interrupted
    assert plan.step == Step("pulse", duration_ms=1000) and plan.markers == [
        Marker(1, 1_000, 0, "pulse 1", "pulse", 1, 1)]
