"""Every way a session ends, as the clinician reads it: the outcome and the end reason word
for word (the numbers in them from the prescription), the last state change carrying the
same reason, and nothing but records in the controller's events. Short sessions on an ideal
load (tests/support/short_session.py); research sessions on the two-pulse protocol."""

from __future__ import annotations

from dataclasses import replace

import pytest

from iontocore import Controller, Prescription, Sample, profiles
from iontocore.events import Marker, PulseReport, StateChanged
from iontocore.faults import FaultCode, FaultRecord

from research_profiles import head, two_pulses
from short_session import DEVICE, RX, SUP, TICK, Load, run, started

RECORDS = (StateChanged, FaultRecord, Marker, PulseReport)


def finish(ctl: Controller, load: Load, limit: int = 20_000) -> tuple[str | None, str]:
    for _ in range(limit):
        run(ctl, load, 1)
        if ctl.state == "idle" and ctl.outcome:
            break
    changes = [e for e in ctl.events if isinstance(e, StateChanged)]
    assert all(isinstance(e, RECORDS) for e in ctl.events), ctl.events
    assert changes[-1].dest == "idle" and changes[-1].reason == ctl.end_reason, changes[-1]
    return ctl.outcome, ctl.end_reason


def test_a_session_completes_at_its_treatment_time() -> None:
    ctl, load = started()
    assert finish(ctl, load) == ("completed", f"treatment time of {RX.duration_ms} ms reached")


def test_a_stop_request_ends_it_stopped() -> None:
    ctl, load = started()
    run(ctl, load, 50)
    assert ctl.stop().accepted
    assert finish(ctl, load) == ("stopped", "stop requested")


@pytest.mark.req("SUP-005", "CTL-007")
def test_a_pause_longer_than_allowed_ends_it_stopped() -> None:
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 5)
    load.open = True
    assert finish(ctl, load) == ("stopped", f"contact lost for more than {RX.max_pause_ms} ms")


@pytest.mark.req("CTL-007")
def test_one_pause_more_than_allowed_ends_it_stopped() -> None:
    rx = replace(RX, max_pauses=2)
    ctl, load = started(rx)
    run(ctl, load, RX.ramp_ms // TICK + 5)
    for _ in range(3):
        load.open = True
        run(ctl, load, SUP.contact_loss_debounce_ms // TICK + 5)
        load.open = False
        run(ctl, load, rx.contact_stable_ms // TICK + RX.ramp_ms // TICK + 5)
    assert ctl.pauses == 2
    assert finish(ctl, load) == ("stopped", "contact lost 3 times: at most 2 pauses allowed")


@pytest.mark.req("CTL-007")
def test_paused_longer_than_allowed_in_all_ends_it_stopped() -> None:
    rx = replace(RX, max_pause_ms=1_000, max_paused_total_ms=1_500)
    ctl, load = started(rx)
    run(ctl, load, RX.ramp_ms // TICK + 5)
    load.open = True
    run(ctl, load, SUP.contact_loss_debounce_ms // TICK + 80)   # about 800 ms paused, and back
    load.open = False
    run(ctl, load, rx.contact_stable_ms // TICK + RX.ramp_ms // TICK + 5)
    assert 0 < ctl.paused_ms <= rx.max_pause_ms and ctl.state == "treat"
    load.open = True                                            # the second pause runs out first
    outcome, reason = finish(ctl, load)
    assert outcome == "stopped" and ctl.paused_ms == rx.max_paused_total_ms + TICK
    assert reason == f"paused {ctl.paused_ms} ms in all: at most {rx.max_paused_total_ms} ms"


@pytest.mark.req("RX-003")
def test_a_drug_session_completes_at_its_dose() -> None:
    drug = Prescription(name="drug-ends", family="drug", target_ua=2_000, ramp_ms=1_000,
                        duration_ms=60_000, dose_uams=2_000_000, electrode_max_uams=4_000_000,
                        area_mm2=1_000, return_area_mm2=1_000)
    ctl, load = started(drug)
    assert finish(ctl, load) == ("completed", f"dose of {drug.dose_uams} uA*ms reached")


@pytest.mark.req("RX-009", "RX-011")
def test_a_protocol_completes_when_its_pulses_are_delivered() -> None:
    rx = profiles.parse(two_pulses(), DEVICE)
    ctl, load = started(rx)
    assert finish(ctl, load) == ("completed", "protocol done: 2 of 2 pulses delivered")


@pytest.mark.req("RX-009")
def test_a_pulse_interrupted_by_contact_loss_ends_the_protocol_by_default() -> None:
    rx = profiles.parse(two_pulses(), DEVICE)
    ctl, load = started(rx)
    while not any(isinstance(e, Marker) and e.kind == "pulse" for e in ctl.events):
        run(ctl, load, 1)
    run(ctl, load, 20)
    load.open = True
    assert finish(ctl, load) == ("stopped", "pulse 1 interrupted by contact loss: protocol "
                                            "ended (on_interrupt = end)")


@pytest.mark.req("SUP-017")
@pytest.mark.parametrize("duty", [100, 137, 250, 333, 1000])  # 137: 50000 / 137 rounds down
def test_a_pulsed_probe_is_the_prescribed_average_at_the_duty(duty: int) -> None:
    rx = RX if duty == 1000 else replace(RX, waveform="pulsed", pulse_hz=1_000, duty_permille=duty)
    ctl, load = started(rx)
    run(ctl, load, RX.ramp_ms // TICK + 5)
    load.open = True
    run(ctl, load, SUP.contact_loss_debounce_ms // TICK + 10)
    assert ctl.state == "paused"
    amplitude = min(RX.probe_ua * 1000 // duty, ctl.setpoint_ua)
    assert ctl.command.setpoint_ua == amplitude and ctl.command.duty_permille == duty


@pytest.mark.req("SUP-004")
def test_a_fault_with_a_ramp_ends_it_in_fault_once_the_output_is_at_zero() -> None:
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 5)
    while ctl.state != "ramp_down":   # implausible samples: ramp down, then fault
        load.t += TICK
        ctl.step(Sample(load.t, 0, DEVICE.compliance_mv * 10))
    rec = ctl.faults[-1]
    assert rec.code is FaultCode.IMPLAUSIBLE_SAMPLE and rec.zero_tick is None
    for _ in range(RX.ramp_ms // TICK + 10):
        run(ctl, load, 1)
        if ctl.state == "fault":
            break
    assert ctl.outcome == "fault" and ctl.end_reason == "implausible_sample: output at zero"
    assert ctl.faults[-1].zero_tick == ctl.tick and ctl.faults[-1].code is FaultCode.IMPLAUSIBLE_SAMPLE
    assert all(isinstance(e, RECORDS) for e in ctl.events), ctl.events


@pytest.mark.req("RX-009", "CTL-005")
def test_a_pulse_whose_measured_charge_is_below_zero_is_reported_not_a_fault() -> None:
    """Found by review: charge is counted signed along the polarity (noise cancels), so a pulse
    stopped while the sensor read one LSB below zero has a negative delivered charge; its
    report must carry it, not end the session in an internal error."""
    rx = profiles.parse(head("one-pulse") + '[protocol]\n[[protocol.step]]\nkind = "pulse"\non_s = 1\n',
                        DEVICE)
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    assert ctl.start().accepted
    ctl.step(Sample(0, 0, 0))
    ctl.step(Sample(TICK, -1, 0))
    assert ctl.stop().accepted and ctl.faults == []
    assert [(p.delivered_uams, p.valid, p.reason) for p in ctl.pulses] == [(-TICK, False, "stop requested")]
