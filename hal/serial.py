"""HAL backend for an output stage behind a serial line (pyserial), speaking
specs/protocol.md.

Request/response: `apply()` drops whatever the device sent before it (frames still queued
and bytes already received: FAULT reports among them are still judged) and sends a
COMMAND with the next sequence number; the following `read()` waits, at most
`read_timeout_ms` (one tick by default), for the SAMPLE with that number. Every read and
write has a bounded timeout; garbage and partial frames are dropped by the decoder and
counted; a SAMPLE with another sequence number (duplicate, late, out of order) is ignored;
when no valid SAMPLE arrives in time `read()` returns None, which the controller counts
towards its sample deadline (SUP-008). With `wall_deadline=True` (real-time runs) the
deadline is also counted in wall time on `clock`: no SAMPLE for `sample_deadline_ms`
reports the link lost, and a read never waits past that moment.

At open the device's IDENTIFY is checked against the host's needs (link_checks); a device
that fails is refused with DeviceRefused naming every field, value and limit. Afterwards
every SAMPLE and FAULT is held to the protocol and to what the device advertised: a
device fault (watchdog, hardware trip, a rejected command, output off while current
flows...) or the link lost is kept for `fault()`, which the runner polls each tick (the
optional HAL method, see iontocore.hal). `read()` and `apply()` raise LinkError when the
port itself fails; `cut()` and `close()` never raise. The device clock (u32 ms) is
unwrapped here: `Sample.t_ms` is monotonic across the device's 49.7-day wrap.

Markers (LINK-011): `marker()` sends a MARKER frame to a device advertising the MARKER
capability and nothing to one that does not (`marker_output` says which). It does not
wait: the device answers MARKER_ACK (same seq) before it answers the next COMMAND, and a
MARKER still unacknowledged when that SAMPLE arrives is counted (`markers_unacked` in the
link statistics, a WARNING in the log). A missing acknowledgement is not a session fault:
markers are not a safety control; `device_checks` fails such a device.

Channels (LINK-012): `MultiSerialDevice` is a MultiHal over one link. With a device
advertising CHANNELS it asks CHANNELS_QUERY at connect (refusing a count outside 2..8 or no
answer), sends one COMMAND_CH per channel each tick and waits for one SAMPLE_CH per channel:
a SAMPLE_CH naming a channel out of range or not the one its COMMAND_CH addressed, or a tick
in which some channels answer and others do not, is a device fault naming field, value and
limit; a tick in which none answers is a missed sample on every channel. With a device
without the capability it is a one-channel MultiHal speaking exactly SerialDevice's frames.
`SerialDevice` drives a CHANNELS device as its channel 1 (plain COMMAND and SAMPLE).
"""

from __future__ import annotations

import logging
import os
import select
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import serial  # pyserial: only this backend depends on it

from iontocore.events import Marker
from iontocore.faults import FaultCode
from iontocore.interface import Command, Sample
from iontocore.limits import DeviceLimits

from . import protocol as p
from .link_checks import SampleJudge, device_limits, identity_problems, supply_problems

log = logging.getLogger(__name__)
"""Link events for the maker's application: connect (INFO), timeouts and stale replies
(DEBUG), device faults and a lost link (WARNING)."""

POLL_S = 0.002
"""Port read timeout: bounds how far a wait can overshoot its deadline."""


class LinkError(RuntimeError):
    """The device could not be reached, does not speak the protocol, or the line failed."""


class DeviceRefused(LinkError):
    """The device answered, but its IDENTIFY does not meet the host's needs."""


@dataclass
class LinkStats:
    sent: int = 0
    samples: int = 0
    timeouts: int = 0
    stale: int = 0          # SAMPLEs with another sequence number (duplicate, late, reordered)
    dropped: int = 0        # SAMPLEs received before the COMMAND they could answer went out
    limited: int = 0        # SAMPLEs saying the device limited the command (its second layer)
    faults: list[tuple[int, int]] = field(default_factory=list)  # (FAULT code, t_ms) as sent
    markers: int = 0        # MARKER frames sent (LINK-011)
    markers_unacked: int = 0  # MARKERs with no MARKER_ACK before the next COMMAND's SAMPLE

    def as_dict(self, decoder: p.Decoder) -> dict[str, Any]:
        return {"sent": self.sent, "samples": self.samples, "timeouts": self.timeouts,
                "stale": self.stale, "dropped": self.dropped, "limited": self.limited,
                "corrupt": decoder.corrupt, "oversize": decoder.oversize,
                "markers": self.markers, "markers_unacked": self.markers_unacked,
                "device_faults": [(p.fault_name(c), t) for c, t in self.faults]}


class SerialDevice:
    """The serial backend: read / apply / cut / close / fault, plus `identity` and `limits()`."""

    def __init__(self, url: str, *, tick_ms: int = 10, sample_deadline_ms: int = 100,
                 read_timeout_ms: int | None = None, wall_deadline: bool = False,
                 clock: Callable[[], float] = time.monotonic, baudrate: int = 115_200,
                 write_timeout_ms: int = 50, connect_timeout_ms: int = 2_000,
                 off_current_ua: int = 50) -> None:
        self.read_timeout = (tick_ms if read_timeout_ms is None else read_timeout_ms) / 1000
        self.tick_ms = tick_ms
        self.sample_deadline_ms = sample_deadline_ms
        self.wall_deadline = wall_deadline
        self._clock = clock
        self.decoder = p.Decoder()
        self.stats = LinkStats()
        self._seq = 0
        self._awaiting: int | None = None
        self._enabled = False         # whether the awaited COMMAND had the output on
        self._pending: deque[p.Frame] = deque()
        self._fault: tuple[FaultCode, str] | None = None
        self._t: int | None = None    # last device time, unwrapped
        self._due = 0.0               # wall deadline for the next SAMPLE (wall_deadline)
        # FAULT frames may come while connecting: judged as such until IDENTIFY arrives
        self.judge = SampleJudge(p.Identity(0, 0, 0, 0, 0, 0, 0, ""), off_current_ua)
        self._relay_ok: tuple[int, ...] = (p.RELAY_NONE,)
        self.supply: tuple[int, int] | None = None  # SUPPLY_INFO of a CAP_SUPPLY device
        self.marker_output = False    # the device advertises MARKER (LINK-011)
        self._unacked: deque[int] = deque()  # seqs of MARKERs awaiting their MARKER_ACK
        self._port: serial.Serial | None = None
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=POLL_S,
                                               write_timeout=write_timeout_ms / 1000)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise LinkError(f"cannot open {url}: {exc}") from None
        try:  # POSIX ports: wait on the descriptor directly (fewer calls per frame)
            self._fd: int | None = self._port.fileno()
            self._poll = select.poll()
            self._poll.register(self._fd, select.POLLIN)
        except Exception:  # noqa: BLE001 - URL handlers without one use pyserial's read
            self._fd = None
        try:
            self.identity = self._connect(connect_timeout_ms / 1000)
            log.info("connected to %r on %s: max %d uA, trip %d uA, compliance %d mV, tick %d ms",
                     self.identity.name, url, self.identity.max_current_ua, self.identity.trip_ua,
                     self.identity.compliance_mv, self.identity.tick_ms)
            self.judge = SampleJudge(self.identity, off_current_ua)
            if self.identity.capabilities & p.CAP_SUPPLY:
                self.supply = self._supply_info()
            self.marker_output = bool(self.identity.capabilities & p.CAP_MARKER)
            self._relay_ok = ((-1, 0, 1) if self.identity.capabilities & p.CAP_RELAY
                              else (p.RELAY_NONE,))
            self._due = clock() + sample_deadline_ms / 1000
            self._prime()
        except BaseException:
            self.close()
            raise

    def _prime(self) -> None:
        self.apply(Command(0, False))  # the first read() gets the answer to OFF

    # ------------------------------------------------------------------ HAL

    def read(self) -> Sample | None:
        if self._awaiting is None:
            return None
        timeout = self.read_timeout
        if self.wall_deadline:
            timeout = min(timeout, self._due - self._clock())
        seq = self._awaiting
        frame = self._wait(lambda f: f.type in p.SAMPLE_TYPES and f.seq == seq, timeout)
        if frame is None:
            self.stats.timeouts += 1
            log.debug("no SAMPLE for seq %d within %.3f s", seq, timeout)
            if self.wall_deadline and self._clock() >= self._due:
                self._set_fault(FaultCode.LINK_LOST,
                                f"no SAMPLE from the device for {self.sample_deadline_ms} ms "
                                "of wall time")
            return None
        self._awaiting = None
        self.stats.samples += 1
        if self._unacked:
            self._expire_markers(seq)
        if self.wall_deadline:
            self._due = self._clock() + self.sample_deadline_ms / 1000
        supply_mv: int | None = None
        if frame.type is p.MsgType.SAMPLE_SUPPLY:
            raw_t, current, voltage, relay, status, raw_supply = frame.fields
            supply_mv = None if raw_supply == p.SUPPLY_NONE else raw_supply  # type: ignore[assignment]
        else:
            raw_t, current, voltage, relay, status = frame.fields
        if (frame.type is p.MsgType.SAMPLE_SUPPLY) != (self.supply is not None):
            self._set_fault(FaultCode.DEVICE_FAULT,
                            f"SAMPLE seq {seq}: a {frame.type.name} frame from a device that "
                            f"{'did not advertise' if self.supply is None else 'advertised'} "
                            "supply reporting (LINK-010)")
        prev = self._t
        if prev is None:
            t = raw_t
        else:  # p.unwrap_ms, inline: the signed 32-bit difference of the raw values
            diff = (raw_t - prev) & 0xFFFFFFFF  # type: ignore[operator]
            t = prev + (diff - 0x100000000 if diff >= 0x80000000 else diff)
        self._t = t  # type: ignore[assignment]
        if status == p.STATUS_ON and self._enabled and relay in self._relay_ok:
            self.judge.on_as_commanded()        # the usual answer: nothing to judge
        else:
            verdict = self.judge.sample(seq, self._enabled, current, relay, status)  # type: ignore[arg-type]
            self.stats.limited = self.judge.limited
            if verdict is not None:
                self._set_fault(FaultCode.DEVICE_FAULT, verdict.reason)
        if self.supply is None:
            return Sample(t, current, voltage, relay if relay in (-1, 0, 1) else None)  # type: ignore[arg-type]
        return Sample(t, current, voltage, relay if relay in (-1, 0, 1) else None, supply_mv)  # type: ignore[arg-type]

    def apply(self, command: Command) -> None:
        self._discard()
        self._seq = p.next_seq(self._seq)
        if not command.enabled:
            self.judge.ramp_requested = False  # an OFF command ends a requested ramp-down
        self._send(p.command(self._seq, command.setpoint_ua, command.enabled,
                             command.duty_permille))
        self._awaiting = self._seq
        self._enabled = bool(command.enabled)

    def marker(self, marker: Marker) -> None:
        """LINK-011: a MARKER frame (session_ms, step, pulse, kind) to a device advertising
        the MARKER capability; nothing to one without it. Sent after the tick's COMMAND,
        without waiting for the MARKER_ACK (checked when the next COMMAND is answered).
        Raises ValueError for a marker the frame cannot carry, LinkError when the line fails."""
        if not self.marker_output:
            return
        seq = p.next_seq(self._seq)
        frame = p.marker(seq, marker.session_ms, marker.step, marker.pulse, marker.kind)
        self._seq = seq
        self._send(frame)
        self._unacked.append(seq)
        self.stats.markers += 1

    def cut(self) -> None:
        """Output off now: an OFF command, best effort; never raises."""
        try:
            if self._port is not None and self._port.is_open:
                self.apply(Command(0, False))
        except Exception:  # noqa: BLE001 - the device watchdog is the backstop
            pass

    def close(self) -> None:
        """Cut, then close the port; never raises."""
        self.cut()
        if self._port is not None:
            try:
                self._port.close()
            except Exception:  # noqa: BLE001
                pass

    def fault(self) -> tuple[FaultCode, str] | None:
        """The first fault found on the link (LINK_LOST or DEVICE_FAULT, with its reason),
        or None. It stays set: the runner reports it with Controller.report_fault."""
        return self._fault

    # ------------------------------------------------------------------ extras

    def limits(self) -> DeviceLimits:
        """DeviceLimits from what the device reported (other fields: defaults); a device
        reporting its supply brings its supply floor and sensor range (LINK-010)."""
        return device_limits(self.identity, self.supply)

    def request(self, msg: p.MsgType, reply: p.MsgType, *fields: int, timeout_s: float = 0.5) -> p.Frame | None:
        """Send a control message (RESET, RAMP_DOWN, HEARTBEAT) and wait for its reply (for
        RAMP_DOWN: the FAULT(RAMPED_DOWN) carrying its seq, which comes only once the ramp
        is done; pass timeout_s=0 to send without waiting)."""
        self._seq = p.next_seq(self._seq)
        seq = self._seq
        if msg is p.MsgType.RAMP_DOWN:
            self.judge.ramp_requested = True
        self._send(p.encode(msg, seq, *fields))
        return self._wait(lambda f: f.type is reply and f.seq == seq, timeout_s)

    # ------------------------------------------------------------------ internals

    def _set_fault(self, code: FaultCode, reason: str) -> None:
        if self._fault is None:
            log.warning("%s: %s", code.value, reason)
            self._fault = (code, reason)

    def _connect(self, timeout_s: float) -> p.Identity:
        deadline = self._clock() + timeout_s
        while self._clock() < deadline:
            self._seq = p.next_seq(self._seq)
            seq = self._seq
            self._send(p.encode(p.MsgType.HELLO, seq))
            frame = self._wait(lambda f: f.type is p.MsgType.IDENTIFY and f.seq == seq, 0.2)
            if frame is not None:
                ident = p.parse_identity(frame)
                problems = identity_problems(ident, self.tick_ms, self.sample_deadline_ms)
                if problems:
                    raise DeviceRefused(f"device {ident.name or '(unnamed)'!r} refused: "
                                        + "; ".join(problems))
                return ident
        if self.decoder.other_version is not None:
            raise LinkError(f"the device speaks protocol version {self.decoder.other_version}; "
                            f"this host speaks version {p.VERSION}")
        raise LinkError(f"no IDENTIFY reply: is a device speaking iontocore protocol v{p.VERSION} "
                        "there?")

    def _ask(self, query: p.MsgType, answer: p.MsgType, what: str) -> p.Frame:
        """Send `query` and wait 0.5 s for `answer` with its seq: the answer of a device that
        advertises `what`, which is refused when it does not answer."""
        self._seq = p.next_seq(self._seq)
        seq = self._seq
        self._send(p.encode(query, seq))
        frame = self._wait(lambda f: f.type is answer and f.seq == seq, 0.5)
        if frame is None:
            name = self.identity.name or "(unnamed)"
            raise DeviceRefused(f"device {name!r} refused: it advertises {what} but did not "
                                f"answer {query.name}")
        return frame

    def _supply_info(self) -> tuple[int, int]:
        """Ask a CAP_SUPPLY device for its supply floor and sensor range; refuse it when it
        does not answer or its values fail (LINK-010)."""
        frame = self._ask(p.MsgType.SUPPLY_QUERY, p.MsgType.SUPPLY_INFO, "supply reporting")
        name = self.identity.name or "(unnamed)"
        lo, hi = int(frame.fields[0]), int(frame.fields[1])
        problems = supply_problems(lo, hi)
        if problems:
            raise DeviceRefused(f"device {name!r} refused: " + "; ".join(problems))
        return lo, hi

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

    def _expire_markers(self, answered: int) -> None:
        """The SAMPLE answering COMMAND `answered` came: every MARKER sent before that
        COMMAND should have been acknowledged by now (the device answers in order)."""
        unacked = self._unacked
        while unacked and p.seq_after(answered, unacked[0]):
            seq = unacked.popleft()
            self.stats.markers_unacked += 1
            log.warning("no MARKER_ACK for MARKER seq %d before the SAMPLE answering COMMAND "
                        "seq %d (LINK-011): the marker output may have missed it", seq, answered)

    def _note(self, frame: p.Frame) -> None:
        """A frame nobody waits for: FAULT reports are judged, SAMPLEs counted as stale,
        MARKER_ACKs matched to their MARKER."""
        if frame.type is p.MsgType.MARKER_ACK:
            if frame.seq in self._unacked:
                self._unacked.remove(frame.seq)
            else:
                log.debug("MARKER_ACK seq %d answers no MARKER awaiting one", frame.seq)
            return
        if frame.type is p.MsgType.FAULT:
            code, t_ms = int(frame.fields[0]), int(frame.fields[1])
            self.stats.faults.append((code, t_ms))
            verdict = self.judge.fault_frame(frame.seq, code, t_ms)
            if verdict is not None:
                self._set_fault(FaultCode.DEVICE_FAULT, verdict.reason)
        elif frame.type in p.SAMPLE_TYPES or frame.type is p.MsgType.SAMPLE_CH:
            self.stats.stale += 1
            log.debug("stale SAMPLE seq %d dropped", frame.seq)

    def _discard(self) -> None:
        """Before a COMMAND goes out: nothing received so far can answer it (issue 10, #6)."""
        pending = self._pending
        try:
            data = self._receive_now()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"read failed: {exc}") from None
        if data:
            pending.extend(self.decoder.feed(data))
        while pending:
            frame = pending.popleft()
            if frame.type in p.SAMPLE_TYPES:
                self.stats.dropped += 1
            else:
                self._note(frame)

    def _wait(self, want: Any, timeout_s: float) -> p.Frame | None:
        """Read until a frame `want` accepts arrives, or `timeout_s` passes on the clock (then
        None). Frames decoded after it stay queued; the others are noted on the way."""
        assert self._port is not None
        port, clock, pending = self._port, self._clock, self._pending
        deadline = clock() + timeout_s
        while True:
            while pending:
                frame = pending.popleft()
                if want(frame):
                    return frame
                self._note(frame)
            left = deadline - clock()
            if left <= 0:
                return None
            try:
                data = self._receive(port, min(POLL_S, left))
            except (serial.SerialException, OSError) as exc:
                raise LinkError(f"read failed: {exc}") from None
            if data:
                pending.extend(self.decoder.feed(data))

    def _receive_now(self) -> bytes:
        """Whatever has arrived already, without waiting."""
        if self._fd is None:
            assert self._port is not None
            waiting = self._port.in_waiting
            return self._port.read(waiting) if waiting else b""
        if not self._poll.poll(0):
            return b""
        try:
            return os.read(self._fd, 4096)
        except BlockingIOError:
            return b""

    def _receive(self, port: serial.Serial, wait_s: float) -> bytes:
        """What has arrived, as soon as anything has, or b"" after `wait_s`."""
        if self._fd is None:
            data: bytes = port.read(max(1, port.in_waiting))
            if data and port.in_waiting:
                data += port.read(port.in_waiting)
            return data
        if not self._poll.poll(wait_s * 1000):
            return b""
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return b""
        if not data:  # readable but empty: the other end is gone (as pyserial reports it)
            raise serial.SerialException("device reports readiness to read but returned no data")
        return data


class _Link(SerialDevice):
    """The link under a MultiSerialDevice: asks a CHANNELS device its channel count at
    connect (and leaves priming to the MultiSerialDevice); a device without the capability
    is connected and primed exactly as SerialDevice does."""

    channel_count = 1

    def _prime(self) -> None:
        if not self.identity.capabilities & p.CAP_CHANNELS:
            super()._prime()
            return
        frame = self._ask(p.MsgType.CHANNELS_QUERY, p.MsgType.CHANNELS_INFO, "channels")
        name = self.identity.name or "(unnamed)"
        count = int(frame.fields[0])
        if not p.CHANNELS_MIN <= count <= p.CHANNELS_MAX:
            raise DeviceRefused(f"device {name!r} refused: channels = {count}: allowed "
                                f"{p.CHANNELS_MIN}..{p.CHANNELS_MAX}")
        self.channel_count = count


class MultiSerialDevice:
    """A MultiHal over one serial link (LINK-012): read / apply / cut / close / fault, plus
    `channels`, `identity`, `stats` and `limits()`. Takes SerialDevice's arguments."""

    def __init__(self, url: str, **kw: Any) -> None:
        self.link = link = _Link(url, **kw)
        self.identity = link.identity
        self.stats = link.stats
        self.decoder = link.decoder
        self.multi = bool(link.identity.capabilities & p.CAP_CHANNELS)
        self.channels = n = link.channel_count
        off_ua = int(kw.get("off_current_ua", 50))
        self._judges = [SampleJudge(link.identity, off_ua) for _ in range(n)]
        self._enabled = [False] * n
        self._t: list[int | None] = [None] * n
        self._awaiting: dict[int, int] = {}  # seq of a COMMAND_CH -> its channel index
        if self.multi:
            try:
                self.apply([Command(0, False)] * n)  # prime: the first read() answers OFF
            except BaseException:
                self.close()
                raise

    def limits(self) -> DeviceLimits:
        return self.link.limits()

    def fault(self) -> tuple[FaultCode, str] | None:
        return self.link.fault()

    def apply(self, commands: Sequence[Command]) -> None:
        n, link = self.channels, self.link
        if len(commands) != n:
            raise ValueError(f"commands = {len(commands)}: allowed exactly {n} (one per channel)")
        if not self.multi:
            link.apply(commands[0])   # a device without CHANNELS: exactly SerialDevice's frames
            return
        link._discard()
        self._awaiting.clear()
        for k, command in enumerate(commands):
            link._seq = seq = p.next_seq(link._seq)
            link._send(p.command_ch(seq, k + 1, command.setpoint_ua, command.enabled,
                                    command.duty_permille))
            self._awaiting[seq] = k
            self._enabled[k] = bool(command.enabled)

    def read(self) -> list[Sample | None]:
        n, link = self.channels, self.link
        if not self.multi:
            return [link.read()]
        got: list[Sample | None] = [None] * n
        awaiting = self._awaiting
        if not awaiting:
            return got
        clock = link._clock
        timeout = link.read_timeout
        if link.wall_deadline:
            timeout = min(timeout, link._due - clock())
        end = clock() + timeout
        while awaiting:
            frame = link._wait(lambda f: f.type is p.MsgType.SAMPLE_CH and f.seq in awaiting,
                               end - clock())
            if frame is None:
                break
            k = awaiting.pop(frame.seq)
            got[k] = self._sample(k, frame)
        if awaiting:
            missing = sorted(k + 1 for k in awaiting.values())
            awaiting.clear()
            if len(missing) < n:   # some channels answered, these did not
                link._set_fault(FaultCode.DEVICE_FAULT, (
                    f"SAMPLE_CH missing for channel {', '.join(map(str, missing))} within "
                    f"{timeout * 1000:.0f} ms while the other channels answered: allowed none "
                    f"missing (every one of the device's {n} channels answers each tick, "
                    "LINK-012)"))
                return got
            link.stats.timeouts += 1
            if link.wall_deadline and clock() >= link._due:
                link._set_fault(FaultCode.LINK_LOST, f"no SAMPLE_CH from the device for "
                                f"{link.sample_deadline_ms} ms of wall time")
            return got
        link.stats.samples += 1
        if link.wall_deadline:
            link._due = clock() + link.sample_deadline_ms / 1000
        return got

    def _sample(self, k: int, frame: p.Frame) -> Sample | None:
        """Channel k's SAMPLE_CH held to the protocol; None when it is not that channel's."""
        link, seq = self.link, frame.seq
        channel, raw_t, current, voltage, relay, status, raw_supply = (int(x) for x in frame.fields)
        if not 1 <= channel <= self.channels:
            link._set_fault(FaultCode.DEVICE_FAULT, f"SAMPLE_CH seq {seq}: channel = {channel}: "
                            f"allowed 1..{self.channels} (the device's channels, LINK-012)")
            return None
        if channel != k + 1:
            link._set_fault(FaultCode.DEVICE_FAULT, f"SAMPLE_CH seq {seq}: channel = {channel}: "
                            f"allowed {k + 1} (the channel COMMAND_CH seq {seq} addressed, "
                            "LINK-012)")
            return None
        if link.supply is None and raw_supply != p.SUPPLY_NONE:
            link._set_fault(FaultCode.DEVICE_FAULT, f"SAMPLE_CH seq {seq}: supply_mv = "
                            f"{raw_supply}: allowed {p.SUPPLY_NONE:#x} (the device did not "
                            "advertise supply reporting, LINK-010)")
        prev = self._t[k]
        t = raw_t if prev is None else p.unwrap_ms(prev, raw_t)
        self._t[k] = t
        judge = self._judges[k]
        verdict = judge.sample(seq, self._enabled[k], current, relay, status)
        link.stats.limited = sum(j.limited for j in self._judges)
        if verdict is not None:
            link._set_fault(FaultCode.DEVICE_FAULT, f"channel {k + 1}: {verdict.reason}")
        out_relay = relay if relay in (-1, 0, 1) else None
        if link.supply is None:
            return Sample(t, current, voltage, out_relay)
        return Sample(t, current, voltage, out_relay,
                      None if raw_supply == p.SUPPLY_NONE else raw_supply)

    def cut(self) -> None:
        """Every channel off now: OFF commands, best effort; never raises."""
        if not self.multi:
            self.link.cut()
            return
        try:
            port = self.link._port
            if port is not None and port.is_open:
                self.apply([Command(0, False)] * self.channels)
        except Exception:  # noqa: BLE001 - each channel's watchdog is the backstop
            pass

    def close(self) -> None:
        """Cut every channel, then close the port; never raises."""
        if not self.multi:
            self.link.close()
            return
        self.cut()
        try:
            if self.link._port is not None:
                self.link._port.close()
        except Exception:  # noqa: BLE001
            pass
