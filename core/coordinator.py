"""Several output channels on one device, one tick (CH-001 to CH-003).

A `Coordinator` owns one `Controller` per channel, each with its own prescription,
supervision and state machine (the single-channel controller does not learn about
channels), and adds the device-wide rules on top:

- total current (CH-001): the channels' effective limits must add up to at most the
  device's `total_max_ua`, checked when the coordinator is made (rejected otherwise, each
  channel's limit named), so the commands can never add up to more; and the measured
  total (pulse amplitudes, the peak the shared stage sees when pulses coincide) above
  `total_trip_ua` cuts every channel at once (device_fault).
- isolation (CH-002): each channel is judged on its own samples only. A contact loss
  pauses that channel alone; a channel-local fault (SHARED_STAGE below says which are not)
  ends that channel alone and the others go on.
- shared stage (CH-003): a fault that may come from what the channels share (the supply,
  the clock and the tick, the link, the host, the current source's common rail: see
  SHARED_STAGE) ends every channel: the others are cut at once (device_fault, naming the
  channel and its fault). A channel that has ended in fault no longer judges its samples;
  the coordinator watches them for a leak (current above the zero tolerance once the
  output has had leak_settle_ms to settle), which cuts every channel, unless the channel
  ended on a fault of its own sensor (UNTRUSTED_SENSOR).
- failure: `step` never raises; a wrong number of samples or any exception cuts every
  channel and returns OFF for each.

All channels take their samples on the same tick: `step` takes one sample (or None) per
channel and returns one command per channel, in channel order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .controller import Controller
from .errors import Checker, described
from .events import Reply
from .faults import FaultCode, FaultRecord
from .interface import OFF, Command, Sample
from .supervision import admit, amplitude_ua

SHARED_STAGE: dict[FaultCode, str] = {
    FaultCode.OVERCURRENT: "the current source or its trip may be what failed, and it is shared",
    FaultCode.UNCOMMANDED_CURRENT: "current nobody commanded may come from the common rail",
    FaultCode.LEAK: "current with the output off may come from the common rail",
    FaultCode.SAMPLE_LOSS: "the samples of every channel come over the same path",
    FaultCode.CLOCK_BACKWARDS: "one clock times every channel",
    FaultCode.CLOCK_JUMP: "one clock times every channel",
    FaultCode.LATE_TICKS: "one tick drives every channel",
    FaultCode.INTERNAL_ERROR: "the host software runs every channel",
    FaultCode.LINK_LOST: "one link carries every channel's commands",
    FaultCode.DEVICE_FAULT: "the device reports on its whole output stage",
    FaultCode.SUPPLY_LOW: "one supply feeds every channel",
    FaultCode.SUPPLY_LOST: "one supply feeds every channel",
    FaultCode.EMERGENCY_STOP: "an operator asked for every output off",
}
"""Faults on one channel that end every channel, and why. Every other fault (tracking, a
stuck or implausible sensor, a short or a relay on that channel's path, an unsettled
output, the dose limit, an impedance fall) concerns that channel's own path, sensor or
load, and ends that channel alone."""


UNTRUSTED_SENSOR = frozenset({FaultCode.SENSOR_STUCK, FaultCode.IMPLAUSIBLE_SAMPLE})
"""A channel that ended on a fault of its own sensor: its readings say nothing, so the
leak watch on channels in fault skips it."""


@dataclass(frozen=True)
class ChannelLimits:
    """The device-wide limits of a multi-channel device, set by its maker."""

    total_max_ua: int
    """The most current all channels may deliver together (sum of pulse amplitudes)."""
    total_trip_ua: int
    """The measured total (pulse amplitudes) above which every channel is cut."""

    def __post_init__(self) -> None:
        c = Checker("channel limits")
        if c.int_range("total_max_ua", self.total_max_ua, 1, 1_000_000, "uA"):
            c.int_range("total_trip_ua", self.total_trip_ua, self.total_max_ua, 2_000_000, "uA")
        c.raise_if_any()


class Coordinator:
    """One controller per channel, one tick, the device-wide rules (module docstring)."""

    def __init__(self, channels: Sequence[Controller], limits: ChannelLimits) -> None:
        c = Checker("channels")
        if not c.check(isinstance(channels, (list, tuple))
                       and all(isinstance(ctl, Controller) for ctl in channels),
                       "channels", channels, "a list of Controllers"):
            c.raise_if_any()
        c.check(isinstance(limits, ChannelLimits), "limits", type(limits).__name__,
                "a ChannelLimits")
        n = len(channels)
        c.check(1 <= n <= 16, "channels", n, "from 1 to 16 controllers")
        c.check(len({id(ctl) for ctl in channels}) == n, "channels", n,
                "distinct controllers (one per channel)")
        ticks = {ctl.tick_ms for ctl in channels}
        c.check(len(ticks) <= 1, "tick_ms", sorted(ticks), "the same tick on every channel")
        total = sum(ctl.limit_ua for ctl in channels)
        if isinstance(limits, ChannelLimits) and total > limits.total_max_ua:
            each = ", ".join(f"channel {k + 1}: {ctl.limit_ua} uA" for k, ctl in enumerate(channels))
            c.add("effective limits (sum)", total,
                  f"at most total_max_ua ({limits.total_max_ua} uA); {each}")
        c.raise_if_any()
        self.channels: tuple[Controller, ...] = tuple(channels)
        self.limits = limits
        self.total_ua = 0          # the measured total of the last tick (pulse amplitudes)
        self.total_peak_ua = 0     # the highest measured total so far
        self._seen = [0] * n       # faults already judged, per channel
        self._off_since = [-1] * n  # sample time each channel in fault was first seen

    # ------------------------------------------------------------------ requests

    def start(self) -> Reply:
        """Start every channel; refused (nothing changes) unless every channel accepts.
        Channels that accepted before one refused are stopped again."""
        started: list[Controller] = []
        for k, ctl in enumerate(self.channels):
            reply = ctl.start()
            if not reply.accepted:
                for other in started:
                    other.stop()
                return Reply(False, f"channel {k + 1}: {reply.reason}")
            started.append(ctl)
        return Reply(True)

    def stop(self) -> Reply:
        """Controlled ramp-down on every channel that is running."""
        for ctl in self.channels:
            ctl.stop()
        return Reply(True)

    def emergency_stop(self) -> Reply:
        for ctl in self.channels:
            ctl.emergency_stop()
        return Reply(True)

    def report_fault(self, code: FaultCode, reason: str) -> Reply:
        """A fault the HAL detected on the whole device: every channel is cut."""
        replies = [ctl.report_fault(code, reason) for ctl in self.channels]
        bad = [r.reason for r in replies if not r.accepted]
        return Reply(not bad, bad[0] if bad else "")

    # ------------------------------------------------------------------ the tick

    @property
    def finished(self) -> bool:
        return all(ctl.finished for ctl in self.channels)

    def step(self, samples: Sequence[Sample | None]) -> tuple[Command, ...]:
        """One tick: each channel judges its own sample; then the device-wide rules. Never
        raises: a wrong number of samples, or any exception, cuts every channel (device
        fault with the error) and returns OFF for each (as CTL-005 for one controller)."""
        try:
            if len(samples) != len(self.channels):
                raise ValueError(f"samples: {len(samples)} given, one per channel "
                                 f"({len(self.channels)})")
            return self._step(samples)
        except Exception as exc:  # noqa: BLE001 - any failure: every output off
            reason = f"coordinator: {described(exc)}"[:200]
            for ctl in self.channels:
                try:
                    if ctl.state != "fault":
                        ctl.report_fault(FaultCode.DEVICE_FAULT, reason)
                except Exception:  # noqa: BLE001 - the command below is OFF regardless
                    pass
            self._seen = [len(ctl.faults) for ctl in self.channels]
            return tuple(OFF for _ in self.channels)

    def _step(self, samples: Sequence[Sample | None]) -> tuple[Command, ...]:
        chans = self.channels
        commands = [ctl.step(s) for ctl, s in zip(chans, samples)]
        readings = [admit(s, ctl.device.sensor_max_ua, ctl.device.sensor_max_mv)
                    if s is not None else None for ctl, s in zip(chans, samples)]
        cut_all = ""
        for k, ctl in enumerate(chans):  # CH-003 first: the most specific reason
            faults = ctl.faults
            for rec in faults[self._seen[k]:]:
                if rec.code in SHARED_STAGE and not cut_all:
                    cut_all = f"channel {k + 1}: {rec.code.value} ({SHARED_STAGE[rec.code]})"
            self._seen[k] = len(faults)
            # a channel in fault no longer judges its own samples: a leak there (current
            # with its output off, once settled) may come from the common rail (CH-003)
            r = readings[k]
            if ctl.state != "fault" or r is None or faults[0].code in UNTRUSTED_SENSOR:
                self._off_since[k] = -1
                continue
            if self._off_since[k] < 0:
                self._off_since[k] = r[0]
            off_for = r[0] - self._off_since[k]
            if (off_for >= ctl.supervision.leak_settle_ms and abs(r[1]) > ctl.zero_tolerance_ua
                    and not cut_all):
                cut_all = (f"channel {k + 1}: leak: {r[1]} uA flowing with its output off in "
                           f"fault for {off_for} ms ({SHARED_STAGE[FaultCode.LEAK]})")
        # CH-001: the measured total of the plausible readings (an implausible one is its
        # channel's own SUP-004 fault), as pulse amplitudes while a channel is enabled
        total = 0
        for ctl, r in zip(chans, readings):
            if r is not None:
                cmd = ctl.command
                total += abs(amplitude_ua(r[1], cmd.duty_permille)) if cmd.enabled else abs(r[1])
        self.total_ua = total
        self.total_peak_ua = max(self.total_peak_ua, total)
        if total > self.limits.total_trip_ua and not cut_all:
            cut_all = (f"device total {total} uA above the total trip at "
                       f"{self.limits.total_trip_ua} uA")
        if cut_all:
            for k, ctl in enumerate(chans):
                if ctl.state != "fault":
                    ctl.report_fault(FaultCode.DEVICE_FAULT, cut_all)
                    commands[k] = ctl.command
                self._seen[k] = len(ctl.faults)
        return tuple(commands)

    def faults(self) -> list[tuple[int, FaultRecord]]:
        """Every channel's faults, as (channel number from 1, record)."""
        return [(k + 1, rec) for k, ctl in enumerate(self.channels) for rec in ctl.faults]
