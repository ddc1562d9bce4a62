"""The host <-> output-stage wire protocol (specs/protocol.md): pure encoding and decoding.

A frame on the wire is COBS(body) followed by one 0x00 delimiter, where

    body = version:u8 | type:u8 | seq:u16 | payload | crc:u16      (little-endian)
    crc  = CRC-16/CCITT-FALSE (binascii.crc_hqx, init 0xFFFF) over version..payload

COBS guarantees the body holds no zero byte, so a receiver resynchronises at the next
0x00 after any garbage. A frame with a bad CRC, an unknown version or type, or a payload
of the wrong length is counted and dropped, never acted on.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum

from cobs import cobs

VERSION = 1
MAX_FRAME = 64
"""Longest encoded frame accepted (bytes, without the delimiter); longer input is garbage."""


class MsgType(IntEnum):
    HELLO = 0x01          # host -> device: start of a connection
    IDENTIFY = 0x81       # device -> host: its limits and capabilities
    COMMAND = 0x02        # host -> device: set-point for the next tick (re-arms the watchdog)
    SAMPLE = 0x82         # device -> host: the measurement answering a COMMAND (same seq)
    HEARTBEAT = 0x03      # host -> device: link check (does NOT re-arm the output watchdog)
    HEARTBEAT_ACK = 0x83
    RESET = 0x04          # host -> device: clear a latched device trip (service action)
    RESET_ACK = 0x84
    RAMP_DOWN = 0x05      # host -> device: ramp the output down at the device's slew, then off
    FAULT = 0x85          # device -> host: the device turned its output off by itself


class DeviceFault(IntEnum):
    WATCHDOG = 1          # no valid COMMAND within the watchdog time
    HW_TRIP = 2           # the device's own over-current trip
    RAMPED_DOWN = 3       # a RAMP_DOWN request was carried out


CAP_REVERSAL, CAP_PULSED, CAP_RELAY, CAP_LOCKSTEP = 1, 2, 4, 8
STATUS_ON, STATUS_WATCHDOG, STATUS_HW_TRIP = 1, 2, 4
RELAY_NONE = -128

PAYLOADS: dict[MsgType, struct.Struct] = {
    MsgType.HELLO: struct.Struct("<"),
    MsgType.IDENTIFY: struct.Struct("<IIIIHHB16s"),
    MsgType.COMMAND: struct.Struct("<iBH"),
    MsgType.SAMPLE: struct.Struct("<IiibB"),
    MsgType.HEARTBEAT: struct.Struct("<"),
    MsgType.HEARTBEAT_ACK: struct.Struct("<"),
    MsgType.RESET: struct.Struct("<B"),
    MsgType.RESET_ACK: struct.Struct("<B"),
    MsgType.RAMP_DOWN: struct.Struct("<"),
    MsgType.FAULT: struct.Struct("<BI"),
}
HEADER = struct.Struct("<BBH")
CRC = struct.Struct("<H")


@dataclass(frozen=True)
class Frame:
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


def crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def encode(msg: MsgType, seq: int, *fields: int | bytes) -> bytes:
    """One frame ready for the wire, delimiter included. Raises struct.error on bad fields."""
    body = HEADER.pack(VERSION, msg, seq & 0xFFFF) + PAYLOADS[msg].pack(*fields)
    return bytes(cobs.encode(body + CRC.pack(crc16(body)))) + b"\x00"


def command(seq: int, setpoint_ua: int, enabled: bool, duty_permille: int) -> bytes:
    return encode(MsgType.COMMAND, seq, setpoint_ua, 1 if enabled else 0, duty_permille)


def sample(seq: int, t_ms: int, current_ua: int, voltage_mv: int, relay: int | None,
           status: int) -> bytes:
    return encode(MsgType.SAMPLE, seq, t_ms & 0xFFFFFFFF, current_ua, voltage_mv,
                  RELAY_NONE if relay is None else relay, status)


def identify(seq: int, ident: Identity) -> bytes:
    return encode(MsgType.IDENTIFY, seq, ident.max_current_ua, ident.trip_ua, ident.compliance_mv,
                  ident.max_slew_ua_per_s, ident.watchdog_ms, ident.tick_ms, ident.capabilities,
                  ident.name.encode("ascii", "replace")[:16])


def parse_identity(frame: Frame) -> Identity:
    f = frame.fields
    name = f[7].rstrip(b"\x00").decode("ascii", "replace") if isinstance(f[7], bytes) else ""
    return Identity(int(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6]), name)


class Decoder:
    """Streaming decoder: feed bytes as they arrive, get whole valid frames back.

    Never raises on input. Counts what it drops: `corrupt` (bad COBS, CRC, version, type or
    length) and `oversize` (more than MAX_FRAME bytes without a delimiter)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skipping = False
        self.frames = 0
        self.corrupt = 0
        self.oversize = 0

    def feed(self, data: bytes) -> list[Frame]:
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
                    frame = self._decode(raw)
                    if frame is None:
                        self.corrupt += 1
                    else:
                        self.frames += 1
                        out.append(frame)
        return out

    @staticmethod
    def _decode(raw: bytes) -> Frame | None:
        try:
            body = bytes(cobs.decode(raw))
        except cobs.DecodeError:
            return None
        if len(body) < HEADER.size + CRC.size:
            return None
        data, (crc,) = body[:-CRC.size], CRC.unpack(body[-CRC.size:])
        if crc16(data) != crc:
            return None
        version, kind, seq = HEADER.unpack_from(data)
        if version != VERSION or kind not in _TYPES:
            return None
        msg = MsgType(kind)
        layout = PAYLOADS[msg]
        payload = data[HEADER.size:]
        if len(payload) != layout.size:
            return None
        return Frame(msg, seq, layout.unpack(payload))


_TYPES = frozenset(int(t) for t in MsgType)


def _split_keep(data: bytes) -> list[tuple[bytes, bool]]:
    """Split at 0x00 delimiters: (piece, ended_by_delimiter) in order."""
    parts = data.split(b"\x00")
    return [(p, True) for p in parts[:-1]] + [(parts[-1], False)]


def seq_after(a: int, b: int) -> bool:
    """Whether sequence number `a` comes after `b` (16-bit, wrapping)."""
    return 0 < ((a - b) & 0xFFFF) < 0x8000
