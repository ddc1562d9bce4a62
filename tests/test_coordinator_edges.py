"""The multi-channel coordinator at its edges: the refusal of channels on different ticks
names the field and the ticks, and a coordinator that cut every channel on a malformed tick
recovers with its channels (each reset and started again runs normally)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from iontocore import Controller, Prescription, Sample
from iontocore.coordinator import ChannelLimits, Coordinator
from iontocore.errors import InvalidSettings
from iontocore.faults import FaultCode
from iontocore.protocol import PULSE, Protocol, Step

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


@pytest.mark.req("CH-003")
def test_the_leak_watch_of_a_channel_in_fault_counts_from_a_reading_stamped_zero() -> None:
    """A channel cut on the tick stamped 0 by a fault of its own path (its charge ceiling,
    carried past by a defect standing in) and still carrying current is judged from that
    reading on: leak_settle_ms later every channel is cut (the common rail may carry it)."""
    research = Prescription(name="leak", family="research", target_ua=200, ramp_ms=1_000,
                            area_mm2=400, return_area_mm2=400, max_charge_uams=1_000_000,
                            protocol=Protocol((Step(PULSE, duration_ms=1_000),)))
    chans = [Controller(research, DEVICE, SUP, tick_ms=TICK), Controller(RX, DEVICE, SUP, tick_ms=TICK)]
    co = Coordinator(chans, LIMITS)
    assert chans[0].start().accepted
    chans[0].bound_uams = research.max_charge_uams + 1  # type: ignore[misc]
    leak = DEVICE.zero_tolerance_ua + 1
    t = 0
    while t < SUP.leak_settle_ms:
        co.step([Sample(t, leak, 0), Sample(t, (t // TICK) % 2, 0)])
        assert chans[0].faults[0].code is FaultCode.DOSE_LIMIT
        assert chans[1].state == "idle", t
        t += TICK
    co.step([Sample(t, leak, 0), Sample(t, 0, 0)])
    assert chans[1].state == "fault" and chans[1].faults[-1].code is FaultCode.DEVICE_FAULT


@pytest.mark.req("CH-001")
def test_a_channel_with_its_output_off_adds_its_reading_as_it_is_to_the_total() -> None:
    """The device total adds pulse amplitudes for channels delivering pulsed current, but a
    channel with its output off pulses nothing: its reading counts as it is."""
    pulsed = replace(RX, waveform="pulsed", pulse_hz=1_000, duty_permille=500)
    chans = [Controller(pulsed, DEVICE, SUP, tick_ms=TICK), Controller(RX, DEVICE, SUP, tick_ms=TICK)]
    co = Coordinator(chans, LIMITS)
    co.step([Sample(0, 15, 0), Sample(0, 3, 0)])        # both idle: outputs off
    assert co.total_ua == 18


@pytest.mark.req("CH-001")
@pytest.mark.parametrize("n, ok", [(16, True), (17, False)])
def test_a_coordinator_takes_up_to_sixteen_channels(n: int, ok: bool) -> None:
    chans = [Controller(RX, DEVICE, SUP, tick_ms=TICK) for _ in range(n)]
    limits = ChannelLimits(total_max_ua=1_000_000, total_trip_ua=1_100_000)
    if ok:
        assert len(Coordinator(chans, limits).channels) == n
        return
    with pytest.raises(InvalidSettings) as err:
        Coordinator(chans, limits)
    assert [(p.field, p.value, p.allowed) for p in err.value.problems] == [
        ("channels", n, "from 1 to 16 controllers")]


@pytest.mark.req("CH-001")
@pytest.mark.parametrize("channels, limits, field", [
    (["x"], LIMITS, "channels"), ("ab", LIMITS, "channels"), (5, LIMITS, "channels"),
    (None, LIMITS, "channels"), ("controllers", "limits", "channels")])
def test_channels_or_limits_of_the_wrong_kind_are_refused_by_name(channels: object,
                                                                   limits: object,
                                                                   field: str) -> None:
    with pytest.raises(InvalidSettings) as err:
        Coordinator(channels, limits)  # type: ignore[arg-type]
    assert [p.field for p in err.value.problems] == [field]


@pytest.mark.req("CH-001")
def test_limits_of_the_wrong_kind_are_refused_by_name() -> None:
    with pytest.raises(InvalidSettings) as err:
        Coordinator([Controller(RX, DEVICE, SUP, tick_ms=TICK)], {"total_max_ua": 1})  # type: ignore[arg-type]
    assert [p.field for p in err.value.problems] == ["limits"]
