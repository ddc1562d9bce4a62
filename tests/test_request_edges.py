"""Requests and fault records at their edges: the refusal of a second session names the
outcome, an exception inside a request is a fault with the output off and a reply naming it,
every cut is recorded as an event, a ramp-then-fault reaction with the output already at zero
goes to fault on that tick, the pulse reports of a research protocol stopped or faulted, and
every charge pulse the device cannot count is named at once.

Expected values come from the prescription, the device and supervision limits and the
samples fed, never from the controller's attributes."""

from __future__ import annotations


import pytest

from iontocore import Controller, Prescription, Sample
from iontocore.errors import InvalidSettings
from iontocore.events import PulseReport, StateChanged
from iontocore.faults import FaultCode, FaultRecord
from iontocore.protocol import GAP, PULSE, Protocol, Step

from short_session import (DEVICE, RESET_QUIET_TICKS, RX, SUP, TICK, Load, in_swap_at_zero, quiet,
                           run, started)


@pytest.mark.req("CTL-008")
@pytest.mark.parametrize("how, outcome", [("stop", "stopped"), ("emergency_stop", "ended")])
def test_a_second_start_is_refused_naming_how_the_session_ended(how: str, outcome: str) -> None:
    """After a stop the outcome is named; after a fault and its reset (which clears the
    outcome) the session is simply 'ended'."""
    ctl, load = started()
    run(ctl, load, 20)
    assert getattr(ctl, how)().accepted
    while not (ctl.state in ("idle", "fault") and ctl.outcome):
        run(ctl, load, 1)
    if ctl.state == "fault":
        load.t = quiet(ctl, load.t, RESET_QUIET_TICKS)
        assert ctl.reset().accepted
    reply = ctl.start()
    assert not reply.accepted
    assert reply.reason == (f"session already ran ({outcome}); a new session needs a new "
                            "Controller"), reply.reason


@pytest.mark.req("CTL-008")
def test_a_start_after_a_fault_before_any_session_clears_the_record_and_names_it() -> None:
    """A fault before any start, reset: the start is accepted, the previous outcome and
    reason are cleared, and the transition says the start was requested."""
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    ctl.step(Sample(0, 0, 0))
    assert ctl.emergency_stop().accepted and ctl.end_reason
    t = 0
    t = quiet(ctl, t, RESET_QUIET_TICKS)
    assert ctl.reset().accepted
    assert ctl.start().accepted
    assert ctl.outcome is None and ctl.end_reason == ""
    last = [e for e in ctl.events if isinstance(e, StateChanged)][-1]
    assert (last.trigger, last.source, last.dest, last.reason) == (
        "start", "idle", "ramp_up", "start requested")


@pytest.mark.req("CTL-005")
def test_an_exception_inside_a_request_is_a_fault_and_the_reply_names_it() -> None:
    ctl, load = started()
    run(ctl, load, 20)

    def broken(delta_ua: int) -> None:
        raise RuntimeError("boom")

    ctl._adjust = broken  # type: ignore[method-assign]  # a defect standing in
    reply = ctl.adjust(RX.step_ua)
    assert not reply.accepted
    assert reply.reason == "internal error, output off: RuntimeError: boom"
    assert ctl.state == "fault" and ctl.command.enabled is False
    assert ctl.faults[-1].code is FaultCode.INTERNAL_ERROR


@pytest.mark.req("SUP-012", "CTL-005")
def test_every_cut_is_recorded_as_an_event() -> None:
    ctl, load = started()
    run(ctl, load, 20)
    ctl.drain_events()
    assert ctl.emergency_stop().accepted
    records = [e for e in ctl.drain_events() if isinstance(e, FaultRecord)]
    assert [r.code for r in records] == [FaultCode.EMERGENCY_STOP]
    assert records[0] == ctl.faults[-1]


@pytest.mark.req("SUP-004", "CTL-006")
def test_a_ramp_then_fault_reaction_with_the_output_at_zero_goes_to_fault_at_once() -> None:
    """Implausible samples on the first ticks of a ramp (the command still zero): nothing to
    ramp down, so the fault comes on the tick the reaction is decided, with no ramp-down."""
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)   # no fresh sample after the start:
    ctl.step(Sample(0, 0, 0))                           # the command is still zero
    assert ctl.start().accepted
    for k in range(1, SUP.implausible_max_consecutive + 1):
        ctl.step(Sample(k * TICK, "garbage", 0))  # type: ignore[arg-type]
    assert ctl.state == "fault"
    changes = [(e.trigger, e.source, e.dest) for e in ctl.events if isinstance(e, StateChanged)]
    assert changes[-1] == ("fault", "ramp_up", "fault"), changes
    assert [f.code for f in ctl.faults] == [FaultCode.IMPLAUSIBLE_SAMPLE]
    assert ctl.faults[0].zero_tick == ctl.tick


@pytest.mark.req("SUP-004", "SUP-013")
def test_a_reaction_before_any_start_ends_in_fault_and_recovers_after_a_reset() -> None:
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    ctl.step(Sample(0, 0, 0))
    for k in range(1, SUP.implausible_max_consecutive + 1):
        ctl.step(Sample(k * TICK, "garbage", 0))  # type: ignore[arg-type]
    assert ctl.state == "fault" and [f.code for f in ctl.faults] == [FaultCode.IMPLAUSIBLE_SAMPLE]
    t = SUP.implausible_max_consecutive * TICK
    t = quiet(ctl, t, RESET_QUIET_TICKS)
    assert ctl.reset().accepted
    t = quiet(ctl, t, SUP.leak_settle_ms // TICK + 5)
    assert ctl.state == "idle" and len(ctl.faults) == 1
    assert ctl.start().accepted


# ------------------------------------------------------------------ RX-009/010 reports

def _protocol_rx() -> Prescription:
    return Prescription(name="reports", family="research", target_ua=200, ramp_ms=1_000,
                        area_mm2=400, return_area_mm2=400,
                        protocol=Protocol((Step(PULSE, duration_ms=1_000),
                                           Step(GAP, duration_ms=2_000),
                                           Step(PULSE, duration_ms=1_000))))


@pytest.mark.req("RX-010")
@pytest.mark.parametrize("how", ["stop", "emergency_stop"])
def test_a_session_ended_during_a_pulse_reports_it_invalid_with_the_reason(how: str) -> None:
    ctl = Controller(_protocol_rx(), DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, 150)                       # in the first pulse
    assert getattr(ctl, how)().accepted
    while not (ctl.state in ("idle", "fault") and ctl.outcome):
        run(ctl, load, 1)
    reports = [e for e in ctl.events if isinstance(e, PulseReport)]
    assert len(reports) == 1 and not reports[0].valid
    want = "stop requested" if how == "stop" else "fault: emergency stop requested"
    assert want.split(": ")[-1] in reports[0].reason, reports[0].reason


@pytest.mark.req("RX-010")
def test_a_fault_while_a_done_pulse_ramps_down_closes_its_report_at_once() -> None:
    """The pulse is done (its on-time reached) and ramps down; a fault cuts the output: the
    report closes on that tick, not at a zero that never comes. Its ramp down was cut, so its
    measured charge is short of its nominal by more than its slack: not valid (RX-009)."""
    ctl = Controller(_protocol_rx(), DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    while ctl.state != "pulse_gap":
        run(ctl, load, 1)
    assert ctl.command.setpoint_ua > 0          # still ramping down
    assert not [e for e in ctl.events if isinstance(e, PulseReport)]
    assert ctl.emergency_stop().accepted
    reports = [e for e in ctl.events if isinstance(e, PulseReport)]
    assert len(reports) == 1 and reports[0].pulse == 1
    assert not reports[0].valid and reports[0].reason.startswith(
        f"delivered {reports[0].delivered_uams} of {reports[0].nominal_uams} uA*ms: off by more")


@pytest.mark.req("DOSE-003", "RX-001")
def test_every_charge_pulse_the_device_cannot_count_is_named() -> None:
    rx = Prescription(name="uncountable", family="research", target_ua=201, ramp_ms=1_000,
                      area_mm2=400, return_area_mm2=400, waveform="pulsed", pulse_hz=1_000,
                      duty_permille=105,
                      protocol=Protocol((Step(PULSE, charge_uams=500_000),
                                         Step(GAP, duration_ms=1_000),
                                         Step(PULSE, charge_uams=600_000))))
    with pytest.raises(InvalidSettings) as err:
        Controller(rx, DEVICE, SUP, tick_ms=TICK)
    fields = [p.field for p in err.value.problems]
    assert fields == ["protocol.step[1].current_ua", "protocol.step[3].current_ua"], fields


@pytest.mark.req("SUP-004", "SUP-013")
def test_a_reaction_in_a_swap_at_zero_ends_in_fault_and_recovers_after_a_reset() -> None:
    """Implausible samples while a polarity swap holds the output at zero (enabled): fault on
    that tick; after the quiet time a reset leaves it idle and quiet, with no other fault."""
    ctl, load = in_swap_at_zero()
    assert ctl.command.enabled
    t = load.t
    for k in range(1, SUP.implausible_max_consecutive + 1):
        ctl.step(Sample(t + k * TICK, "garbage", 0))  # type: ignore[arg-type]
    assert ctl.state == "fault" and [f.code for f in ctl.faults] == [FaultCode.IMPLAUSIBLE_SAMPLE]
    t += SUP.implausible_max_consecutive * TICK
    t = quiet(ctl, t, RESET_QUIET_TICKS)
    assert ctl.reset().accepted
    t = quiet(ctl, t, SUP.leak_settle_ms // TICK + 5)
    assert ctl.state == "idle" and len(ctl.faults) == 1, ctl.faults
