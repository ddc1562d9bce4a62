"""HAL backend for an output stage behind a serial line (pyserial), speaking
specs/protocol.md.

Request/response: `apply()` sends a COMMAND with the next sequence number; the following
`read()` waits, at most `read_timeout_ms` (one tick by default), for the SAMPLE with that
number. Every read and
write has a bounded timeout; garbage and partial frames are dropped by the decoder and
counted; a SAMPLE with another sequence number (duplicate, late, out of order) is ignored;
when no valid SAMPLE arrives in time `read()` returns None, which the controller counts
towards its sample deadline (SUP-008), so a lost link ends in a fault. The device turns its
output off by itself when commands stop (its watchdog, HAL-002).

The device's limits and capabilities are read from its IDENTIFY reply at open.
"""

from __future__ import annotations

import os
import select
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import serial  # pyserial: only this backend depends on it

from iontocore.interface import Command, Sample
from iontocore.limits import DeviceLimits

from . import protocol as p


POLL_S = 0.002
"""Port read timeout: bounds how far a wait can overshoot its deadline."""


class LinkError(RuntimeError):
    """The device could not be reached or does not speak the protocol."""


@dataclass
class LinkStats:
    sent: int = 0
    samples: int = 0
    timeouts: int = 0
    stale: int = 0          # SAMPLEs with another sequence number (duplicate, late, reordered)
    faults: list[tuple[int, int]] = field(default_factory=list)  # (DeviceFault, t_ms)

    def as_dict(self, decoder: p.Decoder) -> dict[str, Any]:
        return {"sent": self.sent, "samples": self.samples, "timeouts": self.timeouts,
                "stale": self.stale, "corrupt": decoder.corrupt, "oversize": decoder.oversize,
                "device_faults": [(p.DeviceFault(c).name, t) for c, t in self.faults]}


class SerialDevice:
    """The serial backend: read / apply / cut / close, plus `identity` and `limits()`."""

    def __init__(self, url: str, *, baudrate: int = 115_200, read_timeout_ms: int = 10,
                 write_timeout_ms: int = 50, connect_timeout_ms: int = 2_000) -> None:
        self.read_timeout = read_timeout_ms / 1000
        self.decoder = p.Decoder()
        self.stats = LinkStats()
        self._seq = 0
        self._awaiting: int | None = None
        self._pending: deque[p.Frame] = deque()
        self._port: serial.Serial | None = None
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=POLL_S,
                                               write_timeout=write_timeout_ms / 1000)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise LinkError(f"cannot open {url}: {exc}") from None
        try:  # POSIX ports: wait on the descriptor directly (fewer calls per frame)
            self._fd: int | None = self._port.fileno()
        except Exception:  # noqa: BLE001 - URL handlers without one use pyserial's read
            self._fd = None
        try:
            self.identity = self._connect(connect_timeout_ms / 1000)
            self.apply(Command(0, False))  # prime: the first read() gets the answer to OFF
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ HAL

    def read(self) -> Sample | None:
        if self._awaiting is None:
            return None
        frame = self._wait(lambda f: f.type is p.MsgType.SAMPLE and f.seq == self._awaiting,
                           self.read_timeout)
        if frame is None:
            self.stats.timeouts += 1
            return None
        self._awaiting = None
        self.stats.samples += 1
        t_ms, current, voltage, relay, _status = frame.fields
        return Sample(int(t_ms), int(current), int(voltage),
                      None if relay == p.RELAY_NONE else int(relay))

    def apply(self, command: Command) -> None:
        self._seq = (self._seq + 1) & 0xFFFF
        self._send(p.command(self._seq, command.setpoint_ua, command.enabled,
                             command.duty_permille))
        self._awaiting = self._seq

    def cut(self) -> None:
        """Output off now: an OFF command, best effort; never raises."""
        try:
            if self._port is not None and self._port.is_open:
                self.apply(Command(0, False))
        except Exception:  # noqa: BLE001 - the device watchdog is the backstop
            pass

    def close(self) -> None:
        self.cut()
        if self._port is not None:
            try:
                self._port.close()
            except Exception:  # noqa: BLE001
                pass

    # ------------------------------------------------------------------ extras

    def limits(self) -> DeviceLimits:
        """DeviceLimits from what the device reported (other fields: defaults)."""
        ident = self.identity
        return DeviceLimits(max_current_ua=ident.max_current_ua, trip_ua=ident.trip_ua,
                            compliance_mv=ident.compliance_mv,
                            max_slew_ua_per_s=ident.max_slew_ua_per_s,
                            reversal_allowed=bool(ident.capabilities & p.CAP_REVERSAL),
                            waveforms=frozenset({"dc", "pulsed"} if ident.capabilities & p.CAP_PULSED
                                                else {"dc"}),
                            sensor_max_ua=max(60_000, ident.trip_ua * 2),
                            sensor_max_mv=max(120_000, ident.compliance_mv * 2))

    def request(self, msg: p.MsgType, reply: p.MsgType, *fields: int, timeout_s: float = 0.5) -> p.Frame | None:
        """Send a control message (RESET, RAMP_DOWN, HEARTBEAT) and wait for its reply."""
        self._seq = (self._seq + 1) & 0xFFFF
        seq = self._seq
        self._send(p.encode(msg, seq, *fields))
        return self._wait(lambda f: f.type is reply and f.seq == seq, timeout_s)

    # ------------------------------------------------------------------ internals

    def _connect(self, timeout_s: float) -> p.Identity:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._seq = (self._seq + 1) & 0xFFFF
            seq = self._seq
            self._send(p.encode(p.MsgType.HELLO, seq))
            frame = self._wait(lambda f: f.type is p.MsgType.IDENTIFY and f.seq == seq, 0.2)
            if frame is not None:
                return p.parse_identity(frame)
        raise LinkError("no IDENTIFY reply: is a device speaking iontocore protocol v1 there?")

    def _send(self, data: bytes) -> None:
        assert self._port is not None
        try:
            if self._fd is not None:  # usually all of it goes at once, without waiting
                try:
                    n = os.write(self._fd, data)
                except BlockingIOError:
                    n = 0
                data = data[n:]
            if data:  # the rest, with pyserial's bounded write timeout
                self._port.write(data)
            self.stats.sent += 1
        except serial.SerialTimeoutException:
            pass  # counted as a lost command; the read that follows will time out
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"write failed: {exc}") from None

    def _wait(self, want: Any, timeout_s: float) -> p.Frame | None:
        """Read until a frame `want` accepts arrives, or `timeout_s` passes (then None).
        Frames decoded after it stay queued for the next wait; device FAULT reports are
        recorded on the way; other SAMPLEs count as stale."""
        assert self._port is not None
        port, deadline, pending = self._port, time.monotonic() + timeout_s, self._pending
        while True:
            while pending:
                frame = pending.popleft()
                if frame.type is p.MsgType.FAULT:
                    self.stats.faults.append((int(frame.fields[0]), int(frame.fields[1])))
                if want(frame):
                    return frame
                if frame.type is p.MsgType.SAMPLE:
                    self.stats.stale += 1
            if time.monotonic() >= deadline:
                return None
            try:
                data = self._receive(port)
            except (serial.SerialException, OSError) as exc:
                raise LinkError(f"read failed: {exc}") from None
            if data:
                pending.extend(self.decoder.feed(data))

    def _receive(self, port: serial.Serial) -> bytes:
        """What has arrived, as soon as anything has, or b"" after the POLL_S timeout."""
        if self._fd is None:
            data: bytes = port.read(max(1, port.in_waiting))
            if data and port.in_waiting:
                data += port.read(port.in_waiting)
            return data
        if not select.select([self._fd], [], [], POLL_S)[0]:
            return b""
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return b""
        if not data:  # readable but empty: the other end is gone (as pyserial reports it)
            raise serial.SerialException("device reports readiness to read but returned no data")
        return data
