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

    @classmethod
    def first_in_its_own_fault(cls) -> "Pair":
        """Both channels at their target, then channel 1 reads nothing: its own tracking
        fault (not shared: channel 2 runs on), on the last sample stepped."""
        pair = cls()
        pair.run(1)
        assert pair.coord.start().accepted
        pair.run(RX.ramp_ms // TICK + 10)
        pair.override[0] = 0
        for _ in range(10_000):
            pair.step()
            if pair.ctls[0].state == "fault":
                break
        return pair


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
    pair = Pair.first_in_its_own_fault()
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


@pytest.mark.req("CH-003")
@pytest.mark.parametrize("leak, cut", [(DEVICE.zero_tolerance_ua, False),
                                       (DEVICE.zero_tolerance_ua + 1, True)])
def test_a_leak_is_current_beyond_the_zero_tolerance(leak: int, cut: bool) -> None:
    """On a channel in its own fault, a reading at the zero tolerance is no leak (noise); one
    uA more, held past leak_settle_ms, ends every channel."""
    pair = Pair.first_in_its_own_fault()
    assert pair.ctls[0].faults[-1].code is FaultCode.TRACKING
    pair.override[0] = leak
    pair.run(SUP.leak_settle_ms // TICK + 5)
    assert pair.ctls[1].state == ("fault" if cut else "treat"), pair.ctls[1].faults


@pytest.mark.req("CH-001")
@pytest.mark.parametrize("over, cut", [(0, False), (1, True)])
def test_the_device_total_is_of_pulse_amplitudes_and_trips_only_above_the_total_trip(
        over: int, cut: bool) -> None:
    """Two pulsed channels at 50 % duty at their 3 mA ceiling: the sensors read averages, the
    total is of amplitudes (average x 1000 / duty). At exactly the total trip nothing happens;
    one average uA more (two of amplitude) ends every channel."""
    from dataclasses import replace

    rx = replace(RX, waveform="pulsed", pulse_hz=1_000, duty_permille=500)
    trip = 2 * rx.ceiling_ua + 10  # room for the loads' noise while the channels settle
    ctls = [Controller(rx, DEVICE, SUP, tick_ms=TICK) for _ in range(2)]
    coord = Coordinator(ctls, ChannelLimits(total_max_ua=2 * rx.ceiling_ua, total_trip_ua=trip))
    loads = [Load(), Load()]
    coord.step([load(ctl.command) for ctl, load in zip(ctls, loads)])
    assert coord.start().accepted
    for ctl in ctls:
        assert ctl.adjust(rx.ceiling_ua - rx.target_ua).accepted
    for _ in range(200):
        coord.step([load(ctl.command) for ctl, load in zip(ctls, loads)])
    assert [c.command.setpoint_ua for c in ctls] == [rx.ceiling_ua] * 2
    avg = rx.ceiling_ua * rx.duty_permille // 1000
    readings = [avg, avg + 5 + over]  # amplitudes: the ceiling, the ceiling + 10 (+ 2)
    samples = [Sample(load(ctl.command).t_ms, i, ctl.command.setpoint_ua * 2)
               for ctl, load, i in zip(ctls, loads, readings)]
    coord.step(samples)
    assert coord.total_ua == trip + 2 * over
    assert [c.state for c in ctls] == (["fault", "fault"] if cut else ["treat", "treat"])
    if cut:
        assert ctls[0].faults[-1].reason == (f"device total {trip + 2} uA above the total trip "
                                             f"at {trip} uA")


@pytest.mark.req("CH-003", "SUP-013")
def test_channels_reset_after_a_shared_fault_are_not_cut_again_by_it() -> None:
    """The coordinator judges each fault record once: after a shared fault has ended every
    channel and the channels are reset (after their quiet time), the old record cuts nothing."""
    pair = Pair()
    pair.run(1)
    assert pair.coord.start().accepted
    pair.run(20)
    assert pair.coord.emergency_stop().accepted
    pair.run(SUP.reset_quiet_ms // TICK + 2)
    assert all(ctl.reset().accepted for ctl in pair.ctls)
    before = [len(ctl.faults) for ctl in pair.ctls]
    pair.run(5)
    assert [ctl.state for ctl in pair.ctls] == ["idle", "idle"]
    assert [len(ctl.faults) for ctl in pair.ctls] == before
