"""The host <-> output-stage wire protocol (specs/protocol.md): pure encoding and decoding.

A frame on the wire is COBS(body) followed by one 0x00 delimiter, where

    body = version:u8 | type:u8 | seq:u16 | payload | crc:u16      (little-endian)
    crc  = CRC-16/CCITT-FALSE (binascii.crc_hqx, init 0xFFFF) over version..payload

COBS guarantees the body holds no zero byte, so a receiver resynchronises at the next
0x00 after any garbage. A frame with a bad CRC, an unknown version or type, or a payload
of the wrong length is counted and dropped, never acted on. Field values are data: the
decoder never rejects a frame for a value (unknown FAULT codes, status bits); judging
them is the host's job (`iontocore.hal.link_checks`) and the device's.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

from cobs import cobs

VERSION = 2
MAX_FRAME = 64
"""Longest frame accepted, counted in encoded (COBS) bytes without the 0x00 delimiter;
longer input is garbage. The longest valid frame (IDENTIFY) is 46 bytes encoded."""
SEQ_UNSOLICITED = 0
"""The seq of a frame the device sends of its own accord (FAULT watchdog / hardware trip);
the host never sends seq 0 (its counter runs 1..0xFFFF and wraps to 1)."""


class MsgType(IntEnum):
    HELLO = 0x01          # host -> device: start of a connection
    IDENTIFY = 0x81       # device -> host: its limits and capabilities
    COMMAND = 0x02        # host -> device: set-point for the next tick (re-arms the watchdog)
    SAMPLE = 0x82         # device -> host: the measurement answering a COMMAND (same seq)
    HEARTBEAT = 0x03      # host -> device: link check (does NOT re-arm the output watchdog)
    HEARTBEAT_ACK = 0x83
    RESET = 0x04          # host -> device: clear a latched device trip (service action)
    RESET_ACK = 0x84
    RAMP_DOWN = 0x05      # host -> device: ramp down at the device's slew, then off (latched)
    FAULT = 0x85          # device -> host: the device turned its output off by itself
    SUPPLY_QUERY = 0x06   # host -> device: its supply floor and sensor range (CAP_SUPPLY)
    SUPPLY_INFO = 0x86    # device -> host: the answer (same seq)
    SAMPLE_SUPPLY = 0x88  # device -> host: SAMPLE plus the supply voltage (CAP_SUPPLY devices)
    MARKER = 0x07         # host -> device: a research protocol's step boundary (CAP_MARKER)
    MARKER_ACK = 0x87     # device -> host: the MARKER was output (same seq)
    CHANNELS_QUERY = 0x08  # host -> device: how many output channels (CAP_CHANNELS)
    CHANNELS_INFO = 0x89  # device -> host: the answer (same seq)
    COMMAND_CH = 0x09     # host -> device: COMMAND for one channel (CAP_CHANNELS)
    SAMPLE_CH = 0x8A      # device -> host: that channel's SAMPLE, with the supply (same seq)


class DeviceFault(IntEnum):
    """The closed set of FAULT codes (protocol version 2). Any other code is still data:
    the host treats it as a device fault of unknown kind (`fault_name`), never an error."""

    WATCHDOG = 1          # no valid COMMAND within the watchdog time (seq 0)
    HW_TRIP = 2           # the device's own over-current trip (seq 0)
    RAMPED_DOWN = 3       # a RAMP_DOWN request was carried out (the RAMP_DOWN's seq)


def fault_name(code: int) -> str:
    """'WATCHDOG', 'HW_TRIP', 'RAMPED_DOWN', or 'unknown device fault N': never raises."""
    try:
        return DeviceFault(code).name
    except ValueError:
        return f"unknown device fault {code}"


CAP_REVERSAL, CAP_PULSED, CAP_RELAY, CAP_LOCKSTEP, CAP_SUPPLY, CAP_MARKER = 1, 2, 4, 8, 16, 32
CAP_CHANNELS = 64
CAP_ALL = 0x7F
CHANNELS_MIN, CHANNELS_MAX = 2, 8
"""The channel count a CHANNELS device may report (CHANNELS_INFO, LINK-012); channels are
numbered from 1 on the wire; plain COMMAND and SAMPLE are channel 1's."""
SUPPLY_NONE = 0xFFFFFFFF
"""SAMPLE_SUPPLY's supply_mv when the device has no reading for this sample."""
MARKER_KINDS: dict[str, int] = {"baseline": 1, "pulse": 2, "gap": 3, "interrupt": 4, "end": 5}
"""MARKER's kind codes: the kind of step that begins (baseline, pulse, gap), a pulse
interrupted, the protocol's end (core/events.py Marker.kind). Any other code is data."""
MARKER_KIND_NAMES: dict[int, str] = {v: k for k, v in MARKER_KINDS.items()}
SAMPLE_TYPES = frozenset({MsgType.SAMPLE, MsgType.SAMPLE_SUPPLY})
"""The frames that answer a COMMAND: SAMPLE, and SAMPLE_SUPPLY from CAP_SUPPLY devices."""
STATUS_ON = 0x01          # the output is actually enabled (source on, relay closed)
STATUS_WATCHDOG = 0x02    # watchdog trip latched (until an OFF command)
STATUS_HW_TRIP = 0x04     # hardware trip latched (until RESET)
STATUS_RAMP_DOWN = 0x08   # a requested ramp-down is running or done and latched (until OFF)
STATUS_LIMITED = 0x10     # the answered COMMAND was limited (clamp, slew or dead time)
STATUS_REJECTED = 0x20    # the answered COMMAND had a field out of range: not applied
STATUS_RESERVED = 0xC0    # must be 0
RELAY_NONE = -128
RESET_UNKNOWN, RESET_DONE, RESET_REFUSED = 0, 1, 2
"""RESET_ACK results: unknown `what` (nothing done); done; refused (output not off)."""
NAME_BYTES = 16

PAYLOADS: dict[MsgType, struct.Struct] = {
    MsgType.HELLO: struct.Struct("<"),
    MsgType.IDENTIFY: struct.Struct("<IIIIHHB16sH"),
    MsgType.COMMAND: struct.Struct("<iBH"),
    MsgType.SAMPLE: struct.Struct("<IiibB"),
    MsgType.HEARTBEAT: struct.Struct("<"),
    MsgType.HEARTBEAT_ACK: struct.Struct("<"),
    MsgType.RESET: struct.Struct("<B"),
    MsgType.RESET_ACK: struct.Struct("<B"),
    MsgType.RAMP_DOWN: struct.Struct("<"),
    MsgType.FAULT: struct.Struct("<BI"),
    MsgType.SUPPLY_QUERY: struct.Struct("<"),
    MsgType.SUPPLY_INFO: struct.Struct("<II"),
    MsgType.SAMPLE_SUPPLY: struct.Struct("<IiibBI"),
    MsgType.MARKER: struct.Struct("<IHHB"),
    MsgType.MARKER_ACK: struct.Struct("<"),
    MsgType.CHANNELS_QUERY: struct.Struct("<"),
    MsgType.CHANNELS_INFO: struct.Struct("<B"),
    MsgType.COMMAND_CH: struct.Struct("<BiBH"),
    MsgType.SAMPLE_CH: struct.Struct("<BIiibBI"),
}
HEADER = struct.Struct("<BBH")
CRC = struct.Struct("<H")
_BODIES = {m: struct.Struct("<BBH" + layout.format[1:]) for m, layout in PAYLOADS.items()}


class Frame(NamedTuple):
    type: MsgType
    seq: int
    fields: tuple[int | bytes, ...]


@dataclass(frozen=True)
class Identity:
    max_current_ua: int
    trip_ua: int
    compliance_mv: int
    max_slew_ua_per_s: int
    watchdog_ms: int
    tick_ms: int
    capabilities: int
    name: str
    dead_time_ms: int = 500
    name_raw: bytes = field(default=b"", compare=False, repr=False)
    """The 16 name bytes as received (parse_identity); empty when built in code."""


def crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def encode(msg: MsgType, seq: int, *fields: int | bytes) -> bytes:
    """One frame ready for the wire, delimiter included. Raises struct.error on bad fields."""
    body = _BODIES[msg].pack(VERSION, msg, seq & 0xFFFF, *fields)
    return bytes(cobs.encode(body + CRC.pack(binascii.crc_hqx(body, 0xFFFF)))) + b"\x00"


def command(seq: int, setpoint_ua: int, enabled: bool, duty_permille: int) -> bytes:
    return encode(MsgType.COMMAND, seq, setpoint_ua, 1 if enabled else 0, duty_permille)


def sample(seq: int, t_ms: int, current_ua: int, voltage_mv: int, relay: int | None,
           status: int) -> bytes:
    return encode(MsgType.SAMPLE, seq, t_ms & 0xFFFFFFFF, current_ua, voltage_mv,
                  RELAY_NONE if relay is None else relay, status)


def sample_supply(seq: int, t_ms: int, current_ua: int, voltage_mv: int, relay: int | None,
                  status: int, supply_mv: int | None) -> bytes:
    """A SAMPLE_SUPPLY frame; `supply_mv` None is sent as SUPPLY_NONE."""
    return encode(MsgType.SAMPLE_SUPPLY, seq, t_ms & 0xFFFFFFFF, current_ua, voltage_mv,
                  RELAY_NONE if relay is None else relay, status,
                  SUPPLY_NONE if supply_mv is None else supply_mv)


def command_ch(seq: int, channel: int, setpoint_ua: int, enabled: bool, duty_permille: int) -> bytes:
    """A COMMAND_CH frame for `channel` (1..CHANNELS_MAX); raises ValueError naming the
    channel, its value and the allowed range otherwise (LINK-012)."""
    if type(channel) is not int or not 1 <= channel <= CHANNELS_MAX:
        raise ValueError(f"channel = {channel!r}: allowed an integer 1..{CHANNELS_MAX}")
    return encode(MsgType.COMMAND_CH, seq, channel, setpoint_ua, 1 if enabled else 0,
                  duty_permille)


def sample_ch(seq: int, channel: int, t_ms: int, current_ua: int, voltage_mv: int,
              relay: int | None, status: int, supply_mv: int | None) -> bytes:
    """A SAMPLE_CH frame (LINK-012): channel (u8), the SAMPLE fields, the supply (None and
    devices without CAP_SUPPLY: SUPPLY_NONE)."""
    return encode(MsgType.SAMPLE_CH, seq, channel, t_ms & 0xFFFFFFFF, current_ua, voltage_mv,
                  RELAY_NONE if relay is None else relay, status,
                  SUPPLY_NONE if supply_mv is None else supply_mv)


def marker(seq: int, session_ms: int, step: int, pulse: int, kind: str) -> bytes:
    """A MARKER frame: time from the session's first tick (u32 ms), step and pulse indices
    (u16, from 1; 0: none yet) and the kind's code (MARKER_KINDS). Raises ValueError naming
    the field, its value and the allowed range otherwise (never truncates)."""
    for name, value, hi in (("session_ms", session_ms, 0xFFFFFFFF), ("step", step, 0xFFFF),
                            ("pulse", pulse, 0xFFFF)):
        if type(value) is not int or not 0 <= value <= hi:
            raise ValueError(f"marker {name} = {value!r}: allowed an integer 0..{hi}")
    code = MARKER_KINDS.get(kind)
    if code is None:
        raise ValueError(f"marker kind = {kind!r}: allowed one of {sorted(MARKER_KINDS)}")
    return encode(MsgType.MARKER, seq, session_ms, step, pulse, code)


def encode_name(name: str) -> bytes:
    """1 to 16 printable ASCII characters (0x20..0x7e), padded with 0x00 to 16 bytes.
    Raises ValueError otherwise (never truncates or replaces)."""
    if not 1 <= len(name) <= NAME_BYTES or not all(" " <= c <= "~" for c in name):
        raise ValueError(f"name = {name!r}: allowed 1 to {NAME_BYTES} printable ASCII characters")
    return name.encode("ascii").ljust(NAME_BYTES, b"\x00")


def decode_name(raw: bytes) -> str | None:
    """The name, or None when the 16 bytes are not printable ASCII followed by 0x00 padding."""
    text = raw.rstrip(b"\x00")
    if not text or not all(0x20 <= b <= 0x7E for b in text):
        return None
    return text.decode("ascii")


def identify(seq: int, ident: Identity) -> bytes:
    return encode(MsgType.IDENTIFY, seq, ident.max_current_ua, ident.trip_ua, ident.compliance_mv,
                  ident.max_slew_ua_per_s, ident.watchdog_ms, ident.tick_ms, ident.capabilities,
                  encode_name(ident.name), ident.dead_time_ms)


def parse_identity(frame: Frame) -> Identity:
    """The fields as sent; a malformed name becomes "" (link_checks refuses it, showing
    `name_raw`)."""
    f = frame.fields
    raw = f[7] if isinstance(f[7], bytes) else b""
    return Identity(int(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6]),
                    decode_name(raw) or "", int(f[8]), raw)


class Decoder:
    """Streaming decoder: feed bytes as they arrive, get whole valid frames back.

    Never raises on input. Counts what it drops: `corrupt` (bad COBS, CRC, version, type or
    length) and `oversize` (more than MAX_FRAME encoded bytes without a delimiter);
    `other_version` is the version of the last well-formed frame of another protocol
    version (None if none came), so a host can say why a device is not understood."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skipping = False
        self.frames = 0
        self.corrupt = 0
        self.oversize = 0
        self.other_version: int | None = None

    def feed(self, data: bytes) -> list[Frame]:
        if (not self._buf and not self._skipping and data[-1:] == b"\x00"
                and data.find(b"\x00") == len(data) - 1 and 1 < len(data) <= MAX_FRAME + 1):
            frame = self._decode(data[:-1], self)    # the usual case: one whole frame
            if frame is None:
                self.corrupt += 1
                return []
            self.frames += 1
            return [frame]
        out: list[Frame] = []
        for chunk_end in _split_keep(data):
            piece, delimited = chunk_end
            if self._skipping:
                if delimited:
                    self._skipping = False
                continue
            self._buf += piece
            if len(self._buf) > MAX_FRAME:
                self._buf.clear()
                self.oversize += 1
                self._skipping = not delimited
                continue
            if delimited:
                raw = bytes(self._buf)
                self._buf.clear()
                if raw:
                    frame = self._decode(raw, self)
                    if frame is None:
                        self.corrupt += 1
                    else:
                        self.frames += 1
                        out.append(frame)
        return out

    @staticmethod
    def _decode(raw: bytes, owner: "Decoder | None" = None) -> Frame | None:
        try:
            body = bytes(cobs.decode(raw))
        except cobs.DecodeError:
            return None
        if len(body) < HEADER.size + CRC.size:
            return None
        data, (crc,) = body[:-CRC.size], CRC.unpack_from(body, len(body) - CRC.size)
        if binascii.crc_hqx(data, 0xFFFF) != crc:
            return None
        version, kind = data[0], data[1]
        if version != VERSION:
            if owner is not None:
                owner.other_version = version
            return None
        msg = _TYPES.get(kind)
        if msg is None:
            return None
        layout = _BODIES[msg]
        if len(data) != layout.size:
            return None
        values = layout.unpack(data)
        return Frame(msg, values[2], values[3:])


_TYPES = {int(t): t for t in MsgType}


def _split_keep(data: bytes) -> list[tuple[bytes, bool]]:
    """Split at 0x00 delimiters: (piece, ended_by_delimiter) in order."""
    parts = data.split(b"\x00")
    return [(p, True) for p in parts[:-1]] + [(parts[-1], False)]


def next_seq(seq: int) -> int:
    """The host's next sequence number: 1..0xFFFF, wrapping to 1 (0 is never sent)."""
    return seq + 1 if seq < 0xFFFF else 1


def unwrap_ms(previous: int, raw: int) -> int:
    """Unwrap the device's u32 millisecond clock: `previous` (unwrapped) plus the signed
    32-bit difference from its low 32 bits to `raw`. A difference of 2**31 or more counts
    as going back, so a clock that really steps back stays visible as such.

    post: (__return__ - raw) % 2**32 == 0
    """
    diff = (raw - previous) & 0xFFFFFFFF
    if diff >= 0x80000000:
        diff -= 0x100000000
    return previous + diff


def seq_after(a: int, b: int) -> bool:
    """Whether sequence number `a` comes after `b` (16-bit, wrapping)."""
    return 0 < ((a - b) & 0xFFFF) < 0x8000
