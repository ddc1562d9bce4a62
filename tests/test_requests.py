"""Every request in every state the short session reaches: accepted or refused exactly as the
table below says (written from the state machine's specification, specs/state_machine.md,
and the requirements named on each test, never read from the controller). A refusal says
why, naming the state it was refused in, and changes nothing; an acceptance leads where the
table says, and a cut is recorded once, at the tick and time of the request."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from iontocore import OFF, Controller, Sample
from iontocore.events import Reply
from iontocore.faults import FaultCode, FaultRecord, Reaction

from short_session import DEVICE, RX, SUP, TICK, Load, run, started

STATES = ("idle", "ramp_up", "treat", "paused", "ramp_down", "fault", "ended")
"""'ended' is idle after a completed session (CTL-008)."""

Rig = tuple[Controller, Load]


def reach(state: str) -> Rig:
    """A controller in `state`, driven there by samples and requests alone."""
    if state == "idle":
        ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
        load = Load()
        run(ctl, load, 1)
        return ctl, load
    ctl, load = started()
    if state == "ramp_up":
        return ctl, load
    run(ctl, load, RX.ramp_ms // TICK + 2)
    if state == "paused":
        load.open = True
        for _ in range(200):
            run(ctl, load, 1)
            if ctl.state == "paused":
                break
    elif state == "ramp_down":
        assert ctl.stop().accepted
        run(ctl, load, 1)
    elif state == "fault":
        assert ctl.emergency_stop().accepted
        run(ctl, load, 1)
    elif state == "ended":
        run(ctl, load, (RX.duration_ms + RX.ramp_ms) // TICK + 50)
    assert ctl.state == ("idle" if state == "ended" else state), (state, ctl.state)
    return ctl, load


# request -> state -> (accepted, the state right after the request)
STAY = "same"
TABLE: dict[str, dict[str, tuple[bool, str]]] = {
    "start": {"idle": (True, "ramp_up"), "ramp_up": (False, STAY), "treat": (False, STAY),
              "paused": (False, STAY), "ramp_down": (False, STAY), "fault": (False, STAY),
              "ended": (False, STAY)},
    "stop": {"idle": (False, STAY), "ramp_up": (True, "ramp_down"), "treat": (True, "ramp_down"),
             "paused": (True, "ramp_down"), "ramp_down": (True, STAY), "fault": (False, STAY),
             "ended": (False, STAY)},
    "emergency_stop": {s: (True, "fault") for s in STATES},
    "report_fault": {s: (True, "fault") for s in STATES},
    "reset": {s: (False, STAY) for s in STATES},  # fault just entered: not quiet long enough
    "adjust_up": {"idle": (True, STAY), "ramp_up": (True, STAY), "treat": (True, STAY),
                  "paused": (True, STAY), "ramp_down": (False, STAY), "fault": (False, STAY),
                  "ended": (True, STAY)},
}
ASK: dict[str, Callable[[Controller], Reply]] = {
    "start": lambda c: c.start(),
    "stop": lambda c: c.stop(),
    "emergency_stop": lambda c: c.emergency_stop(),
    "report_fault": lambda c: c.report_fault(FaultCode.LINK_LOST, "no answer from the device"),
    "reset": lambda c: c.reset(acknowledge_overcurrent=True),
    "adjust_up": lambda c: c.adjust(RX.step_ua),
}
CUT = {"emergency_stop": FaultCode.EMERGENCY_STOP, "report_fault": FaultCode.LINK_LOST}
NOTE = {("stop", "ramp_down"): "already ramping down",
        ("emergency_stop", "fault"): "already in fault, output off",
        ("report_fault", "fault"): "already in fault, output off"}
"""The reason an accepted request carries (none but these)."""


def snapshot(ctl: Controller) -> tuple[object, ...]:
    return (ctl.state, ctl.command, ctl.setpoint_ua, tuple(ctl.faults), len(ctl.events),
            ctl.outcome, ctl.delivered_uams)


@pytest.mark.req("SM-002", "CTL-006", "CTL-008", "SUP-012", "SUP-013", "RX-004", "LINK-005")
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("request_", list(TABLE))
def test_every_request_in_every_state_is_answered_as_the_table_says(request_: str, state: str) -> None:
    ctl, load = reach(state)
    before = snapshot(ctl)
    reply = ASK[request_](ctl)
    accepted, dest = TABLE[request_][state]
    assert type(reply.accepted) is bool and reply.accepted is accepted, (request_, state, reply)
    if accepted:
        assert reply.reason == NOTE.get((request_, state), ""), (request_, state, reply)
    if not accepted:
        assert reply.reason, "a refusal says why"
        if state != "ended":  # the state it was refused in is named
            assert f"'{state}'" in reply.reason or request_ in ("reset", "adjust_up"), reply
        assert snapshot(ctl) == before, "a refused request changes nothing"
        return
    assert ctl.state == (before[0] if dest == STAY else dest), (request_, state, ctl.state)
    code = CUT.get(request_)
    if code is None:
        return
    assert ctl.command == OFF
    if state == "fault":  # already cut: nothing new is recorded
        assert tuple(ctl.faults) == before[3] and reply.reason == "already in fault, output off"
        return
    new = ctl.faults[len(before[3]):]  # type: ignore[arg-type]
    assert new == [FaultRecord(code, new[0].reason, ctl.tick, load.t, Reaction.HARD_CUT, ctl.tick)], new
    assert ctl.outcome == "fault" and code.value in ctl.end_reason


@pytest.mark.req("LINK-005")
@pytest.mark.parametrize("given, recorded", [
    ("link silent for 3 ticks", "link silent for 3 ticks"),
    ("", "link_lost"),           # no reason given: the code stands for it
    ("x" * 300, "x" * 200),      # bounded: a HAL cannot flood the session record
])
def test_a_reported_fault_records_the_hal_s_reason_bounded(given: str, recorded: str) -> None:
    ctl, _load = reach("treat")
    assert ctl.report_fault(FaultCode.LINK_LOST, given).accepted
    assert ctl.faults[-1].reason == recorded
    assert ctl.faults[-1].code is FaultCode.LINK_LOST


@pytest.mark.req("SUP-012")
def test_an_emergency_stop_records_that_it_was_requested() -> None:
    ctl, _load = reach("treat")
    assert ctl.emergency_stop().accepted
    assert ctl.faults[-1].reason == "emergency stop requested"


@pytest.mark.req("SUP-013")
def test_reset_refusals_name_what_is_missing_and_an_accepted_one_leaves_fault_for_idle() -> None:
    """The quiet time counted from the first sample after the cut, its refusal word for word,
    accepted on the tick it is reached."""
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.emergency_stop().accepted  # the cut: no sample since, not quiet at all yet
    quiet_ticks = SUP.reset_quiet_ms // TICK
    need = (f"measured current not near zero (<= {DEVICE.zero_tolerance_ua} uA) for "
            f"{SUP.reset_quiet_ms} ms yet")
    assert ctl.reset() == Reply(False, need + " (quiet for 0 ms)")
    run(ctl, load, quiet_ticks)  # the first sample starts the quiet run at 0 ms
    assert ctl.reset() == Reply(False, need + f" (quiet for {SUP.reset_quiet_ms - TICK} ms)")
    run(ctl, load, 1)
    reply = ctl.reset()
    assert reply == Reply(True) and ctl.state == "idle" and ctl.outcome is None
    assert ctl.end_reason == "" and ctl.command == OFF


# ---- a reset leaves nothing behind: differential against a new controller ----------------

def _fault_before_start(cause: str) -> Rig:
    """A controller that faulted in idle, before any start (the only kind a reset makes
    startable again, CTL-008), then was reset after the quiet time."""
    ctl, load = reach("idle")
    if cause == "emergency_stop":
        ctl.emergency_stop()
    elif cause == "link_lost":
        ctl.report_fault(FaultCode.LINK_LOST, "silent")
    elif cause == "overcurrent":
        trip = RX.ceiling_ua + max(SUP.trip_floor_ua, RX.ceiling_ua * SUP.trip_margin_permille // 1000)
        load.t += TICK
        ctl.step(Sample(load.t, trip + 1, 0))
    elif cause == "implausible_sample":
        while ctl.state != "fault" and load.t < 2_000:
            load.t += TICK
            ctl.step(Sample(load.t, 0, DEVICE.compliance_mv * 10))
    elif cause == "late_ticks":
        while ctl.state != "fault" and load.t < 2_000:
            load.t += 2 * TICK
            ctl.step(Sample(load.t, 0, 0))
    elif cause == "sample_loss":
        for _ in range(SUP.sample_deadline_ms // TICK + 2):
            ctl.step(None)
        load.t = ctl.t_ms
    assert ctl.state == "fault", (cause, ctl.state)
    run(ctl, load, SUP.reset_quiet_ms // TICK + 2)
    assert ctl.reset(acknowledge_overcurrent=True).accepted and ctl.state == "idle"
    return ctl, load


def _script(ctl: Controller, load: Load) -> list[object]:
    """Implausible and missing samples one short of their limits, then a session through
    ramp, treatment, an adjustment and a pause, ended by an emergency stop and a reset: what
    the controller did, relative to its own ticks."""
    seen: list[object] = []
    first = ctl.tick
    trace = lambda cmds: seen.extend((c, ctl.state) for c in cmds)  # noqa: E731
    for _ in range(SUP.implausible_max_consecutive - 1):  # one short of each count's limit
        load.t += TICK
        trace([ctl.step(Sample(load.t, 0, DEVICE.compliance_mv * 10))])
    trace(run(ctl, load, 1))
    for _ in range(SUP.sample_deadline_ms // TICK - 1):
        trace([ctl.step(None)])
    load.t = ctl.t_ms
    trace(run(ctl, load, 3))
    seen.append(ctl.start())
    trace(run(ctl, load, RX.ramp_ms // TICK + 5))
    seen.append(ctl.adjust(RX.step_ua))
    trace(run(ctl, load, 30))
    load.open = True
    trace(run(ctl, load, SUP.contact_loss_debounce_ms // TICK + 10))
    load.open = False
    trace(run(ctl, load, RX.contact_stable_ms // TICK + 30))
    seen.append(ctl.emergency_stop())
    trace(run(ctl, load, SUP.reset_quiet_ms // TICK + 2))
    seen.append(ctl.reset())  # no acknowledgement asked: this fault was no over-current
    seen.append([(f.code, f.tick - first, f.reaction, f.zero_tick is not None and f.zero_tick - first)
                 for f in ctl.faults if f.tick >= first])
    seen.append((ctl.outcome, ctl.pauses, ctl.setpoint_ua, ctl.treatment_ms, ctl.late_ticks))
    return seen


@pytest.mark.req("SUP-013")
@pytest.mark.parametrize("cause", ["emergency_stop", "link_lost", "overcurrent",
                                   "implausible_sample", "late_ticks", "sample_loss"])
def test_after_a_reset_the_controller_behaves_exactly_as_a_new_one(cause: str) -> None:
    new = reach("idle")
    reset = _fault_before_start(cause)
    assert _script(*reset) == _script(*new)


@pytest.mark.req("SUP-008")
def test_samples_that_never_came_fault_at_the_deadline_stamped_at_time_zero() -> None:
    """A device that never sends a sample: sample loss at the deadline, recorded at 0 ms (the
    time of the last sample, none yet), not at -1 ms (found by the FaultRecord contract and
    the stateful test: the record was written with the 'no sample yet' marker as its time)."""
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    ticks = SUP.sample_deadline_ms // TICK
    for _ in range(ticks - 1):
        assert ctl.step(None) == OFF and ctl.state == "idle"
    assert ctl.step(None) == OFF and ctl.state == "fault"
    assert ctl.faults == [FaultRecord(FaultCode.SAMPLE_LOSS, f"no fresh sample for "
                                      f"{SUP.sample_deadline_ms} ms", ticks, 0, Reaction.HARD_CUT, ticks)]


@pytest.mark.req("SUP-013")
def test_an_over_current_trip_is_reset_only_with_its_acknowledgement() -> None:
    ctl, load = reach("idle")
    trip = RX.ceiling_ua + max(SUP.trip_floor_ua, RX.ceiling_ua * SUP.trip_margin_permille // 1000)
    load.t += TICK
    ctl.step(Sample(load.t, trip + 1, 0))
    run(ctl, load, SUP.reset_quiet_ms // TICK + 1)
    assert ctl.reset() == Reply(False, "an over-current trip needs acknowledge_overcurrent=True")
    assert ctl.state == "fault"
    assert ctl.reset(acknowledge_overcurrent=True) == Reply(True) and ctl.state == "idle"


@pytest.mark.req("LINK-005")
def test_a_fault_code_given_as_its_string_value_is_refused_and_changes_nothing() -> None:
    """Found by review: codes are string enums, so 'link_lost' passed the membership test and
    then made a malformed record (an internal error instead of the refusal)."""
    ctl, _load = reach("treat")
    before = snapshot(ctl)
    reply = ctl.report_fault("link_lost", "line gone")  # type: ignore[arg-type]
    assert reply == Reply(False, "code = 'link_lost': allowed one of ['device_fault', 'link_lost']")
    assert snapshot(ctl) == before
