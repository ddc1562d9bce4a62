"""Whole sessions on the simulated device, checked against numbers computed by hand."""

from __future__ import annotations

import pytest

import sessions
from invariants import max_step_ua
from iontocore import OFF, Controller, DeviceLimits, InvalidSettings, Sample, profiles
from iontocore.faults import FaultCode

PALMS = profiles.load("hyperhidrosis-palms")
STEP = max_step_ua(PALMS, DeviceLimits(), 10)  # the oracle's, from the prescription and device


@pytest.fixture(scope="module")
def palms() -> tuple[Controller, sessions.Recorder]:
    return sessions.run("hyperhidrosis-palms")


def _spans(rec: sessions.Recorder) -> dict[str, int]:
    """Time spent in each state, from the trace."""
    out: dict[str, int] = {}
    for a, b in zip(rec.rows, rec.rows[1:]):
        out[a.state] = out.get(a.state, 0) + b.t_ms - a.t_ms
    return out


@pytest.mark.req("CTL-006", "DOSE-001")
def test_palms_session_delivers_the_hand_computed_dose(palms: tuple[Controller, sessions.Recorder]) -> None:
    ctl, rec = palms
    assert ctl.outcome == "completed" and ctl.state == "idle"
    assert ctl.treatment_ms == 20 * 60_000
    # By hand (mA*s): ramp up 30 s at 15 mA -> 225; the reversal ramps down and up again
    # (225 + 225) with 0.5 s dead time at zero; the final ramp-down adds 225; the rest of
    # the 1200 s is at 15 mA: 1200 - 30 - 60.5 = 1109.5 s -> 16642.5.
    expected_mas = 225 + 16_642.5 + 225 + 225 + 225
    assert ctl.delivered_uams / 1e6 == pytest.approx(expected_mas, rel=2e-4)
    # and the core's integral equals the trace's, tick by tick: measured current along the
    # polarity in force (the sign of the last non-zero command)
    trace, polarity = 0, PALMS.polarity
    for a, b in zip(rec.rows, rec.rows[1:]):
        if a.command_ua:
            polarity = 1 if a.command_ua > 0 else -1
        if a.state != "idle":
            trace += (b.measured_ua or 0) * polarity * (b.t_ms - a.t_ms)
    assert ctl.delivered_uams == trace


@pytest.mark.req("CTL-002", "CTL-006")
def test_ramps_take_the_prescribed_time_despite_noise(palms: tuple[Controller, sessions.Recorder]) -> None:
    ctl, rec = palms
    spans = _spans(rec)
    assert spans["ramp_up"] == pytest.approx(30_000, abs=20)
    assert spans["ramp_down"] == pytest.approx(30_000, abs=20)
    # reversal: 30 s down, dead time, 30 s up
    assert spans["polarity_swap"] == pytest.approx(60_500, abs=30)
    assert rec.checker is not None and rec.checker.ticks == len(rec.rows)


@pytest.mark.req("CTL-003")
def test_reversal_waits_the_dead_time_at_zero(palms: tuple[Controller, sessions.Recorder]) -> None:
    ctl, rec = palms
    signs = [(r.t_ms, (r.command_ua > 0) - (r.command_ua < 0), r.measured_ua) for r in rec.rows]
    flips = [k for k in range(1, len(signs)) if signs[k][1] and signs[k][1] == -signs[k - 1][1]]
    assert not flips, "polarity flipped without passing through zero"
    nonzero = [k for k, s in enumerate(signs) if s[1]]
    changes = [k for a, k in zip(nonzero, nonzero[1:]) if signs[a][1] != signs[k][1]]
    assert len(changes) == 1
    k = changes[0]
    last_nonzero = max(j for j in nonzero if j < k)
    first_zero_t = signs[last_nonzero + 1][0]
    assert signs[k][0] - first_zero_t >= DeviceLimits().dead_time_ms
    assert abs(signs[k][2] or 0) <= DeviceLimits().zero_tolerance_ua
    assert ctl.polarity == -PALMS.polarity


@pytest.mark.req("SUP-005", "DOSE-001")
def test_contact_loss_pauses_and_ramps_again_from_the_probe() -> None:
    ctl, rec = sessions.run("hyperhidrosis-palms", inject=["contact-loss@300:20"])
    assert ctl.outcome == "completed" and ctl.pauses == 1
    rows = rec.rows
    lost = next(k for k, r in enumerate(rows) if r.t_ms >= 300_000)
    paused = next(k for k, r in enumerate(rows) if r.state == "paused")
    # command down to the probe within the debounce (30 ms) plus one tick
    probe_at = next(k for k in range(lost, len(rows)) if abs(rows[k].command_ua) <= PALMS.probe_ua)
    assert rows[probe_at].t_ms - rows[lost].t_ms <= 30 + 2 * 10
    assert paused <= probe_at
    # frozen while paused: treatment time and dose
    during = [r for r in rows if r.state == "paused"]
    assert during[-1].delivered_uams == during[0].delivered_uams
    # back at 320 s, stable 2 s, then a ramp from the probe at the slew
    resumed = next(k for k in range(paused, len(rows)) if rows[k].state == "ramp_up")
    assert rows[resumed].t_ms == pytest.approx(322_000, abs=3 * 10)
    ramp = [abs(r.command_ua) for r in rows[resumed:resumed + 200]]
    assert ramp[0] <= PALMS.probe_ua + STEP
    assert all(0 <= b - a <= STEP for a, b in zip(ramp, ramp[1:]))
    assert ctl.paused_ms == pytest.approx(22_000, abs=3 * 10)
    assert ctl.treatment_ms == 20 * 60_000


@pytest.mark.req("SUP-005")
def test_a_pause_longer_than_its_limit_stops_the_session() -> None:
    ctl, rec = sessions.run("hyperhidrosis-palms", inject=["contact-loss@300"])
    assert ctl.outcome == "stopped" and "contact lost for more than 120000 ms" in ctl.end_reason
    assert ctl.state == "idle"
    assert ctl.treatment_ms == pytest.approx(300_000, abs=50)


@pytest.mark.req("CTL-006")
def test_stop_ramps_down_at_the_slew_and_ends_stopped() -> None:
    ctl = Controller(PALMS, tick_ms=10)
    ctl.start()
    t, cmd = 0, OFF
    for _ in range(2000):  # 20 s into the ramp: 10 mA
        cmd = ctl.step(Sample(t, cmd.setpoint_ua, cmd.setpoint_ua * 2))
        t += 10
    assert ctl.stop().accepted and ctl.state == "ramp_down"
    values = []
    while ctl.state != "idle":
        cmd = ctl.step(Sample(t, cmd.setpoint_ua, cmd.setpoint_ua * 2))
        values.append(cmd.setpoint_ua)
        t += 10
        assert len(values) < 10_000
    assert all(0 <= a - b <= STEP for a, b in zip(values, values[1:]))
    assert ctl.outcome == "stopped" and ctl.end_reason == "stop requested"
    assert not ctl.start().accepted  # the session has ended


@pytest.mark.req("SM-002")
def test_emergency_stop_cuts_at_once_and_reset_needs_quiet() -> None:
    ctl = Controller(PALMS, tick_ms=10)
    ctl.start()
    t, cmd = 0, OFF
    for _ in range(500):
        cmd = ctl.step(Sample(t, cmd.setpoint_ua, cmd.setpoint_ua * 2))
        t += 10
    assert cmd.setpoint_ua > 2000
    assert ctl.emergency_stop().accepted
    assert ctl.state == "fault" and ctl.faults[-1].code is FaultCode.EMERGENCY_STOP
    assert ctl.step(Sample(t, 0, 0)) == OFF
    before = (ctl.state, ctl.delivered_uams, len(ctl.faults))
    refused = ctl.reset()
    assert not refused.accepted and "near zero" in refused.reason
    assert (ctl.state, ctl.delivered_uams, len(ctl.faults)) == before
    assert not ctl.start().accepted and not ctl.adjust(1000).accepted
    for _ in range(101):
        t += 10
        assert ctl.step(Sample(t, 3, 0)) == OFF
    assert ctl.reset().accepted and ctl.state == "idle"


@pytest.mark.req("RX-002")
def test_controller_rejects_a_prescription_beyond_the_device() -> None:
    with pytest.raises(InvalidSettings) as info:
        Controller(PALMS, DeviceLimits(max_current_ua=10_000, trip_ua=12_000))
    assert [p.field for p in info.value.problems] == ["max_ua"]
    with pytest.raises(InvalidSettings) as info:
        Controller(PALMS, tick_ms=0)
    assert info.value.problems[0].field == "tick_ms"


@pytest.mark.req("CTL-004")
def test_same_inputs_same_outputs() -> None:
    a = sessions.run("hyperhidrosis-palms", inject=["contact-loss@100:5"], seed=7)[1].rows
    b = sessions.run("hyperhidrosis-palms", inject=["contact-loss@100:5"], seed=7)[1].rows
    c = sessions.run("hyperhidrosis-palms", inject=["contact-loss@100:5"], seed=8)[1].rows
    assert a == b
    assert a != c


@pytest.mark.req("CTL-002")
def test_high_resistance_holds_what_the_load_allows() -> None:
    ctl, rec = sessions.run("hyperhidrosis-palms", ohm=20_000)
    assert ctl.outcome == "completed" and not ctl.faults
    assert ctl.compliance_limited_ms > 1_000_000
    treat = [abs(r.command_ua) for r in rec.rows if r.state == "treat"]
    # 60 V / 20 kOhm = 3 mA; the command holds near it instead of chasing 15 mA
    assert max(treat) < 3_300 and min(treat[100:]) > 2_500


@pytest.mark.req("LINK-005")
def test_report_fault_cuts_with_its_reason_and_accepts_only_hal_codes() -> None:
    ctl = Controller(PALMS, tick_ms=10)
    ctl.start()
    t, cmd = 0, OFF
    for _ in range(300):
        cmd = ctl.step(Sample(t, cmd.setpoint_ua, cmd.setpoint_ua * 2))
        t += 10
    assert cmd.setpoint_ua > 1000
    refused = ctl.report_fault(FaultCode.OVERCURRENT, "not a HAL code")
    assert not refused.accepted and "link_lost" in refused.reason and ctl.state != "fault"
    reply = ctl.report_fault(FaultCode.LINK_LOST, "device stopped answering")
    assert reply.accepted and ctl.state == "fault" and ctl.command == OFF
    assert ctl.faults[-1].code is FaultCode.LINK_LOST
    assert ctl.end_reason == "link_lost: device stopped answering"
    assert ctl.report_fault(FaultCode.DEVICE_FAULT, "again").accepted  # already off: no change
    assert len(ctl.faults) == 1


@pytest.mark.req("CTL-006")
def test_finished_after_completion_and_in_fault_events_as_dicts(palms: tuple[Controller, sessions.Recorder]) -> None:
    from iontocore.events import StateChanged

    ctl, rec = palms
    assert ctl.finished and ctl.outcome == "completed"
    fresh = Controller(PALMS, DeviceLimits(), tick_ms=10)
    assert not fresh.finished
    fresh.emergency_stop()
    assert fresh.finished and fresh.state == "fault"
    event = rec.events[0]
    assert isinstance(event, StateChanged) and event.as_dict() == {"tick": event.tick, "t_ms": event.t_ms, "trigger": "start",
                               "source": "idle", "dest": "ramp_up", "reason": event.reason}
