"""A scripted device on a real pseudo-terminal, played in lockstep with the host, for the
link tests: it answers HELLO with an IDENTIFY (in a thread, only while the host connects),
then serves each COMMAND synchronously, when the host's `apply()` has sent it, with
whatever the test scripts: honest SAMPLEs, garbage, lies, silence, reordering, or a dead
line. Waits are bounded and end on an event (bytes arrived), never on elapsed time, so a
busy machine slows the tests down but cannot change their outcome.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import threading
import time
import tty
from collections.abc import Callable
from typing import Any

from iontocore.hal import protocol as p
from iontocore.hal.serial import SerialDevice
from iontocore.interface import Command, Sample

HANG_S = 10.0
"""Only a real hang takes this long."""

IDENT = p.Identity(max_current_ua=30_000, trip_ua=35_000, compliance_mv=60_000,
                   max_slew_ua_per_s=2_000, watchdog_ms=100, tick_ms=10,
                   capabilities=p.CAP_REVERSAL | p.CAP_PULSED | p.CAP_RELAY | p.CAP_LOCKSTEP,
                   name="scripted", dead_time_ms=500)


class FakeClock:
    """Wall time for the host under test: advances `step_s` at every reading, and by the
    whole amount at every sleep. Deterministic, and a wait on it always ends."""

    def __init__(self, step_s: float = 0.0005) -> None:
        self.now = 1000.0
        self.step_s = step_s

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def _queued(fd: int) -> int:
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


Reply = Callable[["ScriptedDevice", p.Frame], bytes]
"""What the device sends for one COMMAND: wire bytes (b"" for silence)."""


class ScriptedDevice:
    """The device end of a pty. `replies` holds one Reply per COMMAND still to come; when it
    is empty, `default` answers (honest by default). `sent` keeps the host's COMMANDs."""

    def __init__(self, ident: p.Identity = IDENT, *, identify: bytes | None = None) -> None:
        self.ident = ident
        self.identify = identify
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.port = os.ttyname(self.slave)
        self.decoder = p.Decoder()
        self.replies: list[Reply] = []
        self.default: Reply = honest()
        self.commands: list[p.Frame] = []
        self.other: list[p.Frame] = []
        self.t_ms = 1_000
        self.current_ua = 0
        self.relay = 0
        self.dead = False
        self._backlog: list[p.Frame] = []

    # ------------------------------------------------------------------ connecting

    def connect(self, **kwargs: Any) -> SerialDevice:
        """Open the host's SerialDevice while a thread answers HELLO; the thread ends at the
        host's first COMMAND (the priming OFF), which is then served like the others (the
        first entry of `replies` answers it)."""
        done = threading.Event()

        def answer_hello() -> None:
            while not done.is_set():
                if not select.select([self.master], [], [], 0.05)[0]:
                    continue
                for frame in self.decoder.feed(os.read(self.master, 4096)):
                    if frame.type is p.MsgType.HELLO:
                        os.write(self.master, self.identify if self.identify is not None
                                 else p.identify(frame.seq, self.ident))
                    else:
                        self._backlog.append(frame)
                if any(f.type is p.MsgType.COMMAND for f in self._backlog):
                    return

        thread = threading.Thread(target=answer_hello, daemon=True)
        thread.start()
        try:
            dev = SerialDevice(self.port, **kwargs)
        except BaseException:
            done.set()
            thread.join(timeout=HANG_S)
            raise
        thread.join(timeout=HANG_S)  # ends at the priming COMMAND
        done.set()
        self.serve()                 # which is answered like any other
        return dev

    # ------------------------------------------------------------------ serving

    def serve(self) -> None:
        """Take the host's next COMMAND off the line and send what the script says."""
        frame = self._next_command()
        self.commands.append(frame)
        reply = self.replies.pop(0) if self.replies else self.default
        self.send(reply(self, frame))

    def send(self, data: bytes) -> None:
        """Write to the host and wait until the pty has delivered all of it."""
        if not data or self.dead:
            return
        before = _queued(self.slave)
        os.write(self.master, data)
        end = time.monotonic() + HANG_S
        while _queued(self.slave) < before + len(data):
            assert time.monotonic() < end, "pty did not deliver"
            select.select([], [], [], 0.001)

    def kill_line(self) -> None:
        """The device end goes away: the host's next read or write fails."""
        if not self.dead:
            self.dead = True
            os.close(self.master)

    def close(self) -> None:
        self.kill_line()
        try:
            os.close(self.slave)
        except OSError:
            pass

    def _next_command(self) -> p.Frame:
        end = time.monotonic() + HANG_S
        while True:
            while self._backlog:
                frame = self._backlog.pop(0)
                if frame.type is p.MsgType.COMMAND:
                    return frame
                self.other.append(frame)
            assert time.monotonic() < end, "no COMMAND from the host"
            if select.select([self.master], [], [], 0.05)[0]:
                self._backlog += self.decoder.feed(os.read(self.master, 4096))


# ---------------------------------------------------------------------- replies

def sample_bytes(dev: ScriptedDevice, seq: int, *, current_ua: int | None = None,
                 status: int | None = None, relay: int | None = 0, t_ms: int | None = None,
                 enabled: bool = True) -> bytes:
    cur = dev.current_ua if current_ua is None else current_ua
    st = (p.STATUS_ON if enabled else 0) if status is None else status
    return p.sample(seq, dev.t_ms if t_ms is None else t_ms, cur, cur * 2 // 1, relay, st)


def honest(tick_ms: int = 10) -> Reply:
    """Carry out the command exactly (a 2 kOhm load, one LSB of sensor noise on alternate
    ticks, as a live ADC shows: DeviceLimits.sensor_frozen_ms) and answer it after one tick."""
    def reply(dev: ScriptedDevice, frame: p.Frame) -> bytes:
        setpoint, enabled, duty = (int(x) for x in frame.fields)
        dev.t_ms = (dev.t_ms + tick_ms) & 0xFFFFFFFF
        dev.current_ua = setpoint * duty // 1000 if enabled else 0
        if enabled and setpoint:
            dev.current_ua += (1 if setpoint > 0 else -1) * ((dev.t_ms // tick_ms) % 2)
        if not enabled:
            dev.relay = 0
        elif setpoint:
            dev.relay = 1 if setpoint > 0 else -1
        relay = dev.relay if dev.ident.capabilities & p.CAP_RELAY else None
        return sample_bytes(dev, frame.seq, relay=relay, enabled=bool(enabled))
    return reply


def silent(dev: ScriptedDevice, frame: p.Frame) -> bytes:
    return b""


def then(*parts: Reply) -> Reply:
    """Several replies' bytes, in order, for one COMMAND."""
    return lambda dev, frame: b"".join(part(dev, frame) for part in parts)


def raw(data: bytes) -> Reply:
    return lambda dev, frame: data


def fault_frame(code: int, seq: int = 0) -> Reply:
    return lambda dev, frame: p.encode(p.MsgType.FAULT, seq, code, dev.t_ms)


def lying(**fields: Any) -> Reply:
    """An honest answer with some fields replaced (status, relay, current_ua, t_ms)."""
    base = honest()

    def reply(dev: ScriptedDevice, frame: p.Frame) -> bytes:
        base(dev, frame)
        relay = dev.relay if dev.ident.capabilities & p.CAP_RELAY else None
        return sample_bytes(dev, frame.seq, **{"relay": relay, "enabled": bool(frame.fields[1]),
                                                **fields})
    return reply


class Lockstep:
    """The host's SerialDevice with the scripted device answering each `apply()` at once:
    a HAL for the real Runner, lockstep over a real pty."""

    def __init__(self, dev: SerialDevice, device: ScriptedDevice) -> None:
        self.dev, self.device = dev, device
        self.applied: list[Command] = []
        self.cuts = 0

    def read(self) -> Sample | None:
        return self.dev.read()

    def apply(self, command: Command) -> None:
        self.dev.apply(command)
        self.applied.append(command)
        if not self.device.dead:
            self.device.serve()

    def cut(self) -> None:
        self.cuts += 1
        self.dev.cut()

    def close(self) -> None:
        self.dev.close()

    def fault(self) -> Any:
        return self.dev.fault()
