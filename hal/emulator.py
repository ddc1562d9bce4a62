"""A device emulator: the simulated output stage behind a pseudo-terminal, speaking
specs/protocol.md, with the device-side obligations a maker's firmware must meet.

- Lockstep (`lockstep=True`): each COMMAND advances the simulated clock by one tick and is
  answered by the SAMPLE measured at the end of it, so runs need not wait in real time.
  Otherwise the simulator ticks on the wall clock and a COMMAND is answered with the
  newest SAMPLE.
- Watchdog (wall clock): no valid COMMAND for `watchdog_ms` turns the output off, reports
  FAULT(WATCHDOG) and keeps it off until an OFF command arrives.
- Hardware trip (the simulator's): latched until RESET; reported as FAULT(HW_TRIP).
- RAMP_DOWN: the output ramps down at the device's slew, then FAULT(RAMPED_DOWN).
- Link faults for tests: drop, corrupt, delay, garbage and duplicate frames, starting at a
  simulated time and lasting a wall-clock time (in lockstep a dropped link stops the clock).
"""

from __future__ import annotations

import os
import random
import select
import threading
import time
import tty

from iontocore.interface import Command

from . import protocol as p
from .link_faults import LINK_FAULTS, LinkFault, parse_link_fault
from .sim import SimulatedDevice

__all__ = ["Emulator", "LINK_FAULTS", "LinkFault", "parse_link_fault"]

class Emulator:
    """Serves one simulated device on a pty. `port` is the path a host opens."""

    def __init__(self, sim: SimulatedDevice, *, lockstep: bool = True, watchdog_ms: int = 100,
                 identity: p.Identity | None = None, link_faults: list[LinkFault] | None = None,
                 seed: int = 0) -> None:
        self.sim = sim
        self.lockstep = lockstep
        self.watchdog_ms = watchdog_ms
        self.identity = identity or p.Identity(
            max_current_ua=30_000, trip_ua=35_000, compliance_mv=int(sim.cfg.compliance_mv),
            max_slew_ua_per_s=2_000, watchdog_ms=watchdog_ms, tick_ms=sim.cfg.tick_ms,
            capabilities=p.CAP_REVERSAL | p.CAP_PULSED | p.CAP_RELAY | (p.CAP_LOCKSTEP if lockstep else 0),
            name="iontocore-emu")
        self.link_faults = link_faults or []
        self._rng = random.Random(seed)
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self.master)
        self.port = os.ttyname(self._slave)
        self.decoder = p.Decoder()
        self.watchdog_tripped = False
        self.faults_reported: list[int] = []
        self.commands = 0
        self._last_command = time.monotonic()
        self._latest = sim.read()
        self._fault_started: dict[LinkFault, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hw_reported = False

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
        while not self._stop.is_set():
            now = time.monotonic()
            wait = min(0.01, max(0.0, next_tick - now)) if not self.lockstep else 0.01
            try:
                ready, _, _ = select.select([self.master], [], [], wait)
            except (OSError, ValueError):
                return
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                if not self._active("drop"):
                    for frame in self.decoder.feed(data):
                        self._handle(frame)
            now = time.monotonic()
            if not self.lockstep and now >= next_tick:
                next_tick += tick_s
                self._latest = self.sim.read()
            self._watchdog(now)

    # ------------------------------------------------------------------ device behaviour

    def _handle(self, frame: p.Frame) -> None:
        t = frame.type
        if t is p.MsgType.HELLO:
            self._send(p.identify(frame.seq, self.identity))
        elif t is p.MsgType.COMMAND:
            setpoint, enabled, duty = (int(x) for x in frame.fields)
            self.commands += 1
            self._last_command = time.monotonic()
            if not enabled:
                self.watchdog_tripped = False
            cmd = Command(setpoint, bool(enabled) and not self.watchdog_tripped, duty)
            self.sim.apply(cmd if cmd.enabled else Command(0, False, duty))
            if self.lockstep:
                self._latest = self.sim.read()
            self._report_hw_trip()
            s = self._latest
            if s is None:  # the simulator's own link-loss injection
                return
            status = ((p.STATUS_ON if cmd.enabled else 0)
                      | (p.STATUS_WATCHDOG if self.watchdog_tripped else 0)
                      | (p.STATUS_HW_TRIP if self.sim.hw_tripped else 0))
            try:
                reply = p.sample(frame.seq, s.t_ms, s.current_ua, s.voltage_mv, s.relay, status)
            except Exception:  # noqa: BLE001 - garbage the simulator injects cannot be packed
                reply = p.sample(frame.seq, s.t_ms, 0x7FFFFFFF, s.voltage_mv, s.relay, status)
            self._send(reply)
        elif t is p.MsgType.HEARTBEAT:
            self._send(p.encode(p.MsgType.HEARTBEAT_ACK, frame.seq))
        elif t is p.MsgType.RESET:
            self.sim.reset_trip()
            self._hw_reported = False
            self._send(p.encode(p.MsgType.RESET_ACK, frame.seq, 1))
        elif t is p.MsgType.RAMP_DOWN:
            self._ramp_down()
            self._send(p.encode(p.MsgType.FAULT, frame.seq, p.DeviceFault.RAMPED_DOWN,
                                self.sim.t_ms & 0xFFFFFFFF))

    def _ramp_down(self) -> None:
        """Ramp the output to zero at the device's slew (in simulated time), then off."""
        cmd = self.sim.command
        step = max(1, self.identity.max_slew_ua_per_s * self.sim.cfg.tick_ms // 1000)
        level = abs(cmd.setpoint_ua)
        sign = 1 if cmd.setpoint_ua >= 0 else -1
        while level > 0:
            level = max(0, level - step)
            self.sim.apply(Command(sign * level, cmd.enabled, cmd.duty_permille))
            self._latest = self.sim.read()
        self.sim.apply(Command(0, False))

    def _watchdog(self, now: float) -> None:
        """HAL-002: no valid command for watchdog_ms turns the output off, latched."""
        if self.watchdog_tripped or (now - self._last_command) * 1000 <= self.watchdog_ms:
            return
        if self.sim.command.enabled:
            self.sim.cut()
            self.watchdog_tripped = True
            self.faults_reported.append(p.DeviceFault.WATCHDOG)
            self._send(p.encode(p.MsgType.FAULT, 0, p.DeviceFault.WATCHDOG, self.sim.t_ms & 0xFFFFFFFF))

    def _report_hw_trip(self) -> None:
        if self.sim.hw_tripped and not self._hw_reported:
            self._hw_reported = True
            self.faults_reported.append(p.DeviceFault.HW_TRIP)
            self._send(p.encode(p.MsgType.FAULT, 0, p.DeviceFault.HW_TRIP, self.sim.t_ms & 0xFFFFFFFF))

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
            threading.Timer(0.05, self._write, (data,)).start()
            return
        self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:
            pass
