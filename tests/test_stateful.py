"""Hypothesis drives the real Controller with arbitrary samples and requests and checks
every invariant after every tick and every request (tests/support/stateful_model.py,
tests/support/invariants.py). The Hypothesis profile (tests/conftest.py) sets the depth."""

from __future__ import annotations

import pytest

from stateful_model import ControllerMachine

TestControllerMachine = pytest.mark.req(
    "CTL-001", "CTL-002", "CTL-003", "SM-002", "CTL-005", "DOSE-001", "SUP-004", "SUP-005",
    "SUP-013", "RX-004", "CTL-008")(ControllerMachine.TestCase)
