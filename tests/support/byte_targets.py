"""Byte-level fuzz targets: each takes any bytes and checks its parser's own contract.

Fuzzed coverage-guided by atheris (`python -m fuzz.bytelevel decoder|record --runs N`) and
replayed over the corpus kept in tests/fuzz_corpus/<target>/ by tests/test_fuzz_corpus.py.
A target raises AssertionError when the contract is broken; any other exception escaping
is a defect too (the parsers are documented never to raise on input).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable

from iontocore.hal import protocol as p
from iontocore.shell.record import read_record, summarise


def decoder(data: bytes) -> None:
    """The frame decoder (LINK-001): never raises; the frames it returns are the same
    whether the bytes come at once or in two pieces (split where the first byte says);
    each frame re-encodes to a frame that decodes to itself; its counters add up."""
    whole = p.Decoder()
    frames = whole.feed(data)
    assert whole.frames == len(frames)
    assert whole.corrupt >= 0 and whole.oversize >= 0
    cut = data[0] % (len(data) + 1) if data else 0
    split = p.Decoder()
    assert split.feed(data[:cut]) + split.feed(data[cut:]) == frames, cut
    assert (split.frames, split.corrupt, split.oversize) == (
        whole.frames, whole.corrupt, whole.oversize), cut
    for frame in frames:
        assert isinstance(frame.type, p.MsgType) and 0 <= frame.seq <= 0xFFFF
        again = p.Decoder().feed(p.encode(frame.type, frame.seq, *frame.fields))
        assert again == [frame]


_DIR = tempfile.mkdtemp(prefix="ionto-fuzz-record-")
atexit.register(shutil.rmtree, _DIR, True)
_PATH = os.path.join(_DIR, "record.jsonl")


def record(data: bytes) -> None:
    """The session-record reader (REC-002): whatever the file holds, read_record and the
    summary `ionto record show` prints never raise; damaged lines are numbered within the
    file, in order; an intact header comes from line 1; a record with a problem says so."""
    with open(_PATH, "wb") as fh:
        fh.write(data)
    rec = read_record(_PATH)
    lines = data.split(b"\n")
    assert rec.damaged_lines == sorted(set(rec.damaged_lines))
    assert all(1 <= n <= len(lines) for n in rec.damaged_lines)
    assert isinstance(rec.problem, str)
    if rec.header is not None:
        assert rec.header.get("type") == "header"
    for entry in rec.entries:
        assert entry.get("type") in ("state", "fault", "progress", "end")
    text = "\n".join(summarise(rec, _PATH))
    text.encode("utf-8", "backslashreplace")
    if rec.problem:
        assert rec.problem in text


TARGETS: dict[str, Callable[[bytes], None]] = {"decoder": decoder, "record": record}
