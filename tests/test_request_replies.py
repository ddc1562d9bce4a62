"""The exact words of request replies (RX-005, LINK-002): a refusal names the value it was
given and what is allowed, whatever the value; a fault reported by the HAL keeps its reason
as given (text), or as a message shows a value. Expected texts are built from the
prescription and the request, never read from the controller."""

from __future__ import annotations

import pytest

from iontocore import Controller, Sample
from iontocore.faults import FaultCode

from short_session import DEVICE, RX, SUP, TICK, Load, run, started


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
