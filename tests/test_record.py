"""The session record survives SIGKILL at any moment (REC-001) and any damage is reported
clearly, never with a traceback (REC-002)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from iontocore import Controller, Sample, profiles
from iontocore.hal.sim import SimConfig, SimulatedDevice
from iontocore.interface import Command
from iontocore.shell.record import FLUSH_MS, decode, encode, read_record
from iontocore.shell.runner import Runner

IONTO = str(Path(sys.executable).parent / "ionto")
PROFILE = "hyperhidrosis-palms"
LIMIT_UA = 20_000


class DoseLog:
    """Replay sink: delivered dose and session time on every tick of an uninterrupted run."""

    def __init__(self) -> None:
        self.by_tick: dict[int, tuple[int, int]] = {}

    def tick(self, ctl: Controller, sample: Sample | None, cmd: Command) -> None:
        self.by_tick[ctl.tick] = (ctl.t_ms, ctl.delivered_uams)

    def events(self, ctl: Controller, events: list[object]) -> None:
        pass


@pytest.fixture(scope="module")
def replay() -> dict[int, tuple[int, int]]:
    """The same session, same seed, in-process and never killed: the truth."""
    log = DoseLog()
    Runner(Controller(profiles.load(PROFILE)), SimulatedDevice(SimConfig(tick_ms=10, seed=0)),
           sinks=[log]).run()  # type: ignore[list-item]
    return log.by_tick


def _show(path: Path) -> tuple[int, dict[str, object], str]:
    out = subprocess.run([IONTO, "record", "show", str(path), "--json"], capture_output=True,
                         text=True, timeout=60)
    human = subprocess.run([IONTO, "record", "show", str(path)], capture_output=True, text=True,
                           timeout=60)
    assert "Traceback" not in out.stderr + human.stderr
    return out.returncode, json.loads(out.stdout), human.stdout


@pytest.mark.req("REC-001")
def test_a_complete_record(tmp_path: Path, replay: dict[int, tuple[int, int]]) -> None:
    path = tmp_path / "s.rec"
    run = subprocess.run([IONTO, "run", "--profile", PROFILE, "--fast", "--json", "--record", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    code, info, human = _show(path)
    final_tick = max(replay)
    assert code == 0 and info["complete"] is True
    assert info["delivered_uams"] == replay[final_tick][1] == json.loads(run.stdout.splitlines()[-1])["delivered_uams"]
    assert "outcome     completed" in human
    rec = read_record(str(path))
    # durable at least once per second of session time while the output is on
    times = [e["t_ms"] for e in rec.entries]
    assert max(b - a for a, b in zip(times, times[1:])) <= FLUSH_MS  # REC-001: at least once per second of session time
    assert [e["dest"] for e in rec.entries if e["type"] == "state"] == \
        ["ramp_up", "treat", "polarity_swap", "treat", "ramp_down", "idle"]


@pytest.mark.req("REC-001", "REC-002")
@pytest.mark.parametrize("k", range(10))
def test_sigkill_at_a_random_simulated_moment(tmp_path: Path, k: int,
                                             replay: dict[int, tuple[int, int]]) -> None:
    """The simulator kills its own process with SIGKILL at a seeded random moment: we know the
    exact truth at that moment from the replay."""
    at_ms = random.Random(k).randrange(1_000, 1_230_000, 10)
    path = tmp_path / "k.rec"
    run = subprocess.run([IONTO, "run", "--profile", PROFILE, "--fast", "--record", str(path),
                          "--inject", f"host-crash@{at_ms / 1000}"], capture_output=True, timeout=120)
    assert run.returncode == -signal.SIGKILL
    code, info, human = _show(path)
    assert code == 1 and info["complete"] is False and info["end"] is None
    assert "no end line" in human
    tick, t_rec, dose_rec = int(info["tick"]), int(info["t_ms"]), int(info["delivered_uams"])
    # what the record says is exactly what was true at that tick ...
    assert replay[tick] == (t_rec, dose_rec)
    # ... and at most one flush interval behind the truth at the moment of the kill
    kill_tick = max(t for t, (tm, _) in replay.items() if tm <= at_ms)
    t_kill, dose_kill = replay[kill_tick]
    assert 0 <= t_kill - t_rec <= FLUSH_MS + 10, (t_kill, t_rec)
    assert 0 <= dose_kill - dose_rec <= LIMIT_UA * (FLUSH_MS + 10)


@pytest.mark.req("REC-001", "REC-002")
@pytest.mark.parametrize("k", range(6))
def test_sigkill_from_outside_at_a_random_wall_moment(tmp_path: Path, k: int,
                                                     replay: dict[int, tuple[int, int]]) -> None:
    """A real external SIGKILL, possibly in the middle of a write: whatever is left is
    readable and true. (A bounded sleep: the moment must be random in wall time.)"""
    path = tmp_path / "w.rec"
    proc = subprocess.Popen([IONTO, "run", "--profile", PROFILE, "--fast", "--tick-ms", "1",
                             "--record", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(random.Random(100 + k).uniform(0.3, 1.5))
    proc.kill()
    proc.wait(timeout=30)
    if not path.exists():
        pytest.skip("killed before the record was created")
    code, info, _ = _show(path)
    assert code in (0, 1, 2)
    if code == 2:  # killed before the header became durable
        assert "empty" in str(info["problem"]) or "header" in str(info["problem"])
        return
    rec = read_record(str(path))
    assert not rec.damaged_lines  # at most the last line is cut short
    for e in rec.entries:
        assert e["delivered_uams"] >= 0 and e["t_ms"] >= 0


def _write_record(tmp_path: Path) -> Path:
    path = tmp_path / "ok.rec"
    subprocess.run([IONTO, "run", "--profile", "acetylcholine-pulses", "--fast", "--record", str(path)],
                   check=True, capture_output=True, timeout=120)
    return path


@pytest.mark.req("REC-002")
def test_damaged_records_are_reported_not_raised(tmp_path: Path) -> None:
    good = _write_record(tmp_path).read_bytes()
    lines = good.split(b"\n")
    cases = {
        "truncated.rec": good[: len(good) - 37],
        "bitflip.rec": b"\n".join(lines[:3] + [lines[3].replace(b"1", b"2", 1)] + lines[4:]),
        "garbage.rec": b"\x00\xff not a record \n\x13",
        "empty.rec": b"",
        "json.rec": b'{"hello": "world"}\n',
        "nohdr.rec": b"\n".join(lines[1:]),
    }
    expected = {"truncated.rec": (1, "cut short"), "bitflip.rec": (1, "damaged line(s) skipped: 4"),
                "garbage.rec": (2, "not an iontocore session record"), "empty.rec": (2, "it is empty"),
                "json.rec": (2, "not an iontocore session record"),
                "nohdr.rec": (2, "not an iontocore session record")}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        code, info, human = _show(path)
        want_code, needle = expected[name]
        assert code == want_code and needle in human, (name, code, human)
    code, info, human = _show(tmp_path / "missing.rec")
    assert code == 2 and "cannot read" in human
    # a damaged header: the entries are still recovered, with a warning
    path = tmp_path / "badheader.rec"
    path.write_bytes(b"\n".join([lines[0].replace(b"header", b"heaXer", 1)] + lines[1:]))
    code, info, human = _show(path)
    assert code == 1 and "header line is damaged" in human and info["delivered_uams"]


@pytest.mark.req("REC-001")
def test_an_existing_record_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "exists.rec"
    path.write_text("precious")
    run = subprocess.run([IONTO, "run", "--profile", PROFILE, "--fast", "--record", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "never overwritten" in run.stderr
    assert path.read_text() == "precious"


def test_line_codec_round_trip_and_crc() -> None:
    obj = {"type": "progress", "t_ms": 5, "delivered_uams": 10**12}
    line = encode(obj)
    assert decode(line.rstrip(b"\n")) == obj
    assert decode(line.replace(b"10000", b"10001")) is None


class VolatileDisk:
    """A crash below the process: what a file holds after power is lost is only what was
    fsync'ed. Files opened through it keep every write in a page cache; `os.fsync` makes
    the cache durable. `durable_at[k]` is the durable length after the k-th tick."""

    def __init__(self) -> None:
        self.cache = bytearray()
        self.durable = 0
        self.fsyncs = 0
        self.fd = -1

    def open(self, path: str, mode: str = "r") -> Any:
        if mode != "xb":  # reading the record back: the real file
            return open(path, mode)
        self.fd = 1_000_003  # not a real descriptor: a real fsync on it would fail
        return self

    def write(self, data: bytes) -> int:
        self.cache += data
        return len(data)

    def flush(self) -> None:  # to the OS, not to the disk
        pass

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        pass

    def fsync(self, fd: int) -> None:
        assert fd == self.fd, "fsync of another file"
        self.fsyncs += 1
        self.durable = len(self.cache)


@pytest.mark.req("REC-001")
def test_the_record_is_forced_to_disk_a_power_cut_loses_at_most_a_flush_interval(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only "a killed process leaves a readable file" (the OS keeps its cache): after a
    power cut at any tick, the fsync'ed part alone holds the header, every state change
    and fault up to the cut, and the dose at most one flush interval behind the truth."""
    from iontocore.shell import record as record_mod

    disk = VolatileDisk()
    monkeypatch.setattr(record_mod, "open", disk.open, raising=False)
    monkeypatch.setattr(record_mod.os, "fsync", disk.fsync)

    class Truth(DoseLog):
        def __init__(self) -> None:
            super().__init__()
            self.durable_at: dict[int, int] = {}
            self.states: list[tuple[int, str]] = []

        def tick(self, ctl: Controller, sample: Sample | None, cmd: Command) -> None:
            super().tick(ctl, sample, cmd)
            self.durable_at[ctl.tick] = disk.durable

        def events(self, ctl: Controller, events: list[object]) -> None:
            self.states += [(ctl.tick, e.dest) for e in events if hasattr(e, "dest")]

    ctl = Controller(profiles.load(PROFILE))
    writer = record_mod.RecordWriter(str(tmp_path / "unused.rec"), ctl, PROFILE)
    truth = Truth()
    sim = SimulatedDevice(SimConfig(tick_ms=10, seed=0, injections=[]))
    Runner(ctl, sim, sinks=[writer, truth]).run()  # type: ignore[list-item]
    writer.close(ctl)
    assert disk.fsyncs > 1_000 and disk.durable == len(disk.cache)
    rng = random.Random(7)
    for cut in sorted(rng.sample(sorted(truth.durable_at), 25)) + [max(truth.durable_at)]:
        left = tmp_path / f"cut-{cut}.rec"
        left.write_bytes(bytes(disk.cache[:truth.durable_at[cut]]))
        rec = read_record(str(left))
        assert rec.header is not None and not rec.damaged_lines, cut
        t_cut, dose_cut = truth.by_tick[cut]
        last = rec.entries[-1]
        assert 0 <= t_cut - last["t_ms"] < FLUSH_MS, (cut, t_cut, last)
        assert 0 <= dose_cut - last["delivered_uams"] <= LIMIT_UA * FLUSH_MS, cut
        states = [e["dest"] for e in rec.entries if e["type"] == "state"]
        assert states == [s for k, s in truth.states if k <= cut], (cut, states)


@pytest.mark.req("REC-001")
def test_a_writer_that_does_not_fsync_fails_the_power_cut_test(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from iontocore.shell import record as record_mod

    def no_fsync(self: record_mod.RecordWriter, t_ms: int) -> None:  # the planted bug
        self._fh.flush()
        self._last_flush_t = t_ms
        self.flushes += 1

    monkeypatch.setattr(record_mod.RecordWriter, "_sync", no_fsync)
    with pytest.raises(AssertionError, match="fsyncs"):
        test_the_record_is_forced_to_disk_a_power_cut_loses_at_most_a_flush_interval(
            tmp_path, monkeypatch)
