"""The wire protocol: the byte-level examples of specs/protocol.md, and the frame decoder
fuzzed with random bytes, flipped bits, truncated and concatenated frames (LINK-001)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iontocore.hal import protocol as p

SPEC = (Path(__file__).resolve().parents[1] / "specs" / "protocol.md").read_text("utf-8")
FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"


def spec_examples() -> list[tuple[str, bytes]]:
    rows = re.findall(r"^\| ([A-Z_]+, seq \d+[^|]*) \| `([0-9a-f ]+)` \|$", SPEC, re.M)
    return [(d, bytes.fromhex(h)) for d, h in rows]


IDENT = p.Identity(30000, 35000, 60000, 2000, 100, 10, 15, "iontocore-emu", 500)
ENCODERS = {
    "HELLO, seq 1": lambda: p.encode(p.MsgType.HELLO, 1),
    "IDENTIFY, seq 1": lambda: p.identify(1, IDENT),
    "COMMAND, seq 2": lambda: p.command(2, 15000, True, 1000),
    "COMMAND, seq 3": lambda: p.command(3, -4000, True, 500),
    "COMMAND, seq 4": lambda: p.command(4, 0, False, 1000),
    "COMMAND, seq 65535": lambda: p.command(65535, 1000, True, 1000),
    "COMMAND, seq 1": lambda: p.command(p.next_seq(65535), 1000, True, 1000),
    "SAMPLE, seq 2": lambda: p.sample(2, 30010, 15003, 30010, 1, p.STATUS_ON),
    "SAMPLE, seq 4": lambda: p.sample(4, 30020, 0, 0, None, p.STATUS_WATCHDOG),
    "SAMPLE, seq 8": lambda: p.sample(8, 4294967290, 1000, 2000, 1, p.STATUS_ON),
    "SAMPLE, seq 9": lambda: p.sample(9, 4, 1000, 2000, 1, p.STATUS_ON),
    "SAMPLE, seq 10": lambda: p.sample(10, 30030, 15000, 30000, 1, p.STATUS_ON | p.STATUS_REJECTED),
    "SAMPLE, seq 11": lambda: p.sample(11, 30040, 20000, 40000, 1, p.STATUS_ON | p.STATUS_LIMITED),
    "HEARTBEAT, seq 5": lambda: p.encode(p.MsgType.HEARTBEAT, 5),
    "RESET, seq 6": lambda: p.encode(p.MsgType.RESET, 6, 1),
    "RESET_ACK, seq 6": lambda: p.encode(p.MsgType.RESET_ACK, 6, p.RESET_REFUSED),
    "RAMP_DOWN, seq 7": lambda: p.encode(p.MsgType.RAMP_DOWN, 7),
    "FAULT, seq 7": lambda: p.encode(p.MsgType.FAULT, 7, p.DeviceFault.RAMPED_DOWN, 45000),
    "FAULT, seq 0": lambda: p.encode(p.MsgType.FAULT, 0, p.DeviceFault.WATCHDOG, 41000),
    "FAULT, seq 0 unknown code": lambda: p.encode(p.MsgType.FAULT, 0, 99, 41010),
    "SUPPLY_QUERY, seq 12": lambda: p.encode(p.MsgType.SUPPLY_QUERY, 12),
    "SUPPLY_INFO, seq 12": lambda: p.encode(p.MsgType.SUPPLY_INFO, 12, 6000, 9000),
    "SAMPLE_SUPPLY, seq 13": lambda: p.sample_supply(13, 30050, 15000, 30000, 1, p.STATUS_ON, 7400),
    "SAMPLE_SUPPLY, seq 14": lambda: p.sample_supply(14, 30060, 15000, 30000, 1, p.STATUS_ON, None),
    "MARKER, seq 15": lambda: p.marker(15, 120_000, 2, 1, "pulse"),
    "MARKER_ACK, seq 15": lambda: p.encode(p.MsgType.MARKER_ACK, 15),
    "CHANNELS_QUERY, seq 16": lambda: p.encode(p.MsgType.CHANNELS_QUERY, 16),
    "CHANNELS_INFO, seq 16": lambda: p.encode(p.MsgType.CHANNELS_INFO, 16, 2),
    "COMMAND_CH, seq 17": lambda: p.command_ch(17, 1, 15000, True, 1000),
    "COMMAND_CH, seq 18": lambda: p.command_ch(18, 2, 0, False, 1000),
    "SAMPLE_CH, seq 17": lambda: p.sample_ch(17, 1, 30070, 15000, 30000, 1, p.STATUS_ON, None),
    "SAMPLE_CH, seq 18": lambda: p.sample_ch(18, 2, 30070, 0, 0, 0, 0, None),
}
WIRE = {d.split(":")[0]: w for d, w in spec_examples()}


def frame(key: str) -> p.Frame:
    got = p.Decoder().feed(WIRE[key])
    assert len(got) == 1, key
    return got[0]


@pytest.mark.req("LINK-001")
def test_the_spec_examples_byte_for_byte() -> None:
    examples = spec_examples()
    assert len(examples) == len(ENCODERS) == len(WIRE)
    for description, wire in examples:
        key = description.split(":")[0]
        assert ENCODERS[key]() == wire, description
        assert frame(key).seq == int(re.search(r"seq (\d+)", key).group(1))  # type: ignore[union-attr]


@pytest.mark.req("LINK-007")
def test_spec_example_seq_wraps_to_1_never_0() -> None:
    assert (frame("COMMAND, seq 65535").seq, frame("COMMAND, seq 1").seq) == (65535, 1)
    assert p.next_seq(65535) == 1 and p.next_seq(0) == 1 and p.next_seq(41) == 42


@pytest.mark.req("LINK-007")
def test_spec_example_t_ms_wraps_by_plus_10_ms() -> None:
    before, after = frame("SAMPLE, seq 8").fields[0], frame("SAMPLE, seq 9").fields[0]
    assert (before, after) == (4294967290, 4)
    assert p.unwrap_ms(int(before), int(after)) - int(before) == 10   # type: ignore[arg-type]


@pytest.mark.req("LINK-006")
def test_spec_examples_status_and_fault_codes_are_judged() -> None:
    from iontocore.hal.link_checks import SampleJudge

    judge = SampleJudge(IDENT)
    rejected = frame("SAMPLE, seq 10")
    t, cur, _v, relay, status = rejected.fields
    verdict = judge.sample(rejected.seq, True, int(cur), int(relay), int(status))  # type: ignore[arg-type]
    assert verdict is not None and "rejected COMMAND seq 10" in verdict.reason
    limited = frame("SAMPLE, seq 11")
    _t, cur, _v, relay, status = limited.fields
    assert judge.sample(limited.seq, True, int(cur), int(relay), int(status)) is None  # type: ignore[arg-type]
    assert judge.limited == 1
    unknown = frame("FAULT, seq 0 unknown code")
    verdict = judge.fault_frame(unknown.seq, int(unknown.fields[0]), int(unknown.fields[1]))  # type: ignore[arg-type]
    assert verdict is not None and "unknown device fault 99" in verdict.reason
    ramped = frame("FAULT, seq 7")
    assert judge.fault_frame(7, int(ramped.fields[0]), 45000) is not None   # type: ignore[arg-type]  # unrequested
    judge.ramp_requested = True
    assert judge.fault_frame(7, int(ramped.fields[0]), 45000) is None       # type: ignore[arg-type]  # requested
    assert frame("RESET_ACK, seq 6").fields == (p.RESET_REFUSED,)
    assert p.fault_name(99) == "unknown device fault 99" and p.fault_name(1) == "WATCHDOG"


@pytest.mark.req("LINK-008")
def test_spec_example_a_duplicate_command_is_applied_and_answered_once() -> None:
    from iontocore.hal.device_rules import APPLIED, DUPLICATE, DeviceRules

    rules = DeviceRules(IDENT)
    frames = p.Decoder().feed(WIRE["COMMAND, seq 2"] * 2)
    assert [rules.command(f.seq, *f.fields, 0) for f in frames] == [APPLIED, DUPLICATE]  # type: ignore[arg-type]


@pytest.mark.req("LINK-001")
def test_spec_the_64_byte_limit_counts_encoded_bytes() -> None:
    assert len(WIRE["IDENTIFY, seq 1"]) - 1 == 46           # the longest valid frame
    d = p.Decoder()
    assert d.feed(b"\x55" * 64 + b"\x00") == [] and (d.corrupt, d.oversize) == (1, 0)
    assert d.feed(b"\x55" * 65 + b"\x00") == [] and (d.corrupt, d.oversize) == (1, 1)


@pytest.mark.req("LINK-006")
def test_spec_example_identify_name_is_ascii_padded_with_zeros() -> None:
    ident = p.parse_identity(frame("IDENTIFY, seq 1"))
    assert ident == IDENT and ident.name_raw == b"iontocore-emu\x00\x00\x00"
    assert p.decode_name(b"ab\x00cd" + b"\x00" * 11) is None
    assert p.decode_name(b"caf\xe9" + b"\x00" * 12) is None
    assert p.decode_name(b"x" * 16) == "x" * 16


def test_identity_round_trip() -> None:
    ident = IDENT
    frame, = p.Decoder().feed(p.identify(1, ident))
    assert p.parse_identity(frame) == ident


FRAMES = st.one_of(
    st.builds(p.command, st.integers(0, 0xFFFF), st.integers(-2**31, 2**31 - 1), st.booleans(),
              st.integers(0, 0xFFFF)),
    st.builds(p.sample, st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1), st.integers(-2**31, 2**31 - 1),
              st.integers(-2**31, 2**31 - 1), st.sampled_from([None, -1, 0, 1]), st.integers(0, 255)),
    st.builds(lambda s: p.encode(p.MsgType.HEARTBEAT, s), st.integers(0, 0xFFFF)),
    st.builds(p.command_ch, st.integers(0, 0xFFFF), st.integers(1, p.CHANNELS_MAX),
              st.integers(-2**31, 2**31 - 1), st.booleans(), st.integers(0, 0xFFFF)),
    st.builds(p.sample_ch, st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 2**32 - 1),
              st.integers(-2**31, 2**31 - 1), st.integers(-2**31, 2**31 - 1),
              st.sampled_from([None, -1, 0, 1]), st.integers(0, 255),
              st.one_of(st.none(), st.integers(0, 2**32 - 2))),
)


def spec_payload_sizes() -> dict[int, int]:
    """Payload bytes per message type, read from the spec's message table (not the decoder)."""
    width = {"u32": 4, "i32": 4, "u16": 2, "u8": 1, "i8": 1}
    sizes = {}
    for code, payload in re.findall(r"^\| 0x([0-9a-f]{2}) \| [A-Z_]+ \| (?:host|device) -> \w+ \| ([^|]+) \|$", SPEC, re.M):
        fields = re.findall(r"\b(u32|i32|u16|u8|i8)\b|(\d+) bytes", payload)
        sizes[int(code, 16)] = sum(width[w] if w else int(n) for w, n in fields)
    return sizes


PAYLOAD = spec_payload_sizes()


def test_the_spec_table_gives_every_type_a_size() -> None:
    assert set(PAYLOAD) == {int(t) for t in p.MsgType}
    assert PAYLOAD[p.MsgType.HELLO] == 0 and PAYLOAD[p.MsgType.COMMAND] == 7
    assert PAYLOAD[p.MsgType.IDENTIFY] == 4 * 4 + 2 + 2 + 1 + 16 + 2


@st.composite
def checksummed_bodies(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A frame with a correct CRC and COBS framing but arbitrary contents: version, type,
    seq and payload, the payload often exactly the spec's length for its type. Returns the
    wire bytes and whether the spec calls the frame valid."""
    version = draw(st.sampled_from([p.VERSION, p.VERSION, p.VERSION, 1, 3, 0, 255]))
    kind = draw(st.sampled_from(sorted(PAYLOAD)) | st.integers(0, 255))
    seq = draw(st.integers(0, 0xFFFF))
    size = PAYLOAD.get(kind, 0)
    n = draw(st.sampled_from([size, size, size + 1, max(size - 1, 0)]) | st.integers(0, 40))
    body = bytes([version, kind]) + seq.to_bytes(2, "little") + draw(st.binary(min_size=n, max_size=n))
    from cobs import cobs

    wire = cobs.encode(body + p.CRC.pack(p.crc16(body))) + b"\x00"
    valid = version == p.VERSION and kind in PAYLOAD and n == PAYLOAD[kind]
    return wire, valid


@pytest.mark.req("LINK-001")
@settings(max_examples=5_000 if FUZZ else 400)
@given(checksummed_bodies())
def test_checksummed_frames_of_any_content_are_judged_by_the_spec(case: tuple[bytes, bool]) -> None:
    """Past the CRC, the decoder accepts exactly the frames the spec's table allows (the right
    version, a known type, the payload length of that type) and drops, counted, the rest."""
    wire, valid = case
    if len(wire) > p.MAX_FRAME + 1:
        return  # oversize: its own test
    d = p.Decoder()
    got = d.feed(wire)
    if valid:
        assert len(got) == 1 and d.corrupt == 0
        assert p.encode(got[0].type, got[0].seq, *got[0].fields) == wire
    else:
        assert got == [] and d.corrupt == 1


@pytest.mark.req("LINK-001")
@settings(max_examples=5_000 if FUZZ else 200)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_and_every_chunk_is_accounted_for(data: bytes) -> None:
    d = p.Decoder()
    got = d.feed(data)
    for frame in got:  # anything accepted is a well-formed frame: it re-encodes
        assert p.encode(frame.type, frame.seq, *frame.fields) in data
    chunks = [c for c in data.split(b"\x00")[:-1] if c]  # delimited, non-empty
    assert d.frames + d.corrupt + d.oversize >= len(chunks) > 0 or not chunks
    assert d.frames == len(got)


@pytest.mark.req("LINK-001")
@settings(max_examples=5_000 if FUZZ else 300)
@given(st.lists(FRAMES, min_size=1, max_size=20), st.data())
def test_flipped_bits_are_never_accepted_and_the_next_frame_is(frames: list[bytes], data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(frames) - 1))
    victim = bytearray(frames[k])
    flips = data.draw(st.lists(st.integers(0, (len(victim) - 1) * 8 - 1), min_size=1, max_size=3,
                               unique=True))
    for bit in flips:  # 1 to 3 bit errors anywhere but the delimiter: CRC-16 catches them all
        victim[bit // 8] ^= 1 << (bit % 8)
    stream = b"".join(frames[:k]) + bytes(victim) + b"".join(frames[k + 1:])
    d = p.Decoder()
    got = d.feed(stream)
    wanted = [f for i, f in enumerate(frames) if i != k]
    # a flip that creates a zero byte splits the victim; the pieces are dropped as corrupt
    assert [p.encode(f.type, f.seq, *f.fields) for f in got] == wanted
    assert d.corrupt >= 1


@pytest.mark.req("LINK-001")
@settings(max_examples=5_000 if FUZZ else 300)
@given(st.lists(FRAMES, min_size=2, max_size=500 if FUZZ else 200), st.data())
def test_truncated_concatenated_and_chunked_streams_recover(frames: list[bytes], data: st.DataObject) -> None:
    """A frame cut short, glued to garbage, and the stream delivered in arbitrary chunks:
    the decoder recovers on the next valid frame and loses nothing else. Under the fuzz
    profile (5,000 examples of up to 500 frames) this pushes over a million frames through
    the decoder."""
    k = data.draw(st.integers(0, len(frames) - 1))
    cut = data.draw(st.integers(1, len(frames[k]) - 2))  # at least one byte short of whole
    junk = data.draw(st.binary(max_size=20).filter(lambda b: b"\x00" not in b))
    stream = b"".join(frames[:k]) + frames[k][:cut] + junk + b"\x00" + b"".join(frames[k + 1:])
    sizes = data.draw(st.lists(st.integers(1, 64), max_size=50))
    d, got, pos = p.Decoder(), [], 0
    for size in sizes:
        got += d.feed(stream[pos:pos + size])
        pos += size
    got += d.feed(stream[pos:])
    assert [p.encode(f.type, f.seq, *f.fields) for f in got] == frames[:k] + frames[k + 1:]


@pytest.mark.req("LINK-001")
def test_oversize_garbage_is_skipped_to_the_next_delimiter() -> None:
    d = p.Decoder()
    good = p.command(9, 100, True, 1000)
    assert d.feed(b"\x55" * 500 + b"\x00" + good) == [p.Frame(p.MsgType.COMMAND, 9, (100, 1, 1000))]
    assert d.oversize == 1
    assert d.feed(b"\x55" * 70) == [] and d.feed(b"\x55\x00" + good)[0].seq == 9


@pytest.mark.req("LINK-001")
@pytest.mark.parametrize("body, why", [
    (bytes([1, 2, 1, 0]) + b"\x00" * 7, "wrong version"),
    (bytes([2, 0x42, 1, 0]), "unknown type"),
    (bytes([2, 2, 1, 0, 1, 2]), "short payload"),
])
def test_well_crc_ed_but_invalid_frames_are_dropped(body: bytes, why: str) -> None:
    from cobs import cobs

    wire = cobs.encode(body + p.CRC.pack(p.crc16(body))) + b"\x00"
    d = p.Decoder()
    assert d.feed(wire) == [] and d.corrupt == 1, why


def test_sequence_arithmetic_wraps() -> None:
    assert p.seq_after(1, 0) and p.seq_after(0, 0xFFFF) and not p.seq_after(0, 1)
    assert not p.seq_after(5, 5) and not p.seq_after(0x8005, 5)


@pytest.mark.req("LINK-012")
@given(seq=st.integers(0, 0xFFFF), channel=st.integers(1, p.CHANNELS_MAX),
       setpoint=st.integers(-2**31, 2**31 - 1), enabled=st.booleans(), duty=st.integers(0, 0xFFFF),
       t=st.integers(0, 2**32 - 1), relay=st.sampled_from([None, -1, 0, 1]),
       status=st.integers(0, 255), supply=st.one_of(st.none(), st.integers(0, 2**32 - 2)))
def test_channel_frames_round_trip(seq: int, channel: int, setpoint: int, enabled: bool, duty: int,
                                   t: int, relay: int | None, status: int, supply: int | None) -> None:
    got, = p.Decoder().feed(p.command_ch(seq, channel, setpoint, enabled, duty))
    assert got == p.Frame(p.MsgType.COMMAND_CH, seq, (channel, setpoint, int(enabled), duty))
    got, = p.Decoder().feed(p.sample_ch(seq, channel, t, setpoint, -setpoint - 1, relay, status, supply))
    assert got == p.Frame(p.MsgType.SAMPLE_CH, seq, (channel, t, setpoint, -setpoint - 1,
                                                     p.RELAY_NONE if relay is None else relay,
                                                     status, p.SUPPLY_NONE if supply is None else supply))


@pytest.mark.req("LINK-012")
@pytest.mark.parametrize("channel", [0, p.CHANNELS_MAX + 1, -1, True, 1.0])
def test_a_command_for_a_channel_the_wire_cannot_carry_is_refused_naming_it(channel: object) -> None:
    with pytest.raises(ValueError, match=rf"channel = {channel!r}: allowed an integer 1..{p.CHANNELS_MAX}"):
        p.command_ch(1, channel, 0, False, 1000)  # type: ignore[arg-type]


@pytest.mark.req("LINK-012")
def test_spec_examples_of_channel_frames_carry_their_channel() -> None:
    assert [frame(k).fields[0] for k in ("COMMAND_CH, seq 17", "COMMAND_CH, seq 18",
                                         "SAMPLE_CH, seq 17", "SAMPLE_CH, seq 18")] == [1, 2, 1, 2]
    assert frame("CHANNELS_INFO, seq 16").fields == (2,)
    assert p.CAP_CHANNELS == 0x40 and p.CAP_ALL == 0x7F
