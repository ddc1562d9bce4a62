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


@pytest.mark.req("LINK-012", "LINK-001")
def test_the_decoder_target_covers_the_channel_frames() -> None:
    """The byte-level decoder target keeps its contract on the channel frames (LINK-012),
    whole, split, truncated and with a flipped bit; the corpus holds seeds of each."""
    import byte_targets
    from iontocore.hal import protocol as p

    frames = [p.encode(p.MsgType.CHANNELS_QUERY, 16), p.encode(p.MsgType.CHANNELS_INFO, 16, 2),
              p.command_ch(17, 1, 15000, True, 1000), p.command_ch(18, 8, -1, False, 500),
              p.sample_ch(17, 1, 30070, 15000, 30000, 1, p.STATUS_ON, None),
              p.sample_ch(18, 255, 2**32 - 1, -2**31, 2**31 - 1, None, 0xFF, 0)]
    for wire in frames:
        for data in (wire, wire * 2, wire[:-3] + wire, bytes([wire[0] ^ 1]) + wire[1:] + wire):
            byte_targets.decoder(bytes([len(data) // 2]) + data)
            byte_targets.decoder(data)
        assert len(p.Decoder().feed(wire)) == 1
