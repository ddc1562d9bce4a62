"""The multi-channel coordinator at its edges: the refusal of channels on different ticks
names the field and the ticks, and a coordinator that cut every channel on a malformed tick
recovers with its channels (each reset and started again runs normally)."""

from __future__ import annotations

import pytest

from iontocore import Controller, Sample
from iontocore.coordinator import ChannelLimits, Coordinator
from iontocore.errors import InvalidSettings
from iontocore.faults import FaultCode

from short_session import DEVICE, RX, SUP, TICK

LIMITS = ChannelLimits(total_max_ua=10_000, total_trip_ua=12_000)


@pytest.mark.req("CH-001")
def test_channels_on_different_ticks_are_refused_naming_the_ticks() -> None:
    a = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    b = Controller(RX, DEVICE, SUP, tick_ms=2 * TICK)
    with pytest.raises(InvalidSettings) as err:
        Coordinator([a, b], LIMITS)
    (problem,) = err.value.problems
    assert (problem.field, problem.value, problem.allowed) == (
        "tick_ms", [TICK, 2 * TICK], "the same tick on every channel"), problem


@pytest.mark.req("CH-001", "CTL-005")
def test_after_a_malformed_tick_cut_every_channel_they_recover_normally() -> None:
    """A tick with the wrong number of samples cuts every channel (device fault). Each
    channel then resets after its quiet time, starts (no session had begun) and runs: the
    coordinator judges the new faults only, so nothing is cut again."""
    chans = [Controller(RX, DEVICE, SUP, tick_ms=TICK) for _ in range(2)]
    co = Coordinator(chans, LIMITS)
    co.step([Sample(0, 0, 0)])                     # one sample for two channels
    assert [c.state for c in chans] == ["fault", "fault"]
    assert all(c.faults[-1].code is FaultCode.DEVICE_FAULT for c in chans)
    t = 0
    for _ in range(SUP.reset_quiet_ms // TICK + 1):
        t += TICK
        co.step([Sample(t, (t // TICK) % 2, 0)] * 2)
    assert all(c.reset().accepted for c in chans)
    assert co.start().accepted
    for _ in range(50):
        t += TICK
        co.step([Sample(t, c.command.setpoint_ua + (t // TICK) % 2, c.command.setpoint_ua * 2)
                 for c in chans])
    assert [c.state for c in chans] == ["ramp_up", "ramp_up"], [c.faults for c in chans]
    assert [len(c.faults) for c in chans] == [1, 1]
