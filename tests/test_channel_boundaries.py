"""CH-001 / CH-003 at their boundaries, on two channels of the short session driven sample by
sample: the device total before and after the first tick, a shared fault on a channel's
first record, the leak watch on a channel in fault acting exactly leak_settle_ms after that
channel was first seen in fault (not one tick before), the failure reason word for word, and
the channel numbers the coordinator reports. Expected values come from the supervision
limits and the channels' own samples, never from the coordinator."""

from __future__ import annotations

import pytest

from iontocore import Controller, Sample
from iontocore.coordinator import ChannelLimits, Coordinator
from iontocore.faults import FaultCode

from short_session import DEVICE, RX, SUP, TICK, Load

LIMITS = ChannelLimits(total_max_ua=10_000, total_trip_ua=10_000)


class Pair:
    """Two channels, each on its own ideal load; `override[k]` replaces channel k's reading."""

    def __init__(self) -> None:
        self.ctls = [Controller(RX, DEVICE, SUP, tick_ms=TICK) for _ in range(2)]
        self.coord = Coordinator(self.ctls, LIMITS)
        self.loads = [Load(), Load()]
        self.override: list[int | None] = [None, None]

    def step(self) -> None:
        samples = []
        for ctl, load, i in zip(self.ctls, self.loads, self.override):
            s = load(ctl.command)
            samples.append(s if i is None else Sample(s.t_ms, i, s.voltage_mv))
        self.coord.step(samples)

    def run(self, ticks: int) -> None:
        for _ in range(ticks):
            self.step()


def test_the_device_total_starts_at_zero() -> None:
    pair = Pair()
    assert (pair.coord.total_ua, pair.coord.total_peak_ua) == (0, 0)
    pair.run(1)  # idle: nothing flows (the loads' one LSB of noise at most)
    assert pair.coord.total_ua <= 2 and pair.coord.total_peak_ua == pair.coord.total_ua


@pytest.mark.req("CH-003")
def test_a_shared_fault_as_a_channel_s_first_record_ends_every_channel() -> None:
    pair = Pair()
    pair.run(1)
    assert pair.coord.start().accepted
    pair.run(20)
    trip = RX.ceiling_ua + max(SUP.trip_floor_ua, RX.ceiling_ua * SUP.trip_margin_permille // 1000)
    pair.override[1] = trip + 1
    pair.step()
    assert [c.state for c in pair.ctls] == ["fault", "fault"]
    (one, rec1), (two, rec2) = pair.coord.faults()
    assert (one, rec1.code) == (1, FaultCode.DEVICE_FAULT) and (two, rec2.code) == (2, FaultCode.OVERCURRENT)
    assert rec1.reason == ("channel 2: overcurrent (the current source or its trip may be what "
                           "failed, and it is shared)")


@pytest.mark.req("CH-003")
def test_a_leak_on_a_channel_in_fault_ends_every_channel_exactly_after_the_settle_time() -> None:
    pair = Pair()
    pair.run(1)
    assert pair.coord.start().accepted
    pair.run(RX.ramp_ms // TICK + 10)
    pair.override[0] = 0                      # channel 1 reads nothing: its own tracking fault
    for _ in range(10_000):
        pair.step()
        if pair.ctls[0].state == "fault":
            break
    first_seen = pair.loads[0].t              # the sample on which it was first in fault
    assert pair.ctls[0].faults[-1].code is FaultCode.TRACKING and pair.ctls[1].state == "treat"
    pair.override[0] = 200                    # now current flows with its output off
    while pair.loads[0].t + TICK < first_seen + SUP.leak_settle_ms:
        pair.step()
        assert pair.ctls[1].state == "treat", pair.loads[0].t - first_seen
    pair.step()                               # the sample leak_settle_ms after first seen
    assert pair.loads[0].t - first_seen == SUP.leak_settle_ms
    rec = pair.ctls[1].faults[-1]
    assert pair.ctls[1].state == "fault" and rec.code is FaultCode.DEVICE_FAULT
    assert rec.reason == (f"channel 1: leak: 200 uA flowing with its output off in fault for "
                          f"{SUP.leak_settle_ms} ms (current with the output off may come from "
                          "the common rail)")


@pytest.mark.req("CH-003", "CTL-005")
def test_a_failed_tick_names_the_error_on_every_channel() -> None:
    pair = Pair()
    pair.run(1)
    pair.coord.step([None])
    for ctl in pair.ctls:
        assert ctl.state == "fault" and ctl.faults[-1].code is FaultCode.DEVICE_FAULT
        assert ctl.faults[-1].reason == ("coordinator: ValueError: samples: 1 given, one per "
                                         "channel (2)")
    assert [k for k, _ in pair.coord.faults()] == [1, 2]


@pytest.mark.req("CH-003")
def test_faults_recorded_before_the_first_tick_are_judged_on_it() -> None:
    """A channel handed over already in fault: its records count from the first tick on
    (a shared one ends the other channel; a leak is timed from the first tick)."""
    pair = Pair()
    pair.ctls[0].emergency_stop()
    pair.step()
    assert pair.ctls[1].state == "fault"
    assert pair.ctls[1].faults[-1].reason == ("channel 1: emergency_stop (an operator asked for "
                                              "every output off)")

    alone, load = Controller(RX, DEVICE, SUP, tick_ms=TICK), Load()
    alone.step(load(alone.command))
    assert alone.start().accepted
    while alone.state != "fault":       # nothing flows: its own tracking fault
        s = load(alone.command)
        alone.step(Sample(s.t_ms, 0, s.voltage_mv))
    assert alone.faults[-1].code is FaultCode.TRACKING
    pair = Pair()
    pair.ctls[0] = alone
    pair.loads[0] = load
    pair.coord = Coordinator(pair.ctls, LIMITS)
    pair.override[0] = 200              # leaking from the first tick under the coordinator
    first = load.t + TICK
    while load.t + TICK < first + SUP.leak_settle_ms:
        pair.step()
        assert pair.ctls[1].state != "fault", load.t - first
    pair.step()
    assert pair.ctls[1].state == "fault" and "channel 1: leak: 200 uA" in pair.ctls[1].faults[-1].reason
