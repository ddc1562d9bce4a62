"""The invariant tests can fail: plant one bug at a time and require the stateful
property test (tests/test_stateful.py) to catch it. Each bug is removed again by
monkeypatch at the end of its test."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

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
    # a handler overshooting, with the output clamp defeated by a wrong limit: the oracle's
    # limit is its own, from the prescription and the device
    monkeypatch.setattr(controller_mod.Controller, "_load_target",
                        lambda self: self.setpoint_ua * 2)
    real_init = controller_mod.Controller.__init__

    def init(self: controller_mod.Controller, *a: Any, **kw: Any) -> None:
        real_init(self, *a, **kw)
        self.limit_ua *= 3

    monkeypatch.setattr(controller_mod.Controller, "__init__", init)
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
        return real(self, condition, t_ms) and self.acc_ms >= self.limit_ms + self.tick_ms + 10

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


# ---- the review's planted bugs (issue 11): each one is caught by a named test -----------

HERE = Path(__file__).parent
TICK = 10


def _test_module(name: str) -> Any:
    """A test module of this directory, loaded fresh (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.req("CTL-002")
def test_planted_late_tick_slewing_one_millisecond_too_far_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controller_mod, "step_na",
                        lambda slew, dt, tick: slew * min(max(dt, 0), tick + 1))
    with pytest.raises(AssertionError):
        _test_module("test_boundaries").test_a_late_tick_ramps_no_further_than_one_nominal_tick(TICK)


@pytest.mark.req("CTL-003")
def test_planted_dead_time_cut_to_a_tenth_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real_init = controller_mod.Controller.__init__

    def init(self: controller_mod.Controller, *a: Any, **kw: Any) -> None:
        real_init(self, *a, **kw)
        self.dead_time_ms = self.device.dead_time_ms // 10  # where it is copied from the device

    monkeypatch.setattr(controller_mod.Controller, "__init__", init)
    _caught_assertion("CTL-003")
    with pytest.raises(AssertionError):
        _test_module("test_boundaries").test_the_new_polarity_shows_exactly_at_the_dead_time()


@pytest.mark.req("DOSE-001")
def test_planted_charge_in_fault_not_counted_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = controller_mod.Controller._in_fault

    def uncounted(self: controller_mod.Controller, got: Any) -> Command:
        before = self.delivered_uams
        out = real(self, got)
        self.delivered_uams = before
        return out

    monkeypatch.setattr(controller_mod.Controller, "_in_fault", uncounted)
    _caught_assertion("DOSE-001")


@pytest.mark.req("SUP-013")
def test_planted_reset_one_tick_before_the_quiet_time_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = controller_mod.Controller._reset

    def early(self: controller_mod.Controller, ack: bool) -> Any:
        if self._quiet_ms >= 0:
            self._quiet_ms += self.tick_ms  # accepts one tick early
        return real(self, ack)

    monkeypatch.setattr(controller_mod.Controller, "_reset", early)
    with pytest.raises(AssertionError):
        _test_module("test_bounds").test_quiet_time_boundary_one_tick_before_and_at()


@pytest.mark.req("SUP-007")
def test_planted_hold_released_after_half_its_time_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = controller_mod.Controller._update_hold

    def hasty(self: controller_mod.Controller, t: int, i: int, dt: int) -> None:
        if self._hold_clear_since >= 0:  # time off compliance counted double
            self._hold_clear_since -= dt
        real(self, t, i, dt)

    monkeypatch.setattr(controller_mod.Controller, "_update_hold", hasty)
    with pytest.raises(AssertionError):
        _test_module("test_boundaries").test_the_compliance_hold_is_released_exactly_after_hold_release_ms()


@pytest.mark.req("RX-003")
def test_planted_gap_counted_while_current_flows_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = controller_mod.Controller._h_gap
    monkeypatch.setattr(controller_mod.Controller, "_h_gap",
                        lambda self, t, i, dt: real(self, t, 0, dt))  # ignores the current
    with pytest.raises(AssertionError):
        _test_module("test_boundaries").test_the_pulse_gap_counts_only_current_free_time(40, 0)


@pytest.mark.req("SUP-013", "SUP-001")
def test_planted_overcurrent_trip_without_acknowledgement_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A controller that forgets the acknowledgement is caught by the direct test (the
    stateful test's reset oracle also knows of a trip from the samples, not from the
    controller's fault list, but rarely reaches a reset without one after a trip)."""
    real = controller_mod.Controller._cut

    def forgetful(self: controller_mod.Controller, code: Any, reason: str, t: int) -> Command:
        out = real(self, code, reason, t)
        self._ack_needed = False
        return out

    monkeypatch.setattr(controller_mod.Controller, "_cut", forgetful)
    with pytest.raises(AssertionError):
        _test_module("test_supervision").test_reset_after_overcurrent_needs_quiet_and_acknowledgement()


# ---- the monitors a clinician expects (issue 12): impedance fall and supply ----------------

def _fails(test: Any, *args: Any) -> None:
    with pytest.raises(AssertionError):
        test(*args)


@pytest.mark.req("SUP-018")
def test_planted_impedance_monitor_disabled_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import fault_matrix as fm
    from iontocore import trend

    monkeypatch.setattr(trend.ImpedanceTrend, "update", lambda self, *a: False)
    assert not fm.run_cell("impedance_fall", "treat").passed
    _fails(_test_module("test_trend").test_the_debounce_acts_on_its_tick_not_one_before_and_the_session_ramps_down)


@pytest.mark.req("SUP-018")
def test_planted_impedance_horizon_one_ms_short_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from iontocore import trend

    real = trend.ImpedanceTrend.__init__

    def short(self: trend.ImpedanceTrend, fall: int, window: int, horizon: int, *a: Any) -> None:
        real(self, fall, window, horizon - 1, *a)

    monkeypatch.setattr(trend.ImpedanceTrend, "__init__", short)
    _fails(_test_module("test_trend").test_a_fall_over_exactly_the_horizon_acts_one_tick_longer_does_not)


@pytest.mark.req("SUP-018")
def test_planted_impedance_settling_window_a_tick_long_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from iontocore import trend

    real = trend.ImpedanceTrend.__init__

    def long(self: trend.ImpedanceTrend, fall: int, window: int, *a: Any) -> None:
        real(self, fall, window + TICK, *a)

    monkeypatch.setattr(trend.ImpedanceTrend, "__init__", long)
    _fails(_test_module("test_trend").test_judged_only_once_the_command_was_steady_for_the_window)


@pytest.mark.req("SUP-018")
def test_planted_impedance_threshold_off_by_one_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from iontocore import trend

    monkeypatch.setattr(trend, "impedance_fell", lambda v, i, rv, ri, f: abs(v) * abs(ri) * 1000
                        < abs(rv) * abs(i) * (1000 - f))  # strict: exactly at it no longer acts
    _fails(_test_module("test_trend").test_the_fall_threshold_acts_exactly_at_its_permille, 1_000, True)


@pytest.mark.req("SUP-018")
def test_planted_impedance_debounce_a_tick_late_fails_the_fault_matrix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import fault_matrix as fm
    from iontocore import trend

    real = trend.ImpedanceTrend.__init__

    def late(self: trend.ImpedanceTrend, *a: Any) -> None:
        real(self, *a)
        self.fallen.limit_ms += TICK

    monkeypatch.setattr(trend.ImpedanceTrend, "__init__", late)
    cell = fm.run_cell("impedance_fall", "treat")
    assert not cell.passed and cell.latency == cell.expected_latency + 1


@pytest.mark.req("SUP-019", "SUP-020")
def test_planted_supply_monitor_disabled_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import fault_matrix as fm
    from iontocore import supply

    monkeypatch.setattr(supply.SupplyMonitor, "update", lambda self, *a: None)
    assert not fm.run_cell("supply_low", "treat").passed
    assert not fm.run_cell("supply_lost", "ramp_up").passed


@pytest.mark.req("SUP-019")
def test_planted_supply_margin_ignored_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from iontocore import supply

    monkeypatch.setattr(supply, "supply_stop_mv", lambda lo, margin: lo)
    test = _test_module("test_supply").test_each_level_acts_exactly_at_its_boundary
    from iontocore.faults import FaultCode

    _fails(test, 6_599, FaultCode.SUPPLY_LOW)


@pytest.mark.req("SUP-019")
def test_planted_rise_after_a_low_supply_is_caught_by_the_invariant_checker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The controller ignores the supply monitor's verdict and carries on ramping up: the
    independent checker (from the device and supervision limits) catches the rise."""
    from iontocore import supply
    from invariants import Violation

    monkeypatch.setattr(supply.SupplyMonitor, "update", lambda self, *a: None)
    bench = _test_module("test_supply").Bench()
    bench.supply = 6_300
    assert bench.ctl.start().accepted
    with pytest.raises(Violation, match="SUP-019: the command rose"):
        for _ in range(1_000):
            bench.step()
