"""LINK-012: several output channels across the HAL and the wire. The MultiHal interface and
its adapter of N single-channel Hals; the CHANNELS capability with CHANNELS_QUERY /
CHANNELS_INFO and COMMAND_CH / SAMPLE_CH frames; a single-channel device and host speak
exactly today's frames; the multi-channel serial backend against the emulator serving N
channels (lockstep: each COMMAND_CH is one tick of its channel, so no wall-clock
assertion); the device checks and the conformance kit check a multi-channel backend."""

from __future__ import annotations

import pytest

from iontocore import Command
from iontocore.faults import FaultCode
from iontocore.hal import ChannelHals, MultiHal
from iontocore.hal.sim import Injection, SimConfig, SimulatedDevice

pytestmark = pytest.mark.req("LINK-012")


def sims(n: int, **kw: object) -> list[SimulatedDevice]:
    return [SimulatedDevice(SimConfig(tick_ms=10, seed=k, **kw)) for k in range(n)]  # type: ignore[arg-type]


def test_channel_hals_present_n_hals_as_one_multihal_each_with_its_own_command() -> None:
    devs = sims(2)
    multi = ChannelHals(devs)
    assert isinstance(multi, MultiHal) and multi.channels == 2
    for _ in range(200):
        multi.apply([Command(2_000, True), Command(0, False)])
        got = multi.read()
    assert len(got) == 2 and got[0] is not None and got[1] is not None
    assert abs(got[0].current_ua - 2_000) < 100 and abs(got[1].current_ua) < 20
    with pytest.raises(ValueError, match=r"commands = 1: allowed exactly 2"):
        multi.apply([Command(0, False)])
    multi.cut()
    assert all(abs(s.current_ua) < 20 for s in multi.read() if s is not None)


class CutRaises(SimulatedDevice):
    def cut(self) -> None:
        raise RuntimeError("broken")

    def fault(self) -> tuple[FaultCode, str] | None:
        return FaultCode.DEVICE_FAULT, "stage says no"


def test_channel_hals_cut_every_channel_when_one_raises_and_name_the_faulty_channel() -> None:
    first, second = CutRaises(SimConfig(tick_ms=10)), SimulatedDevice(SimConfig(tick_ms=10))
    multi = ChannelHals([first, second])
    for _ in range(100):
        multi.apply([Command(1_000, True), Command(1_000, True)])
        multi.read()
    multi.cut()  # never raises; the second channel is still cut
    assert abs(second.read().current_ua) < 20  # type: ignore[union-attr]
    assert multi.fault() == (FaultCode.DEVICE_FAULT, "channel 1: stage says no")
    with pytest.raises(ValueError, match="hals = "):
        ChannelHals([])
