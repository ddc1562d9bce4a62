"""Conformance checks for a device's own obligations (specs/protocol.md, "Device
obligations", LINK-008), over its real port, speaking the wire protocol directly (so it
can send what a correct host never would). Needs pyserial and cobs.

A maker runs it against their firmware, with a resistive test load (1-6 kOhm) on the
output, in a test file of their own:

    from iontocore.hal.device_checks import DeviceSpec, device_checks

    def test_my_device_meets_its_obligations():
        device_checks(DeviceSpec("/dev/ttyUSB0", load_ohm=1000))

Each check raises Violation naming what the device did. The checks: IDENTIFY acceptable to
a host ticking at the device's tick; out-of-range fields rejected and not applied; a
duplicate COMMAND neither applied nor answered; rises limited to the slew; |set-point|
clamped to the maximum; polarity changed only after the dead time at zero; RAMP_DOWN at
the slew, answered by FAULT(RAMPED_DOWN) with its seq, latched until an OFF command;
RESET result codes; the watchdog on wall time (HEARTBEATs do not re-arm it), answered by
FAULT(WATCHDOG) with seq 0 and latched until an OFF command; supply reporting as advertised
(SUPPLY_INFO and SAMPLE_SUPPLY frames, LINK-010); a device advertising a marker output answers
every MARKER with a MARKER_ACK (same seq) before the answer to the next COMMAND, the
output unaffected, and MARKERs do not re-arm its watchdog (LINK-011); a device advertising
CHANNELS reports 2..8 channels, answers every COMMAND_CH with one SAMPLE_CH of its channel,
every channel each tick, and a command to one channel never moves another (LINK-012; a
single-channel device is accepted as it is, and the other checks run on channel 1). Sleeps happen only where a
wall-clock obligation (the watchdog) or a real-time device's own tick makes them
unavoidable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import serial

from . import protocol as p
from .conformance import Violation
from .link_checks import identity_problems


@dataclass
class DeviceSpec:
    url: str
    load_ohm: int = 2000
    test_ua: int = 5_000
    """Level the checks drive (keep it safe for the test load)."""
    tolerance_ua: int = 100
    tolerance_permille: int = 50
    settle_ticks: int = 5
    zero_tolerance_ua: int = 20
    hang_s: float = 2.0
    """A reply that takes longer than this is a hang, not a slow device."""
    check_clamp: bool = True
    """Ramp to the device maximum and beyond (needs max_current x load below compliance)."""
    watchdog_grace_ms: int = 0
    """Extra wall time the device's watchdog takes beyond its watchdog_ms: 0 for a real device;
    a test emulator given a grace (so that a busy host stalling past 100 ms does not trip it
    during the other checks) names the same grace here."""


@dataclass
class Wire:
    """A raw protocol client: what a host does, and what it must never do."""

    spec: DeviceSpec
    port: serial.Serial = field(init=False)
    seq: int = 0

    def __post_init__(self) -> None:
        self.port = serial.serial_for_url(self.spec.url, baudrate=115_200, timeout=0.005)
        self.decoder = p.Decoder()
        self.frames: list[p.Frame] = []
        self.faults: list[p.Frame] = []
        self.skipped: list[p.Frame] = []     # frames nobody waited for
        self.answers: list[p.Frame] = []     # the SAMPLE(_SUPPLY) frames answering COMMANDs
        self.ident = self.hello()
        self.lockstep = bool(self.ident.capabilities & p.CAP_LOCKSTEP)
        self.step_ua = -(-self.ident.max_slew_ua_per_s * self.ident.tick_ms // 1000)

    def close(self) -> None:
        try:
            self.command(0, 0)
        finally:
            self.port.close()

    def send(self, msg: p.MsgType, *fields: int | bytes, seq: int | None = None) -> int:
        if seq is None:
            self.seq = p.next_seq(self.seq)
            seq = self.seq
        self.port.write(p.encode(msg, seq, *fields))
        return seq

    def wait(self, msg: p.MsgType, seq: int, what: str) -> p.Frame:
        end = time.monotonic() + self.spec.hang_s
        while True:
            for i, frame in enumerate(self.frames):
                if (frame.type is msg or (msg is p.MsgType.SAMPLE and frame.type in p.SAMPLE_TYPES)) \
                        and frame.seq == seq:
                    self.skipped += self.frames[:i]
                    del self.frames[: i + 1]
                    return frame
            if time.monotonic() > end:
                raise Violation(f"no {msg.name} with seq {seq} within {self.spec.hang_s} s ({what})")
            for frame in self.decoder.feed(self.port.read(max(1, self.port.in_waiting))):
                (self.faults if frame.type is p.MsgType.FAULT else self.frames).append(frame)

    def hello(self) -> p.Identity:
        seq = self.send(p.MsgType.HELLO)
        ident = p.parse_identity(self.wait(p.MsgType.IDENTIFY, seq, "HELLO"))
        problems = identity_problems(ident, ident.tick_ms, max(100, ident.watchdog_ms))
        if problems:
            raise Violation("IDENTIFY: " + "; ".join(problems))
        return ident

    def command(self, setpoint: int, enabled: int, duty: int = 1000) -> tuple[int, int, int]:
        """(t_ms, current_ua, status) of the SAMPLE answering this COMMAND."""
        if not self.lockstep:
            time.sleep(self.ident.tick_ms / 1000)  # a real-time device ticks on its own
        seq = self.send(p.MsgType.COMMAND, setpoint, enabled, duty)
        frame = self.wait(p.MsgType.SAMPLE, seq, "COMMAND")
        self.answers.append(frame)
        t, current, _v, _relay, status = frame.fields[:5]
        return int(t), int(current), int(status)

    def hold(self, setpoint: int, enabled: int, ticks: int) -> list[tuple[int, int, int]]:
        return [self.command(setpoint, enabled) for _ in range(ticks)]

    def fault(self, code: int, seq: int, what: str) -> None:
        end = time.monotonic() + self.spec.hang_s
        while not any(f.fields[0] == code and f.seq == seq for f in self.faults):
            if time.monotonic() > end:
                got = [(p.fault_name(int(f.fields[0])), f.seq) for f in self.faults]
                raise Violation(f"no FAULT {p.fault_name(code)} with seq {seq} ({what}); got {got}")
            for frame in self.decoder.feed(self.port.read(max(1, self.port.in_waiting))):
                (self.faults if frame.type is p.MsgType.FAULT else self.frames).append(frame)


def _near(spec: DeviceSpec, got: int, want: int, what: str) -> None:
    tol = max(spec.tolerance_ua, abs(want) * spec.tolerance_permille // 1000)
    if abs(got - want) > tol:
        raise Violation(f"{what}: measured {got} uA, expected {want} uA (+-{tol})")


def _ramp_ticks(wire: Wire, ua: int) -> int:
    return -(-abs(ua) // wire.step_ua) + wire.spec.settle_ticks


def _on(wire: Wire, ua: int) -> tuple[int, int, int]:
    """Ramp to `ua` (from off, after a dead time in case the polarity changes) and return
    the last answer."""
    dead = wire.ident.dead_time_ms // wire.ident.tick_ms + 1
    return wire.hold(ua, 1, dead + _ramp_ticks(wire, ua))[-1]


def check_rejects(wire: Wire) -> None:
    spec, ua = wire.spec, wire.spec.test_ua
    wire.hold(0, 0, 2)
    _on(wire, ua)
    bad = [(ua, 7, 1000, "enabled = 7"), (ua, 1, 5000, "duty 5000"), (ua, 1, 0, "duty 0")]
    if not wire.ident.capabilities & p.CAP_PULSED:
        bad.append((ua, 1, 500, "duty 500 without the pulsed capability"))
    if not wire.ident.capabilities & p.CAP_REVERSAL:
        bad.append((-ua, 1, 1000, "a negative set-point without the reversal capability"))
    for setpoint, enabled, duty, what in bad:
        _t, current, status = wire.command(setpoint, enabled, duty)
        if not status & p.STATUS_REJECTED:
            raise Violation(f"COMMAND with {what} not rejected (status {status:#04x})")
        _near(spec, current, ua, f"after a rejected COMMAND with {what} (must not be applied)")
    wire.hold(0, 0, 2)


def check_duplicate(wire: Wire) -> None:
    wire.hold(0, 0, 2)
    seq = p.next_seq(wire.seq)
    frame = p.command(seq, 0, False, 1000)
    wire.port.write(frame + frame)
    wire.seq = seq
    wire.wait(p.MsgType.SAMPLE, seq, "the first copy of a duplicated COMMAND")
    wire.skipped.clear()
    wire.command(0, 0)                         # answered in order: any second copy came before
    if any(f.type in p.SAMPLE_TYPES and f.seq == seq for f in wire.skipped):
        raise Violation(f"a duplicated COMMAND (seq {seq}) was answered twice")


def check_slew_and_clamp(wire: Wire) -> None:
    spec, ident = wire.spec, wire.ident
    wire.hold(0, 0, 2)
    target = ident.max_current_ua + ident.max_current_ua // 10 if spec.check_clamp else spec.test_ua
    answers = wire.hold(target, 1, _ramp_ticks(wire, target))
    if not answers[0][2] & p.STATUS_LIMITED:
        raise Violation(f"a step to {target} uA in one COMMAND was not reported LIMITED")
    prev_t, prev_i = answers[0][0], 0
    for t, current, _status in answers:
        ticks = max(1, -(-((t - prev_t) & 0xFFFFFFFF) // ident.tick_ms))
        allowed = ticks * wire.step_ua + max(spec.tolerance_ua,
                                             abs(current) * spec.tolerance_permille // 1000)
        if current - prev_i > allowed:
            raise Violation(f"the current rose by {current - prev_i} uA in {ticks} device tick(s): "
                            f"allowed {allowed} uA at {ident.max_slew_ua_per_s} uA/s")
        prev_t, prev_i = t, current
    if spec.check_clamp:
        tol = max(spec.tolerance_ua, ident.max_current_ua * spec.tolerance_permille // 1000)
        if answers[-1][1] > ident.max_current_ua + tol:
            raise Violation(f"{answers[-1][1]} uA flow on a {target} uA command: not clamped to "
                            f"the device maximum {ident.max_current_ua} uA")
        if not answers[-1][2] & p.STATUS_LIMITED:
            raise Violation("a command above the device maximum was not reported LIMITED")
    else:
        _near(spec, answers[-1][1], target, "after the ramp")
    wire.hold(0, 0, 2)


def check_dead_time(wire: Wire) -> None:
    if not wire.ident.capabilities & p.CAP_REVERSAL:
        return
    spec, ua, dead = wire.spec, wire.spec.test_ua, wire.ident.dead_time_ms
    wire.hold(0, 0, 2)
    t0 = _on(wire, ua)[0]
    ticks = dead // wire.ident.tick_ms + _ramp_ticks(wire, ua) + spec.settle_ticks
    answers = wire.hold(-ua, 1, ticks)
    for t, current, _status in answers:
        if (t - t0) & 0xFFFFFFFF < dead and current < -spec.tolerance_ua:
            raise Violation(f"{current} uA reversed {(t - t0) & 0xFFFFFFFF} ms after the reversal was "
                            f"asked: the dead time at zero is {dead} ms")
    _near(spec, answers[-1][1], -ua, "after the dead time and the ramp")
    wire.hold(0, 0, 2)


def check_ramp_down(wire: Wire) -> None:
    spec, ua = wire.spec, wire.spec.test_ua
    wire.hold(0, 0, 2)
    _on(wire, ua)
    seq = wire.send(p.MsgType.RAMP_DOWN)
    answers = wire.hold(ua, 1, _ramp_ticks(wire, ua) + spec.settle_ticks)
    if any(not s & p.STATUS_RAMP_DOWN for _t, _i, s in answers):
        raise Violation("status RAMP_DOWN not set while the requested ramp-down runs and is latched")
    if answers[0][1] < ua - wire.step_ua * 2 - spec.tolerance_ua:
        raise Violation(f"RAMP_DOWN fell from {ua} to {answers[0][1]} uA in one tick: not at the slew")
    if abs(answers[-1][1]) > spec.zero_tolerance_ua:
        raise Violation(f"{answers[-1][1]} uA still flow after the ramp-down time")
    wire.fault(p.DeviceFault.RAMPED_DOWN, seq, "after RAMP_DOWN")
    _t, current, status = wire.command(ua, 1)
    if abs(current) > spec.zero_tolerance_ua or status & p.STATUS_ON:
        raise Violation("an ON command after a ramp-down turned the output on without an OFF first")
    wire.hold(0, 0, 1)
    _near(spec, _on(wire, ua)[1], ua, "after the OFF command that clears the ramp-down latch")
    wire.hold(0, 0, 2)


def check_reset(wire: Wire) -> None:
    _on(wire, wire.spec.test_ua)
    for what, want, when in ((1, p.RESET_REFUSED, "with the output on"),
                             (9, p.RESET_UNKNOWN, "for an unknown `what`")):
        seq = wire.send(p.MsgType.RESET, what)
        got = wire.wait(p.MsgType.RESET_ACK, seq, "RESET").fields[0]
        if got != want:
            raise Violation(f"RESET({what}) {when} answered {got!r}, expected {want}")
    wire.hold(0, 0, 2)
    seq = wire.send(p.MsgType.RESET, 1)
    if (got := wire.wait(p.MsgType.RESET_ACK, seq, "RESET").fields[0]) != p.RESET_DONE:
        raise Violation(f"RESET(1) with the output off answered {got!r}, expected {p.RESET_DONE}")


def check_watchdog(wire: Wire) -> None:
    """No COMMAND for 3 watchdog periods of wall time (HEARTBEATs only): off, FAULT(1) seq 0,
    latched until an OFF command."""
    spec, ua, wd = wire.spec, wire.spec.test_ua, wire.ident.watchdog_ms
    wire.hold(0, 0, 2)
    _on(wire, ua)
    end = time.monotonic() + (3 * wd + spec.watchdog_grace_ms) / 1000
    markers = bool(wire.ident.capabilities & p.CAP_MARKER)
    n = 0
    while time.monotonic() < end:             # wall time must pass: bounded sleeps
        n += 1
        if markers and n % 2:                 # LINK-011: a MARKER does not re-arm it either
            seq = wire.send(p.MsgType.MARKER, n, n, 0, p.MARKER_KINDS["gap"])
            wire.wait(p.MsgType.MARKER_ACK, seq, "MARKER")
        else:
            seq = wire.send(p.MsgType.HEARTBEAT)
            wire.wait(p.MsgType.HEARTBEAT_ACK, seq, "HEARTBEAT")
        time.sleep(wd / 4000)
    wire.fault(p.DeviceFault.WATCHDOG, p.SEQ_UNSOLICITED, f"{3 * wd} ms without a COMMAND")
    for _t, current, status in wire.hold(ua, 1, spec.settle_ticks):
        if abs(current) > spec.zero_tolerance_ua or not status & p.STATUS_WATCHDOG:
            raise Violation(f"after a watchdog trip an ON command gave {current} uA, status "
                            f"{status:#04x}: must stay off and latched until an OFF command")
    wire.hold(0, 0, 1)
    _near(spec, _on(wire, ua)[1], ua, "after the OFF command that clears the watchdog latch")


def check_supply(wire: Wire) -> None:
    """LINK-010: a device advertising SUPPLY answers SUPPLY_QUERY with a floor and range the
    host accepts and every COMMAND with a SAMPLE_SUPPLY whose reading is SUPPLY_NONE or in
    its range; a device without it answers with plain SAMPLEs only (accepted as it is)."""
    from .link_checks import supply_problems

    wire.hold(0, 0, 2)
    _on(wire, wire.spec.test_ua)
    wire.hold(0, 0, 2)
    if not wire.ident.capabilities & p.CAP_SUPPLY:
        wrong = [f for f in wire.answers if f.type is not p.MsgType.SAMPLE]
        if wrong:
            raise Violation(f"{wrong[0].type.name} (seq {wrong[0].seq}) from a device that did "
                            "not advertise supply reporting")
        return
    seq = wire.send(p.MsgType.SUPPLY_QUERY)
    lo, hi = (int(x) for x in wire.wait(p.MsgType.SUPPLY_INFO, seq, "SUPPLY_QUERY").fields)
    problems = supply_problems(lo, hi)
    if problems:
        raise Violation("SUPPLY_INFO: " + "; ".join(problems))
    for frame in wire.answers:
        if frame.type is not p.MsgType.SAMPLE_SUPPLY:
            raise Violation(f"a plain {frame.type.name} (seq {frame.seq}) from a device that "
                            "advertised supply reporting")
        mv = int(frame.fields[5])
        if mv != p.SUPPLY_NONE and mv > hi:
            raise Violation(f"SAMPLE_SUPPLY seq {frame.seq}: supply_mv = {mv}: allowed 0..{hi} "
                            f"mV (its SUPPLY_INFO) or {p.SUPPLY_NONE:#x} (no reading)")


def check_markers(wire: Wire) -> None:
    """LINK-011: a device advertising MARKER answers each MARKER, of every kind, with one
    MARKER_ACK carrying its seq before the SAMPLE answering the next COMMAND, and the output
    carries on as commanded; a device without it is accepted as it is (a host never sends
    it one)."""
    if not wire.ident.capabilities & p.CAP_MARKER:
        return
    spec, ua = wire.spec, wire.spec.test_ua
    wire.hold(0, 0, 2)
    _on(wire, ua)
    for i, (kind, code) in enumerate(p.MARKER_KINDS.items(), start=1):
        wire.skipped.clear()
        seq = wire.send(p.MsgType.MARKER, 1_000 * i, i, i // 2, code)
        _t, current, _status = wire.command(ua, 1)
        got = [(f.type.name, f.seq) for f in wire.skipped]
        if got.count(("MARKER_ACK", seq)) != 1:
            raise Violation(f"MARKER seq {seq} ({kind}) not answered by exactly one MARKER_ACK "
                            f"with its seq before the SAMPLE answering the next COMMAND; got {got}")
        _near(spec, current, ua, f"after MARKER seq {seq} (a marker must not change the output)")
    wire.hold(0, 0, 2)


def check_channels(wire: Wire) -> None:
    """LINK-012: a device advertising CHANNELS answers CHANNELS_QUERY with 2..8; each tick one
    COMMAND_CH per channel is answered by one SAMPLE_CH with its seq and channel; driving one
    channel leaves every other at zero (isolation); plain COMMANDs drive channel 1 only; each
    channel's watchdog trips without its own COMMAND_CH although the others are commanded.
    A device without it is accepted as it is."""
    if not wire.ident.capabilities & p.CAP_CHANNELS:
        return
    spec, ua = wire.spec, wire.spec.test_ua
    wire.hold(0, 0, 2)
    seq = wire.send(p.MsgType.CHANNELS_QUERY)
    n = int(wire.wait(p.MsgType.CHANNELS_INFO, seq, "CHANNELS_QUERY").fields[0])
    if not p.CHANNELS_MIN <= n <= p.CHANNELS_MAX:
        raise Violation(f"CHANNELS_INFO: channels = {n}: allowed {p.CHANNELS_MIN}..{p.CHANNELS_MAX}")

    def tick(on: int) -> list[int]:
        """One tick: channel `on` (from 1) at test_ua, the others off; the currents."""
        if not wire.lockstep:
            time.sleep(wire.ident.tick_ms / 1000)
        seqs = [wire.send(p.MsgType.COMMAND_CH, ch, ua if ch == on else 0, int(ch == on), 1000)
                for ch in range(1, n + 1)]
        currents = []
        for ch, s in zip(range(1, n + 1), seqs):
            frame = wire.wait(p.MsgType.SAMPLE_CH, s, f"COMMAND_CH to channel {ch} of {n}: every "
                              "channel answers each tick")
            if int(frame.fields[0]) != ch:
                raise Violation(f"SAMPLE_CH seq {s}: channel = {int(frame.fields[0])}: allowed {ch} "
                                f"(the channel its COMMAND_CH addressed)")
            currents.append(int(frame.fields[2]))
        return currents

    for on in range(1, n + 1):
        for _ in range(_ramp_ticks(wire, ua) + wire.ident.dead_time_ms // wire.ident.tick_ms + 1):
            currents = tick(on)
            for ch, current in enumerate(currents, start=1):
                if ch != on and abs(current) > spec.zero_tolerance_ua:
                    raise Violation(f"channel {ch}: {current} uA flow while only channel {on} is "
                                    "commanded on: a command to one channel moved another")
        _near(spec, currents[on - 1], ua, f"channel {on} commanded alone")
        for _ in range(2):
            tick(0)
    # plain COMMAND is channel 1's only: a single-channel host would drive the others unseen
    for _ in range(_ramp_ticks(wire, ua) + 1):
        wire.command(ua, 1)
    # every channel now commanded to the same current: one that was off can only have risen
    # by one slew step; one the plain COMMANDs drove is there already
    seqs = [wire.send(p.MsgType.COMMAND_CH, ch, ua, 1, 1000) for ch in range(1, n + 1)]
    allowed = wire.step_ua + spec.zero_tolerance_ua
    for ch, s in zip(range(1, n + 1), seqs):
        current = int(wire.wait(p.MsgType.SAMPLE_CH, s, "COMMAND_CH after plain COMMANDs").fields[2])
        if ch > 1 and abs(current) > allowed:
            raise Violation(f"channel {ch}: {current} uA after plain COMMANDs only, one tick after "
                            f"its first COMMAND_CH: allowed at most {allowed} uA (one slew step; "
                            "a plain COMMAND is channel 1's only)")
    for _ in range(2):
        tick(0)
    # each channel's watchdog is its own, re-armed only by its own COMMAND_CH
    wd = wire.ident.watchdog_ms
    for k in range(2, n + 1):
        for _ in range(_ramp_ticks(wire, ua) + 1):
            tick(k)
        others = [ch for ch in range(1, n + 1) if ch != k]
        end = time.monotonic() + (3 * wd + spec.watchdog_grace_ms) / 1000
        while time.monotonic() < end:         # wall time must pass: bounded sleeps
            sent = [(ch, wire.send(p.MsgType.COMMAND_CH, ch, 0, 0, 1000)) for ch in others]
            for ch, s in sent:
                wire.wait(p.MsgType.SAMPLE_CH, s, f"COMMAND_CH to channel {ch}")
            time.sleep(wd / 4000)
        current = tick(k)[k - 1]              # an ON command must find channel k off, latched
        if abs(current) > spec.zero_tolerance_ua:
            raise Violation(f"channel {k}: {current} uA after {3 * wd} ms without a COMMAND_CH "
                            f"for it (the others commanded): allowed at most "
                            f"{spec.zero_tolerance_ua} uA (each channel's own watchdog)")
        for _ in range(2):
            tick(0)
    wire.hold(0, 0, 2)


CHECKS = (check_rejects, check_duplicate, check_slew_and_clamp, check_dead_time,
          check_ramp_down, check_reset, check_watchdog, check_supply, check_markers,
          check_channels)


def device_checks(spec: DeviceSpec) -> None:
    """Run every check against the device at `spec.url`; the output is off afterwards."""
    wire = Wire(spec)
    try:
        for check in CHECKS:
            check(wire)
    finally:
        wire.close()
