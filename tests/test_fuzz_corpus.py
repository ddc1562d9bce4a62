"""The atheris corpus kept in the repository (tests/fuzz_corpus/<target>/, grown by
`python -m fuzz.bytelevel TARGET --runs N --merge`) replayed through the same targets the
fuzzer runs (tests/support/byte_targets.py): each parser keeps its own contract on every
input ever found to reach new coverage, and on every crash once fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

import byte_targets
from iontocore.hal.protocol import Decoder

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"


def _inputs(target: str) -> list[Path]:
    files = sorted((CORPUS / target).iterdir())
    assert len(files) >= 10, f"the {target} corpus is missing"
    return files


@pytest.mark.req("LINK-001")
def test_the_decoder_corpus_keeps_the_decoder_contract() -> None:
    for path in _inputs("decoder"):
        byte_targets.decoder(path.read_bytes())


@pytest.mark.req("REC-002")
def test_the_record_corpus_keeps_the_record_reader_contract() -> None:
    for path in _inputs("record"):
        byte_targets.record(path.read_bytes())


class _DecoderThatRaises:
    def __init__(self) -> None:
        self.frames = self.corrupt = self.oversize = 0

    def feed(self, data: bytes) -> list[object]:
        if b"\x00" in data:
            raise IndexError("planted")
        return []


class _DecoderThatLosesSplitFrames(_DecoderThatRaises):
    def feed(self, data: bytes) -> list[object]:
        whole = data.endswith(b"\x00") and data.count(b"\x00") == 1
        return list(Decoder().feed(data)) if whole else []


@pytest.mark.req("LINK-001")
@pytest.mark.parametrize("broken", [_DecoderThatRaises, _DecoderThatLosesSplitFrames])
def test_the_corpus_catches_a_broken_decoder(monkeypatch: pytest.MonkeyPatch,
                                             broken: type) -> None:
    """The replay can fail: a decoder that raises, or that loses a frame arriving in two
    pieces, breaks the contract on some corpus input."""
    monkeypatch.setattr(byte_targets.p, "Decoder", broken)
    failures = 0
    for path in _inputs("decoder"):
        try:
            byte_targets.decoder(path.read_bytes())
        except (AssertionError, IndexError):
            failures += 1
    assert failures > 0


@pytest.mark.req("REC-002")
def test_the_corpus_catches_a_record_reader_that_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def fragile(line: bytes) -> dict[str, object] | None:
        import json

        return json.loads(line)  # type: ignore[no-any-return]  # raises on damage

    monkeypatch.setattr("iontocore.shell.record.decode", fragile)
    with pytest.raises(ValueError):
        for path in _inputs("record"):
            byte_targets.record(path.read_bytes())
