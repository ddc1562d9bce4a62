"""The exact words of request replies (RX-005, LINK-002): a refusal names the value it was
given and what is allowed, whatever the value; a fault reported by the HAL keeps its reason
as given (text), or as a message shows a value. Expected texts are built from the
prescription and the request, never read from the controller."""

from __future__ import annotations

import pytest

from iontocore import Controller, Sample
from iontocore.faults import FaultCode

from short_session import DEVICE, RESET_QUIET_TICKS, RX, SUP, TICK, Load, quiet, run, started


def _treat() -> Controller:
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 2)
    assert ctl.state == "treat"
    return ctl


@pytest.mark.req("RX-005")
@pytest.mark.parametrize("delta, shown", [(RX.step_ua // 2, str(RX.step_ua // 2)), ("x", "'x'"),
                                          (0, "0"), (10**500 + 1, "<an integer of 1661 bits>")])
def test_a_delta_that_is_no_whole_step_is_refused_naming_it(delta: object, shown: str) -> None:
    ctl = _treat()
    reply = ctl.adjust(delta)  # type: ignore[arg-type]
    assert not reply.accepted
    assert reply.reason == (f"delta_ua = {shown}: allowed a non-zero multiple of the step "
                            f"{RX.step_ua} uA"), reply.reason


@pytest.mark.req("RX-005")
@pytest.mark.parametrize("steps", [-3, 3, 10**300])
def test_a_set_point_out_of_the_range_is_refused_naming_it(steps: int) -> None:
    ctl = _treat()
    new = RX.target_ua + steps * RX.step_ua
    shown = str(new) if abs(new) < 10**100 else f"<an integer of {new.bit_length()} bits>"
    reply = ctl.adjust(steps * RX.step_ua)
    assert not reply.accepted
    assert reply.reason == (f"set-point {shown} uA: allowed {RX.min_ua} to {RX.max_ua} uA"), \
        reply.reason


@pytest.mark.req("LINK-002")
@pytest.mark.parametrize("reason, recorded", [("link lost", "link lost"), (42, "42"),
                                              ("", "link_lost"), (10**500, "<an integer of 1661 bits>"),
                                              ("x" * 300, "x" * 200)])
def test_a_reported_fault_keeps_its_reason_as_given(reason: object, recorded: str) -> None:
    ctl = _treat()
    assert ctl.report_fault(FaultCode.LINK_LOST, reason).accepted  # type: ignore[arg-type]
    assert ctl.faults[-1].reason == recorded, ctl.faults[-1].reason
    assert ctl.end_reason == f"link_lost: {recorded}"


@pytest.mark.req("SUP-004", "CTL-006")
def test_a_ramp_towards_a_fault_closes_its_own_record_not_an_earlier_one() -> None:
    """A fault before the session (reset), then a ramp-then-fault reaction in the session:
    the reaction's record is the one closed at zero; the earlier record is left as it was."""
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    ctl.step(Sample(0, 0, 0))
    assert ctl.emergency_stop().accepted
    first = ctl.faults[0]
    t = 0
    t = quiet(ctl, t, RESET_QUIET_TICKS)
    assert ctl.reset().accepted and ctl.start().accepted
    load = Load()
    load.t = t
    run(ctl, load, RX.ramp_ms // TICK + 2)
    t = load.t
    for k in range(1, SUP.implausible_max_consecutive + 1):
        ctl.step(Sample(t + k * TICK, "garbage", 0))  # type: ignore[arg-type]
    load.t = t + SUP.implausible_max_consecutive * TICK
    while ctl.state != "fault":
        run(ctl, load, 1)
    assert ctl.faults[0] == first
    assert ctl.faults[1].code is FaultCode.IMPLAUSIBLE_SAMPLE and ctl.faults[1].zero_tick == ctl.tick


@pytest.mark.req("SUP-012", "SUP-004")
def test_a_hard_cut_during_a_ramp_towards_a_fault_closes_both_records_on_that_tick() -> None:
    """A ramp-then-fault reaction is ramping down; an emergency stop cuts at once: the
    reaction's record is closed on that tick (its ramp ended there), and the cut's own too."""
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 2)
    t = load.t
    for k in range(1, SUP.implausible_max_consecutive + 1):
        ctl.step(Sample(t + k * TICK, "garbage", 0))  # type: ignore[arg-type]
    load.t = t + SUP.implausible_max_consecutive * TICK
    run(ctl, load, 3)
    assert ctl.state == "ramp_down" and ctl.faults[0].zero_tick is None
    assert ctl.emergency_stop().accepted
    assert [(f.code, f.zero_tick) for f in ctl.faults] == [
        (FaultCode.IMPLAUSIBLE_SAMPLE, ctl.tick), (FaultCode.EMERGENCY_STOP, ctl.tick)]
    first = ctl.faults[0]
    load.t = quiet(ctl, load.t, RESET_QUIET_TICKS)     # in fault nothing reopens the ramp
    assert [f.zero_tick for f in ctl.faults] == [first.zero_tick, first.zero_tick]
    assert ctl.reset().accepted and ctl.state == "idle"
