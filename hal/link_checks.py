"""What the host makes of what a device says (specs/protocol.md, "What the host checks"):
IDENTIFY checked against the host's needs at connect, and every SAMPLE status, relay value
and FAULT frame held to the protocol and to what the device advertised.

Pure functions and a small judge, free of pyserial and cobs. Nothing here raises on a
value a device sends: values are data, and a bad one becomes a refusal at connect (a list
of problems) or a device fault with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from iontocore.limits import DEVICE_RANGES, DeviceLimits

from . import protocol as p

WATCHDOG_MIN_TICKS = 3
"""The device watchdog must allow at least this many host ticks (one late tick must not
trip it)."""


def identity_problems(ident: p.Identity, host_tick_ms: int, sample_deadline_ms: int) -> list[str]:
    """Every IDENTIFY field the host cannot work with, as 'field = value: allowed ...'.

    The device limits must be ones the core accepts (limits.DEVICE_RANGES); the watchdog
    must cut no later than the host's own sample deadline and allow WATCHDOG_MIN_TICKS
    host ticks; the device must tick at least as often as the host (a lockstep device at
    exactly the host's tick, since each COMMAND advances its clock one device tick)."""
    out: list[str] = []

    def rng(name: str, value: int, lo: int, hi: int, unit: str) -> None:
        if not lo <= value <= hi:
            out.append(f"{name} = {value}: allowed {lo}..{hi} {unit}")

    for name in ("max_current_ua", "trip_ua", "compliance_mv", "max_slew_ua_per_s", "dead_time_ms"):
        lo, hi, unit, _ = DEVICE_RANGES[name]
        rng(name, getattr(ident, name), lo, hi, unit)
    if ident.trip_ua <= ident.max_current_ua:
        out.append(f"trip_ua = {ident.trip_ua}: allowed above max_current_ua "
                   f"({ident.max_current_ua} uA)")
    rng("watchdog_ms", ident.watchdog_ms, WATCHDOG_MIN_TICKS * host_tick_ms, sample_deadline_ms,
        f"ms ({WATCHDOG_MIN_TICKS} host ticks of {host_tick_ms} ms .. the host's sample deadline)")
    if ident.capabilities & p.CAP_LOCKSTEP:
        if ident.tick_ms != host_tick_ms:
            out.append(f"tick_ms = {ident.tick_ms}: allowed only the host's tick ({host_tick_ms} ms) "
                       "for a lockstep device")
    else:
        rng("tick_ms", ident.tick_ms, 1, host_tick_ms, f"ms (at most the host's tick)")
    if ident.capabilities & ~p.CAP_ALL:
        out.append(f"capabilities = {ident.capabilities:#04x}: unknown bits "
                   f"{ident.capabilities & ~p.CAP_ALL:#04x} (allowed 0x00..{p.CAP_ALL:#04x})")
    try:
        p.encode_name(ident.name)
    except ValueError:
        shown = ident.name_raw.hex(" ") if ident.name_raw else repr(ident.name)
        out.append(f"name = {shown}: allowed 1 to {p.NAME_BYTES} printable ASCII characters, "
                   "padded with 0x00")
    return out


def supply_problems(supply_min_mv: int, supply_max_mv: int) -> list[str]:
    """Every SUPPLY_INFO field the host cannot work with (LINK-010): the floor must be one
    the core accepts and monitors (1..200000 mV), the sensor range above it."""
    out: list[str] = []
    lo, hi, unit, _ = DEVICE_RANGES["supply_min_mv"]
    if not max(lo, 1) <= supply_min_mv <= hi:
        out.append(f"supply_min_mv = {supply_min_mv}: allowed {max(lo, 1)}..{hi} {unit}")
    lo, hi, unit, _ = DEVICE_RANGES["supply_max_mv"]
    if not lo <= supply_max_mv <= hi or supply_max_mv <= supply_min_mv:
        out.append(f"supply_max_mv = {supply_max_mv}: allowed {lo}..{hi} {unit}, above "
                   f"supply_min_mv ({supply_min_mv} mV)")
    return out


def device_limits(ident: p.Identity, supply: tuple[int, int] | None = None) -> DeviceLimits:
    """DeviceLimits from an accepted IDENTIFY and, for a CAP_SUPPLY device, its accepted
    SUPPLY_INFO (supply_min_mv, supply_max_mv); the other fields: defaults."""
    low, high = (0, DeviceLimits.supply_max_mv) if supply is None else supply
    return DeviceLimits(supply_min_mv=low, supply_max_mv=high, max_current_ua=ident.max_current_ua, trip_ua=ident.trip_ua,
                        compliance_mv=ident.compliance_mv,
                        max_slew_ua_per_s=ident.max_slew_ua_per_s,
                        dead_time_ms=ident.dead_time_ms,
                        reversal_allowed=bool(ident.capabilities & p.CAP_REVERSAL),
                        waveforms=frozenset({"dc", "pulsed"} if ident.capabilities & p.CAP_PULSED
                                            else {"dc"}),
                        sensor_max_ua=max(60_000, ident.trip_ua * 2),
                        sensor_max_mv=max(120_000, ident.compliance_mv * 2))


@dataclass
class Verdict:
    """A device fault found in what the device said: its reason for report_fault."""

    reason: str


class SampleJudge:
    """Holds each SAMPLE and FAULT to the protocol and to the device's IDENTIFY.

    `sample(...)` and `fault_frame(...)` return a Verdict (a device fault with its reason)
    or None. Status bits: WATCHDOG, HW_TRIP, REJECTED, reserved bits, and RAMP_DOWN
    without a request are faults; LIMITED is counted (the device's second layer acted);
    ON must agree with the command answered (an OFF command answered 'on', or an ON
    command answered 'off' without a latch bit, is a fault) and with the current: 'off'
    with more than `off_current_ua` flowing on `off_current_samples` samples in a row is
    a fault (one sample of grace for a measurement taken before the command applied)."""

    def __init__(self, ident: p.Identity, off_current_ua: int = 50, off_current_samples: int = 2) -> None:
        self.relay_feedback = bool(ident.capabilities & p.CAP_RELAY)
        self.off_current_ua = off_current_ua
        self.off_current_samples = off_current_samples
        self.ramp_requested = False
        self.limited = 0
        self._off_flowing = 0

    def on_as_commanded(self) -> None:
        """The usual answer (status ON only, to an ON command, a relay value as advertised):
        nothing to judge; the count of 'off while flowing' answers starts again."""
        self._off_flowing = 0

    def sample(self, seq: int, enabled: bool, current_ua: int, relay: int, status: int) -> Verdict | None:
        if status & p.STATUS_RESERVED:
            return Verdict(f"SAMPLE seq {seq}: status {status:#04x} has reserved bits "
                           f"{status & p.STATUS_RESERVED:#04x} set")
        if status & p.STATUS_WATCHDOG:
            return Verdict(f"device watchdog tripped (SAMPLE seq {seq} status {status:#04x})")
        if status & p.STATUS_HW_TRIP:
            return Verdict(f"device hardware trip (SAMPLE seq {seq} status {status:#04x})")
        if status & p.STATUS_REJECTED:
            return Verdict(f"device rejected COMMAND seq {seq} as out of range")
        if status & p.STATUS_RAMP_DOWN and not self.ramp_requested:
            return Verdict(f"device ramping down unrequested (SAMPLE seq {seq})")
        if self.relay_feedback:
            if relay not in (-1, 0, 1):
                return Verdict(f"SAMPLE seq {seq}: relay = {relay}, but the device advertised "
                               "relay feedback (allowed -1, 0, +1)")
        elif relay != p.RELAY_NONE:
            return Verdict(f"SAMPLE seq {seq}: relay = {relay}, but the device advertised no "
                           f"relay feedback (allowed {p.RELAY_NONE})")
        if status & p.STATUS_LIMITED:
            self.limited += 1
        on = bool(status & p.STATUS_ON)
        if on and not enabled:
            return Verdict(f"device reports its output on after an OFF command (SAMPLE seq {seq})")
        if enabled and not on and not status & p.STATUS_RAMP_DOWN:
            return Verdict(f"device reports its output off while commanded on, no reason given "
                           f"(SAMPLE seq {seq})")
        if not on and abs(current_ua) > self.off_current_ua:
            self._off_flowing += 1
            if self._off_flowing >= self.off_current_samples:
                return Verdict(f"device reports its output off while {current_ua} uA flow "
                               f"({self._off_flowing} samples)")
        else:
            self._off_flowing = 0
        return None

    def fault_frame(self, seq: int, code: int, t_ms: int) -> Verdict | None:
        """A FAULT frame: RAMPED_DOWN after a request is expected; anything else is a fault."""
        if code == p.DeviceFault.RAMPED_DOWN and self.ramp_requested:
            return None
        what = {p.DeviceFault.WATCHDOG: "device watchdog tripped",
                p.DeviceFault.HW_TRIP: "device hardware trip",
                p.DeviceFault.RAMPED_DOWN: "device ramped down unrequested"}.get(
                    code, p.fault_name(code))  # type: ignore[call-overload]
        return Verdict(f"{what} (FAULT code {code}, seq {seq}, device t {t_ms} ms)")
