"""The invariant tests can fail: plant one bug at a time and require the stateful
property test (tests/test_stateful.py) to catch it. Each bug is removed again by
monkeypatch at the end of its test."""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test

import planted
from invariants import Violation
from iontocore import Command, controller as controller_mod, shaping
from stateful_model import ControllerMachine

FIND = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                phases=[Phase.explicit, Phase.generate], stateful_step_count=40)


def _caught(match: str) -> None:
    with pytest.raises((Violation, Flaky)) as info:
        run_state_machine_as_test(ControllerMachine, settings=FIND)
    assert match in str(info.value), str(info.value)[:500]


@pytest.mark.req("CTL-001")
def test_planted_limit_bypass_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controller_mod.Controller, "_load_target",
                        lambda self: self.setpoint_ua * 2)
    _caught("CTL-001")


@pytest.mark.req("CTL-002")
def test_planted_fast_rise_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = shaping.step_na
    monkeypatch.setattr(controller_mod, "step_na", lambda s, dt, tick: 3 * real(s, dt, tick))
    _caught_assertion("CTL-002: rise", "CTL-002: rose")


@pytest.mark.req("CTL-002")
def test_planted_abrupt_fall_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    planted.abrupt_fall(monkeypatch)
    _caught("CTL-002: fell")


@pytest.mark.req("CTL-003")
def test_planted_polarity_without_dead_time_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controller_mod, "polarity_may_change", lambda *a: True)
    _caught("CTL-003")


@pytest.mark.req("SM-002")
def test_planted_output_in_fault_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def leaky_fault(self: controller_mod.Controller, got: object) -> Command:
        return Command(1, True)

    monkeypatch.setattr(controller_mod.Controller, "_in_fault", leaky_fault)
    _caught("SM-002")



def _caught_assertion(*matches: str) -> None:
    with pytest.raises((AssertionError, Flaky)) as info:
        run_state_machine_as_test(ControllerMachine, settings=FIND)
    assert any(m in str(info.value) for m in matches), str(info.value)[:500]


@pytest.mark.req("SUP-013")
def test_planted_reset_without_quiet_time_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = controller_mod.Controller._reset

    def lax_reset(self: controller_mod.Controller, ack: bool) -> object:
        if self.state == "fault":
            self._quiet_ms = 10**9  # "quiet forever"
        return real(self, True)

    monkeypatch.setattr(controller_mod.Controller, "_reset", lax_reset)
    _caught_assertion("Reply(accepted=True")


@pytest.mark.req("SUP-013")
def test_planted_refused_request_with_a_side_effect_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = controller_mod.Controller._adjust

    def leaky_adjust(self: controller_mod.Controller, delta: int) -> object:
        reply = real(self, delta)
        if not reply.accepted:  # type: ignore[attr-defined]
            self.setpoint_ua += 1
        return reply

    monkeypatch.setattr(controller_mod.Controller, "_adjust", leaky_adjust)
    _caught_assertion("adjust", "RX-004")


@pytest.mark.req("SUP-001")
def test_planted_wrong_reaction_fails_the_fault_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import fault_matrix as fm
    from iontocore.faults import BY_CODE, FaultCode, Reaction

    # the controller reacts with a ramp; the catalogue (the spec) still says hard cut
    soft = dataclasses.replace(BY_CODE[FaultCode.OVERCURRENT], reaction=Reaction.RAMP_THEN_FAULT)
    monkeypatch.setattr(controller_mod, "BY_CODE", {**BY_CODE, FaultCode.OVERCURRENT: soft})
    assert not fm.run_cell("overcurrent", "treat").passed
    monkeypatch.undo()
    assert fm.run_cell("overcurrent", "treat").passed


@pytest.mark.req("SUP-002")
def test_planted_debounce_off_by_one_fails_the_fault_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    import fault_matrix as fm
    from iontocore import supervision

    real = supervision.Persistence.update

    def late_by_one_tick(self: supervision.Persistence, condition: bool, t_ms: int) -> bool:
        return real(self, condition, t_ms) and self.acc_ms >= self.limit_ms + 10

    monkeypatch.setattr(supervision.Persistence, "update", late_by_one_tick)
    cell = fm.run_cell("tracking", "treat")
    assert not cell.passed and cell.latency == cell.expected_latency + 1


@pytest.mark.req("DOSE-001", "SUP-005")
def test_planted_dose_counted_while_paused_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controller_mod, "DOSE_STATES", controller_mod.DOSE_STATES | {"paused"})
    _caught_assertion("frozen while paused", "DOSE-001")


@pytest.mark.req("SUP-004")
def test_planted_rise_on_a_bad_sample_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = controller_mod.Controller._blind

    def creeping(self: controller_mod.Controller, missing: bool, state: str) -> Command:
        cmd = real(self, missing, state)
        if cmd.enabled and self.state not in ("fault", "ramp_down") and cmd.setpoint_ua:
            return Command(cmd.setpoint_ua + (1 if cmd.setpoint_ua > 0 else -1), True, cmd.duty_permille)
        return cmd

    monkeypatch.setattr(controller_mod.Controller, "_blind", creeping)
    # the creep is caught as a rise on a bad sample, or (when the first creep happens at the
    # limit) as a command above the limit: both are this bug's signature
    _caught_assertion("rose on a bad sample", "CTL-001: |command|", "CTL-002: rose")
