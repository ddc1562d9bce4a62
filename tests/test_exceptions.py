"""CTL-005: an exception anywhere in the controller ends in fault with the output off and
never reaches the caller. Each callback, handler and monitor is made to raise in turn."""

from __future__ import annotations

import dataclasses

import pytest
from transitions.core import Event

from iontocore import OFF, Controller, DeviceLimits, Sample, profiles
from iontocore import controller as controller_mod
from iontocore import supervision
from iontocore.faults import FaultCode
from iontocore.supervision import SupervisionLimits

DEVICE = DeviceLimits(min_reversal_session_ms=10_000)
SUP = SupervisionLimits()
SHORT = dataclasses.replace(profiles.load("hyperhidrosis-palms"), duration_ms=20_000, ramp_ms=1_000,
                            target_ua=1_000, max_ua=2_000, min_ua=100, step_ua=100)
PULSES = profiles.load("acetylcholine-pulses")
DRUG = profiles.load("dexamethasone-40")

METHODS = ["_h_idle", "_h_ramp_up", "_h_treat", "_h_swap", "_h_gap", "_h_ramp_down",
           "_shape", "_update_hold", "_goal_reached", "_load_target", "_react", "_blind"]
FUNCTIONS = ["admit", "step_na", "next_magnitude_na", "polarity_may_change", "ramp_down_bound_uams"]
MONITORS = ["observe", "check_time"]


class Boom(RuntimeError):
    pass


def _drive(ctl: Controller, plan: str) -> None:
    """Run a session (after a few idle ticks); `plan` adds inputs that reach the paused and
    blind paths."""
    t, cmd = 0, OFF
    for k in range(6_000):
        if k == 3:
            ctl.start()
        open_load = plan == "open" and 200 <= k < 600
        i = 0 if open_load else cmd.setpoint_ua * cmd.duty_permille // 1000
        v = (60_000 if cmd.setpoint_ua >= 0 else -60_000) if open_load else cmd.setpoint_ua * 2
        if plan == "overcurrent" and k == 300:
            i = 50_000
        if plan == "compliance" and k >= 200:
            i, v = i * 8 // 10, (59_000 if cmd.setpoint_ua >= 0 else -59_000)
        i += k % 2  # one LSB of noise: a live sensor (DeviceLimits.sensor_frozen_ms)
        sample = None if plan == "blind" and k % 50 == 49 else Sample(t, i, v)
        cmd = ctl.step(sample)  # must never raise
        t += 20 if plan == "late" and k == 100 else 10
        if ctl.state == "fault":
            return
        if ctl.state == "idle" and ctl.outcome:
            return


def _check(ctl: Controller, calls: list[int]) -> None:
    assert calls, "the patched code was never reached: the test would prove nothing"
    assert ctl.state == "fault"
    assert ctl.command == OFF
    assert ctl.faults[-1].code is FaultCode.INTERNAL_ERROR
    assert "Boom" in ctl.faults[-1].reason


def _raiser(calls: list[int]):  # type: ignore[no-untyped-def]
    def boom(*args: object, **kwargs: object) -> object:
        calls.append(1)
        raise Boom("injected")
    return boom


@pytest.mark.req("CTL-005")
@pytest.mark.parametrize("name", METHODS)
def test_exception_in_controller_method(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    calls: list[int] = []
    rx = PULSES if name == "_h_gap" else SHORT
    ctl = Controller(rx, DEVICE, tick_ms=10)
    monkeypatch.setattr(ctl, name, _raiser(calls))
    if name.startswith("_h_"):
        ctl._handlers = {k: (getattr(ctl, name) if v.__name__ == name else v)
                         for k, v in ctl._handlers.items()}
    _drive(ctl, {"_blind": "blind", "_react": "overcurrent",
                 "_update_hold": "compliance"}.get(name, "normal"))
    _check(ctl, calls)


@pytest.mark.req("CTL-005")
def test_exception_while_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    ctl = Controller(SHORT, DEVICE, tick_ms=10)
    ctl._handlers = {**ctl._handlers, "paused": _raiser(calls)}
    _drive(ctl, "open")
    _check(ctl, calls)


@pytest.mark.req("CTL-005")
@pytest.mark.parametrize("name", FUNCTIONS)
def test_exception_in_pure_function(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    calls: list[int] = []
    monkeypatch.setattr(controller_mod, name, _raiser(calls))
    ctl = Controller(DRUG if name == "ramp_down_bound_uams" else SHORT, DEVICE, tick_ms=10)
    _drive(ctl, "normal")
    _check(ctl, calls)


@pytest.mark.req("CTL-005")
@pytest.mark.parametrize("name", MONITORS)
def test_exception_in_monitor(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    calls: list[int] = []
    monkeypatch.setattr(supervision.Supervisor, name, _raiser(calls))
    ctl = Controller(SHORT, DEVICE, tick_ms=10)
    _drive(ctl, "late" if name == "check_time" else "normal")
    _check(ctl, calls)


@pytest.mark.req("CTL-005")
def test_exception_in_a_transitions_trigger_and_in_the_fault_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    ctl = Controller(SHORT, DEVICE, tick_ms=10)
    ctl.start()
    # every trigger raises from now on, including the one to fault: the last-resort path
    monkeypatch.setattr(Event, "trigger", _raiser(calls))
    t, cmd = 0, OFF
    for _ in range(400):
        cmd = ctl.step(Sample(t, cmd.setpoint_ua, cmd.setpoint_ua * 2))
        t += 10
    assert calls and ctl.state == "fault" and ctl.command == OFF and cmd == OFF


@pytest.mark.req("CTL-005", "SUP-013")
def test_the_last_resort_leaves_a_safe_ended_fault_that_a_reset_can_leave(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """When even the fault path raises, the controller forces the fault state itself: output
    off on that very tick, the session ended as faulted, and nothing left on that would keep
    a later reset (after the quiet time, once the triggers work again) from being accepted."""
    calls: list[int] = []
    ctl = Controller(SHORT, DEVICE, tick_ms=10)
    t, cmd = 0, OFF
    cmd = ctl.step(Sample(t, 0, 0))
    assert ctl.start().accepted
    for _ in range(50):  # ramping up: a command is on
        t += 10
        cmd = ctl.step(Sample(t, cmd.setpoint_ua, cmd.setpoint_ua * 2))
    assert cmd.enabled and cmd.setpoint_ua > 0
    monkeypatch.setattr(Event, "trigger", _raiser(calls))
    monkeypatch.setattr(ctl, "_h_ramp_up", _raiser(calls))
    ctl._handlers = {**ctl._handlers, "ramp_up": ctl._h_ramp_up}
    t += 10
    assert ctl.step(Sample(t, cmd.setpoint_ua, cmd.setpoint_ua * 2)) == OFF
    assert len(calls) == 2 and ctl.state == "fault" and ctl.command == OFF
    assert ctl.outcome == "fault" and ctl.finished
    monkeypatch.undo()
    # at once, before any sample: refused only for want of the quiet time (the output is off)
    assert ctl.reset().reason == (f"measured current not near zero (<= {DEVICE.zero_tolerance_ua}"
                                  f" uA) for {SUP.reset_quiet_ms} ms yet (quiet for 0 ms)")
    quiet = SUP.reset_quiet_ms // 10
    for _ in range(quiet + 1):
        t += 10
        assert ctl.step(Sample(t, 0, 0)) == OFF
    reply = ctl.reset()
    assert reply.accepted, reply
    assert ctl.state == "idle" and ctl.command == OFF


@pytest.mark.req("CTL-005")
@pytest.mark.parametrize("request_name", ["start", "stop", "emergency_stop", "reset", "adjust"])
def test_exception_in_a_request(monkeypatch: pytest.MonkeyPatch, request_name: str) -> None:
    calls: list[int] = []
    ctl = Controller(SHORT, DEVICE, tick_ms=10)
    monkeypatch.setattr(ctl, f"_{request_name}" if request_name != "emergency_stop" else "_estop",
                        _raiser(calls))
    fn = getattr(ctl, request_name)
    reply = fn(100) if request_name == "adjust" else fn()
    assert not reply.accepted and "internal error" in reply.reason
    _check(ctl, calls)
