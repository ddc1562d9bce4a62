"""Fuzz targets that only a campaign needed: the conformance kit's state machine as a
collected test (HypoFuzz fuzzes @given tests and RuleBasedStateMachine.TestCase classes,
not run_state_machine_as_test calls in a test body), on the simulated backend."""

from __future__ import annotations

import pytest
from hypothesis import settings

from iontocore.hal.conformance import Spec, state_machine
from iontocore.hal.sim import SimConfig, SimulatedDevice


def _wait(hal: object, ms: int) -> None:
    for _ in range(ms // 10 + 1):
        hal.read()  # type: ignore[attr-defined]


SIM = Spec(factory=lambda: SimulatedDevice(SimConfig(tick_ms=10)), wait=_wait)
SimulatorContract = state_machine(SIM)
SimulatorContract.TestCase.settings = settings(max_examples=25, deadline=None)
TestSimulatorConformance = pytest.mark.req("LINK-004", "HAL-002")(SimulatorContract.TestCase)
