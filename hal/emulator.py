"""A device emulator: the simulated output stage behind a pseudo-terminal, speaking
specs/protocol.md, with the device-side obligations a maker's firmware must meet
(hal.device_rules: field checks, clamp, slew, dead time, ramp-down latch, watchdog).

- Lockstep (`lockstep=True`): each COMMAND advances the simulated clock by one tick and is
  answered by the SAMPLE measured at the end of it, so runs need not wait in real time.
  Otherwise the simulator ticks on the wall clock and a COMMAND is answered with the
  newest SAMPLE.
- Watchdog (wall clock, while the output is on): no valid COMMAND for `watchdog_ms` turns
  the output off, reports FAULT(WATCHDOG) (seq 0) and keeps it off until an OFF command.
- Hardware trip (the simulator's): latched until RESET (accepted with the output commanded
  off); reported as FAULT(HW_TRIP) (seq 0).
- RAMP_DOWN: the output ramps down at the device's slew, one step per device tick (in
  lockstep: per COMMAND, which keeps being answered), then FAULT(RAMPED_DOWN) with the
  RAMP_DOWN's seq; latched until an OFF command.
- The device clock starts at `t0_ms` (u32, wraps modulo 2**32 as the protocol says).
- Markers (LINK-011, `markers=True`): advertises the MARKER capability, answers each
  MARKER with MARKER_ACK (same seq) and records it in `markers` (with the device clock and
  the number of COMMANDs applied before it: in lockstep, its tick) and passes it to
  `on_marker`, e.g. to drive a simulated recorder line. Without the capability it does not
  know the message (no answer), but still records it (`acked` False), so a test catches a
  host that sends one.
- Channels (LINK-012, `channels=N`, N >= 2): advertises CHANNELS, answers CHANNELS_QUERY
  with N and serves N outputs, each its own simulator (channel k: the seed + k - 1; the
  simulator faults on channel 1 only) under its own device rules and watchdog. A COMMAND_CH
  moves its channel only (in lockstep: one tick of that channel) and is answered with that
  channel's SAMPLE_CH; one for a channel it does not have is rejected (SAMPLE_CH of that
  number, status REJECTED). Plain COMMAND, RESET and RAMP_DOWN are channel 1's.
- Link faults for tests: drop, corrupt, delay, garbage and duplicate frames, starting at a
  simulated time and lasting a wall-clock time (in lockstep a dropped link stops the clock).
"""

from __future__ import annotations

import os
import random
import select
from dataclasses import dataclass, replace
import threading
import time
import tty
from typing import Callable, NamedTuple

from iontocore.interface import Command, Sample

from . import protocol as p
from .device_rules import APPLIED, DUPLICATE, RAMPED, DeviceRules
from .link_faults import LINK_FAULTS, LinkFault, parse_link_fault
from .sim import SUPPLY_FLOOR_MV, SUPPLY_MAX_MV, SimulatedDevice

__all__ = ["Emulator", "LINK_FAULTS", "LinkFault", "ReceivedMarker", "parse_link_fault"]


class ReceivedMarker(NamedTuple):
    """A MARKER frame as the emulator received it (LINK-011)."""

    seq: int
    t_ms: int          # the simulator's clock when it arrived
    commands: int      # COMMANDs applied before it (in lockstep: the device's tick count)
    session_ms: int
    step: int
    pulse: int
    kind: str          # the kind's name, or 'unknown N' for a code outside MARKER_KINDS
    acked: bool        # answered with MARKER_ACK (the device advertises MARKER)


@dataclass
class Output:
    """One output channel of the emulated device: its simulator, its device rules, its
    newest measurement and its watchdog's last valid command (wall clock)."""

    sim: SimulatedDevice
    rules: DeviceRules
    latest: Sample | None
    last_command: float
    hw_reported: bool = False


class Emulator:
    """Serves one simulated device on a pty. `port` is the path a host opens."""

    def __init__(self, sim: SimulatedDevice, *, lockstep: bool = True, watchdog_ms: int = 100,
                 identity: p.Identity | None = None, link_faults: list[LinkFault] | None = None,
                 seed: int = 0, t0_ms: int = 0, watchdog_grace_ms: int = 0,
                 delay_ms: int = 50, markers: bool = False,
                 on_marker: Callable[[ReceivedMarker], None] | None = None,
                 channels: int = 1) -> None:
        if type(channels) is not int or not (channels == 1 or p.CHANNELS_MIN <= channels <= p.CHANNELS_MAX):
            raise ValueError(f"channels = {channels!r}: allowed 1 or {p.CHANNELS_MIN}..{p.CHANNELS_MAX}")
        self.sim = sim
        self.delay_ms = delay_ms  # how late a 'delay' link fault makes each reply
        self.lockstep = lockstep
        self.identity = identity or p.Identity(
            max_current_ua=30_000, trip_ua=35_000, compliance_mv=int(sim.cfg.compliance_mv),
            max_slew_ua_per_s=2_000, watchdog_ms=watchdog_ms, tick_ms=sim.cfg.tick_ms,
            capabilities=p.CAP_REVERSAL | p.CAP_PULSED | p.CAP_RELAY | (p.CAP_LOCKSTEP if lockstep else 0)
            | (p.CAP_SUPPLY if sim.supply_mv is not None else 0)
            | (p.CAP_MARKER if markers else 0) | (p.CAP_CHANNELS if channels > 1 else 0),
            name="iontocore-emu", dead_time_ms=500)
        self.watchdog_ms = self.identity.watchdog_ms
        # Test affordance: extra wall time before the watchdog acts, for tests whose point is
        # not the watchdog, on a machine so busy that the host thread may stall longer than
        # the watchdog. The device still reports its watchdog_ms; `ionto emulate` uses none.
        self.watchdog_grace_ms = watchdog_grace_ms
        self._watchdog_limit_ms = self.watchdog_ms + watchdog_grace_ms  # when it acts
        self._relay_feedback = bool(self.identity.capabilities & p.CAP_RELAY)
        self._supply = bool(self.identity.capabilities & p.CAP_SUPPLY)
        self._marker = bool(self.identity.capabilities & p.CAP_MARKER)
        self.markers: list[ReceivedMarker] = []
        self.on_marker = on_marker
        self.channels = channels
        now = time.monotonic()
        self.outputs = [Output(sim, DeviceRules(self.identity), sim.read(), now)] + [
            Output(extra, DeviceRules(self.identity), extra.read(), now)
            for extra in (SimulatedDevice(replace(sim.cfg, seed=sim.cfg.seed + k, injections=[]))
                          for k in range(1, channels))]
        self.t0_ms = t0_ms
        self.link_faults = link_faults or []
        self._rng = random.Random(seed)
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self.master)
        self.port = os.ttyname(self._slave)
        self.decoder = p.Decoder()
        self.faults_reported: list[int] = []
        self.commands = 0
        self.rejected = 0
        self._fault_started: dict[LinkFault, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def rules(self) -> DeviceRules:
        """Channel 1's device rules (a test may replace them)."""
        return self.outputs[0].rules

    @rules.setter
    def rules(self, value: DeviceRules) -> None:
        self.outputs[0].rules = value

    @property
    def watchdog_tripped(self) -> bool:
        return any(out.rules.watchdog_tripped for out in self.outputs)

    # ------------------------------------------------------------------ running

    def start(self) -> "Emulator":
        self._thread = threading.Thread(target=self.serve, name="iontocore-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def serve(self) -> None:
        tick_s = self.sim.cfg.tick_ms / 1000
        next_tick = time.monotonic() + tick_s
        poll = select.poll()
        poll.register(self.master, select.POLLIN)
        master, lockstep, monotonic, stop = self.master, self.lockstep, time.monotonic, self._stop
        watchdog_s = self._watchdog_limit_ms / 1000
        while not stop.is_set():
            wait = 10.0 if lockstep else min(10.0, max(0.0, next_tick - monotonic()) * 1000)
            try:
                ready = poll.poll(wait)
            except (OSError, ValueError):
                return
            now = monotonic()
            for out in self.outputs:  # judged before a late command is handled:
                if now - out.last_command > watchdog_s:  # it finds the output already off
                    self._watchdog(out, now)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    return
                if not self.link_faults or not self._active("drop"):
                    for frame in self.decoder.feed(data):
                        self._handle(frame)
            if not lockstep and now >= next_tick:
                next_tick += tick_s
                for out in self.outputs:
                    self._advance(out)

    # ------------------------------------------------------------------ device behaviour

    def _t(self) -> int:
        """The device clock on the wire (u32, modular)."""
        return (self.t0_ms + self.sim.t_ms) & 0xFFFFFFFF

    def _advance(self, out: Output) -> None:
        """One device tick of one output: the rules move it, its simulator measures."""
        rules, sim = out.rules, out.sim
        if rules.tick(sim.t_ms):
            self._fault(p.DeviceFault.RAMPED_DOWN, rules.ramp_seq)
        sim.apply(Command(rules.level, rules.enabled, rules.duty))
        out.latest = sim.read()
        if sim.hw_tripped and not out.hw_reported:
            self._report_hw_trip(out)

    def _handle(self, frame: p.Frame) -> None:
        t = frame.type
        if t is p.MsgType.HELLO:
            for out in self.outputs:
                out.rules.hello()
            self._send(p.identify(frame.seq, self.identity))
        elif t is p.MsgType.COMMAND:
            self._command(self.outputs[0], frame.seq, frame.fields, None)  # type: ignore[arg-type]
        elif t is p.MsgType.COMMAND_CH:  # LINK-012: this channel only
            if self.channels == 1:
                return  # a device without the capability does not know the message
            channel = int(frame.fields[0])
            if 1 <= channel <= self.channels:
                self._command(self.outputs[channel - 1], frame.seq, frame.fields[1:], channel)  # type: ignore[arg-type]
            else:
                self.rejected += 1
                self._send(p.sample_ch(frame.seq, channel, self._t(), 0, 0, None if not
                                       self._relay_feedback else 0, p.STATUS_REJECTED, None))
        elif t is p.MsgType.CHANNELS_QUERY:
            if self.channels > 1:  # a device without the capability does not know the message
                self._send(p.encode(p.MsgType.CHANNELS_INFO, frame.seq, self.channels))
        elif t is p.MsgType.SUPPLY_QUERY:
            if self._supply:  # a device without the capability does not know the message
                self._send(p.encode(p.MsgType.SUPPLY_INFO, frame.seq, SUPPLY_FLOOR_MV,
                                    SUPPLY_MAX_MV))
        else:
            self._service(frame)

    def _command(self, out: Output, seq: int, fields: tuple[int, int, int],
                 channel: int | None) -> None:
        """A COMMAND (channel None: channel 1, answered with SAMPLE / SAMPLE_SUPPLY) or a
        COMMAND_CH for `channel` (answered with SAMPLE_CH)."""
        rules, sim = out.rules, out.sim
        setpoint, enabled, duty = fields
        was_ramping = rules.ramp not in (0, RAMPED)
        result = rules.command(seq, setpoint, enabled, duty, sim.t_ms)
        if result == DUPLICATE:
            return
        self.commands += 1
        if result == APPLIED:
            out.last_command = time.monotonic()
            if was_ramping and rules.ramp == 0:   # an OFF command ended the ramp
                self._fault(p.DeviceFault.RAMPED_DOWN, rules.ramp_seq)
        else:
            self.rejected += 1
        if self.lockstep:
            self._advance(out)
        elif result == APPLIED and not enabled:
            sim.apply(Command(0, False))     # off at once, not at the next tick
        s = out.latest
        if s is None:  # the simulator's own link-loss injection
            return
        if result == APPLIED and rules.enabled and not (rules.limited or rules.ramp
                                                        or sim.hw_tripped):
            status = p.STATUS_ON                  # the usual answer
        else:
            status = self._status(out, result != APPLIED)
        t_ms = (self.t0_ms + sim.t_ms) & 0xFFFFFFFF
        relay = s.relay if self._relay_feedback and s.relay is not None else p.RELAY_NONE
        msg, head, extra = p.MsgType.SAMPLE, (), ()  # type: tuple[p.MsgType, tuple[int, ...], tuple[int, ...]]
        if self._supply or channel is not None:  # LINK-010: the supply voltage too (a reading
            supply = s.supply_mv if self._supply else None  # it cannot pack: none)
            msg, extra = p.MsgType.SAMPLE_SUPPLY, (
                supply if type(supply) is int and 0 <= supply < p.SUPPLY_NONE else p.SUPPLY_NONE,)
        if channel is not None:  # LINK-012: its channel first
            msg, head = p.MsgType.SAMPLE_CH, (channel,)
        try:
            reply = p.encode(msg, seq, *head, t_ms, s.current_ua, s.voltage_mv, relay, status,
                             *extra)
        except Exception:  # noqa: BLE001 - garbage the simulator injects cannot be packed
            reply = p.encode(msg, seq, *head, t_ms, 0x7FFFFFFF, s.voltage_mv, relay, status,
                             *extra)
        self._send(reply)

    def _service(self, frame: p.Frame) -> None:
        """MARKER, HEARTBEAT, RESET and RAMP_DOWN (RESET and RAMP_DOWN: channel 1)."""
        t, rules = frame.type, self.rules
        if t is p.MsgType.MARKER:  # LINK-011: output it, acknowledge it (never re-arms the watchdog)
            session_ms, step, pulse, code = (int(x) for x in frame.fields)
            got = ReceivedMarker(frame.seq, self.sim.t_ms, self.commands, session_ms, step, pulse,
                                 p.MARKER_KIND_NAMES.get(code, f"unknown {code}"), self._marker)
            self.markers.append(got)
            if self._marker:  # a device without the capability does not know the message
                self._send(p.encode(p.MsgType.MARKER_ACK, frame.seq))
                if self.on_marker is not None:
                    self.on_marker(got)
        elif t is p.MsgType.HEARTBEAT:
            self._send(p.encode(p.MsgType.HEARTBEAT_ACK, frame.seq))
        elif t is p.MsgType.RESET:
            what = int(frame.fields[0])
            if what != 1:
                answer = p.RESET_UNKNOWN
            elif rules.enabled:
                answer = p.RESET_REFUSED
            else:
                self.sim.reset_trip()
                self.outputs[0].hw_reported = False
                answer = p.RESET_DONE
            self._send(p.encode(p.MsgType.RESET_ACK, frame.seq, answer))
        elif t is p.MsgType.RAMP_DOWN:
            if rules.ramp_down(frame.seq, self.sim.t_ms):
                self.sim.apply(Command(0, False))
                self._fault(p.DeviceFault.RAMPED_DOWN, frame.seq)

    def _status(self, out: Output, rejected: bool) -> int:
        rules, sim = out.rules, out.sim
        return ((p.STATUS_ON if rules.enabled and not sim.hw_tripped else 0)
                | (p.STATUS_WATCHDOG if rules.watchdog_tripped else 0)
                | (p.STATUS_HW_TRIP if sim.hw_tripped else 0)
                | (p.STATUS_RAMP_DOWN if rules.ramp else 0)
                | (p.STATUS_LIMITED if rules.limited and not rejected else 0)
                | (p.STATUS_REJECTED if rejected else 0))

    def _fault(self, code: p.DeviceFault, seq: int) -> None:
        self.faults_reported.append(code)
        self._send(p.encode(p.MsgType.FAULT, seq, code, self._t()))

    def _watchdog(self, out: Output, now: float) -> None:
        """HAL-002: no valid command for watchdog_ms while on turns the output off, latched
        (each channel its own)."""
        if (now - out.last_command) * 1000 <= self._watchdog_limit_ms:
            return
        if out.rules.trip_watchdog(out.sim.t_ms):
            out.sim.cut()
            self._fault(p.DeviceFault.WATCHDOG, p.SEQ_UNSOLICITED)

    def _report_hw_trip(self, out: Output) -> None:
        if out.sim.hw_tripped and not out.hw_reported:
            out.hw_reported = True
            self._fault(p.DeviceFault.HW_TRIP, p.SEQ_UNSOLICITED)

    # ------------------------------------------------------------------ the link

    def _active(self, kind: str) -> bool:
        for fault in self.link_faults:
            if fault.kind != kind or self.sim.t_ms < fault.at_ms:
                continue
            started = self._fault_started.setdefault(fault, time.monotonic())
            if fault.duration_ms is None or (time.monotonic() - started) * 1000 < fault.duration_ms:
                return True
        return False

    def _send(self, data: bytes) -> None:
        if not self.link_faults:
            self._write(data)
            return
        if self._active("drop"):
            return
        if self._active("corrupt"):
            buf = bytearray(data)
            k = self._rng.randrange(len(buf) - 1)  # never the delimiter
            buf[k] ^= 1 << self._rng.randrange(8)
            data = bytes(buf)
        if self._active("garbage"):
            junk = bytes(self._rng.randrange(1, 256) for _ in range(self._rng.randrange(1, 12)))
            data = junk + b"\x00" + data
        if self._active("duplicate"):
            data = data + data
        if self._active("delay"):
            threading.Timer(self.delay_ms / 1000, self._write, (data,)).start()
            return
        self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:
            pass
