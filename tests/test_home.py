"""Home use (issue 13; HOME-001 to HOME-006, specs/threat_model.md): signed prescriptions,
the device's checks before a session, courses, the hash-chained history, the report and the
FHIR export. Each test plays one threat of the threat model and expects a clear refusal with
nothing lost."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cryptography")

import browser  # noqa: E402
from iontocore import profiles  # noqa: E402
from iontocore.home.course import HOUR_MS, WEEK_MS, Course, CourseError, judge  # noqa: E402
from iontocore.home.history import History, HistoryError, Row  # noqa: E402
from iontocore.home.signing import (Refused, load_private_key, new_key_pair, sign,  # noqa: E402
                                    verify_text)
from iontocore.home.trust import HomeConfig, admit, load_config  # noqa: E402
from iontocore.shell import cli  # noqa: E402

DAY_MS = 24 * HOUR_MS
T0 = 1_790_000_000_000  # 2026-09-21, a fixed clock for every test
PALMS = profiles.builtin_text("hyperhidrosis-palms")
COURSE = Course.parse({"min_hours_between": 20, "sessions": 12,
                       "phase": [{"weeks": 2, "sessions_per_week": 5}, {"sessions_per_week": 1}]})


@pytest.fixture
def clinic(tmp_path: Path) -> dict[str, object]:
    """Two clinicians' keys, a device trusting the first, a signed palms prescription."""
    a = new_key_pair(tmp_path / "a.key", tmp_path / "a.pub.toml", "Dr A")
    b = new_key_pair(tmp_path / "b.key", tmp_path / "b.pub.toml", "Dr B")
    (tmp_path / "device.toml").write_text(
        'device_id = "unit-1"\npatient = "P-1"\nhistory = "h.sqlite"\n'
        '[signatures]\nrequired = true\ntrusted = ["a.pub.toml"]\n', "utf-8")
    config = load_config(tmp_path / "device.toml")
    key = load_private_key(tmp_path / "a.key")
    signed = sign(PALMS, key, "Dr A", "palms-1", 2, "P-1", dt.date(2026, 12, 31), COURSE.to_toml())
    return {"dir": tmp_path, "a": a, "b": b, "config": config, "key": key,
            "key_b": load_private_key(tmp_path / "b.key"), "signed": signed.encode("utf-8")}


def _admit(c: dict[str, object], data: bytes, now: int = T0, config: HomeConfig | None = None) -> str:
    cfg = config or c["config"]
    assert isinstance(cfg, HomeConfig)
    history = History(cfg.history)
    try:
        return admit(data, cfg, history, now).reason
    finally:
        history.close()


def _refused(c: dict[str, object], data: bytes, match: str, **kw: object) -> None:
    with pytest.raises((Refused, HistoryError), match=match):
        _admit(c, data, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- keys (HOME-002)

@pytest.mark.req("HOME-002")
def test_a_private_key_is_owner_only_passphrase_protected_and_never_overwritten(tmp_path: Path) -> None:
    new_key_pair(tmp_path / "k.key", tmp_path / "k.pub.toml", "Dr K", b"correct horse")
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED" in (tmp_path / "k.key").read_bytes()
    load_private_key(tmp_path / "k.key", b"correct horse")
    with pytest.raises(Refused, match="wrong passphrase"):
        load_private_key(tmp_path / "k.key", b"wrong")
    with pytest.raises(Refused, match="encrypted|password"):
        load_private_key(tmp_path / "k.key")
    with pytest.raises(Refused, match="exists; a key is never overwritten"):
        new_key_pair(tmp_path / "k.key", tmp_path / "other.pub.toml", "Dr K")
    os.chmod(tmp_path / "k.key", 0o640)
    with pytest.raises(Refused, match="readable by others"):
        load_private_key(tmp_path / "k.key", b"correct horse")


# ---------------------------------------------------------------- signatures (HOME-001)

@pytest.mark.req("HOME-001")
def test_a_signed_prescription_is_accepted_and_carries_its_profile(clinic: dict[str, object]) -> None:
    a = clinic["a"]
    s = verify_text(clinic["signed"], {a.key_id: a})  # type: ignore[union-attr, attr-defined, arg-type]
    assert s.profile_text == PALMS and (s.prescription_id, s.version, s.patient) == ("palms-1", 2, "P-1")
    assert Course.parse(s.course or {}) == COURSE
    assert "the first session of the course" in _admit(clinic, clinic["signed"])  # type: ignore[arg-type]


@pytest.mark.req("HOME-001")
def test_every_edited_byte_is_refused(clinic: dict[str, object]) -> None:
    data = clinic["signed"]
    assert isinstance(data, bytes)
    a = clinic["a"]
    keys = {a.key_id: a}  # type: ignore[attr-defined]
    for k in range(len(data)):
        edited = data[:k] + bytes([data[k] ^ 0x01]) + data[k + 1:]
        with pytest.raises(Refused):
            verify_text(edited, keys)  # type: ignore[arg-type]


@pytest.mark.req("HOME-001")
def test_truncated_garbage_and_swapped_signatures_are_refused(clinic: dict[str, object]) -> None:
    data = clinic["signed"]
    assert isinstance(data, bytes)
    a = clinic["a"]
    keys = {a.key_id: a}  # type: ignore[attr-defined]
    for n in range(0, len(data), 7):
        with pytest.raises(Refused):
            verify_text(data[:n], keys)  # type: ignore[arg-type]
    for junk in (b"", b"\x00" * 300, os.urandom(2000), b"\n[signature]\n", "é".encode() * 40):
        with pytest.raises(Refused):
            verify_text(junk, keys)  # type: ignore[arg-type]
    other = sign(profiles.builtin_text("hyperhidrosis-soles"), clinic["key"], "Dr A", "soles-1", 1,  # type: ignore[arg-type]
                 "P-1").encode()
    body, trailer = data.rsplit(b"\n[signature]\n", 1)
    _, other_trailer = other.rsplit(b"\n[signature]\n", 1)
    with pytest.raises(Refused, match="does not match"):
        verify_text(body + b"\n[signature]\n" + other_trailer, keys)  # type: ignore[arg-type]
    with pytest.raises(Refused, match="something follows"):
        verify_text(data + b"[current]\ntarget_ma = 30\n", keys)  # type: ignore[arg-type]


@pytest.mark.req("HOME-001")
def test_unknown_revoked_expired_other_patient_and_unsigned_are_refused(clinic: dict[str, object]) -> None:
    config = clinic["config"]
    assert isinstance(config, HomeConfig)
    by_b = sign(PALMS, clinic["key_b"], "Dr B", "palms-1", 3, "P-1").encode()  # type: ignore[arg-type]
    _refused(clinic, by_b, "does not trust")
    revoked = HomeConfig(**{**config.__dict__, "revoked": frozenset({clinic["a"].key_id})})  # type: ignore[attr-defined]
    _refused(clinic, clinic["signed"], "revoked", config=revoked)  # type: ignore[arg-type]
    _refused(clinic, clinic["signed"], "expired on 2026-12-31",  # type: ignore[arg-type]
             now=int(dt.datetime(2027, 1, 1, 12, tzinfo=dt.timezone.utc).timestamp() * 1000))
    other = sign(PALMS, clinic["key"], "Dr A", "palms-1", 2, "P-2").encode()  # type: ignore[arg-type]
    _refused(clinic, other, "for patient P-2, this device's patient is P-1")
    _refused(clinic, PALMS.encode(), "signed prescriptions only")
    lenient = HomeConfig(**{**config.__dict__, "require_signature": False})
    assert "unsigned" in _admit(clinic, PALMS.encode(), config=lenient)


@pytest.mark.req("HOME-001", "HOME-004")
def test_an_older_version_than_one_used_is_refused(clinic: dict[str, object]) -> None:
    config = clinic["config"]
    assert isinstance(config, HomeConfig)
    _record(config, "palms-1", 2, clinic["a"].key_id, T0)  # type: ignore[attr-defined]
    v1 = sign(PALMS, clinic["key"], "Dr A", "palms-1", 1, "P-1").encode()  # type: ignore[arg-type]
    _refused(clinic, v1, "version 1 of prescription palms-1 is older than version 2", now=T0 + 2 * DAY_MS)
    v3 = sign(PALMS, clinic["key"], "Dr A", "palms-1", 3, "P-1").encode()  # type: ignore[arg-type]
    assert "no course" in _admit(clinic, v3, now=T0 + 2 * DAY_MS)


def _record(config: HomeConfig, rx_id: str, version: int, key_id: str, at: int,
            outcome: str = "completed") -> None:
    history = History(config.history)
    history.lock()
    row = history.begin(Row(seq=0, started_ms=0, outcome="running", reason="", rx_sha256="x",
                            profile="p", family="tap-water", device="unit-1", rx_id=rx_id,
                            rx_version=version, key_id=key_id), at)
    if outcome != "running":
        row.outcome, row.reason, row.delivered_uams = outcome, "done", 1_000
        history.complete(row, at + 20 * 60_000)
    history.close()


# ---------------------------------------------------------------- course (HOME-003)

@pytest.mark.req("HOME-003")
def test_the_course_allows_sessions_by_gap_week_phase_and_total() -> None:
    assert judge(COURSE, [], T0).allowed
    v = judge(COURSE, [T0], T0 + 19 * HOUR_MS)
    assert not v.allowed and v.next_ms == T0 + 20 * HOUR_MS and "at least 20 h" in v.reason
    assert judge(COURSE, [T0], T0 + 20 * HOUR_MS).allowed  # the boundary acts
    five = [T0 + k * DAY_MS for k in range(5)]
    v = judge(COURSE, five, T0 + 5 * DAY_MS)
    assert not v.allowed and v.next_ms == T0 + WEEK_MS and "at most 5 sessions in any 7 days" in v.reason
    assert judge(COURSE, five, T0 + WEEK_MS).allowed
    # phase 2 (after two weeks): one a week
    late = [T0 + k * DAY_MS for k in range(5)] + [T0 + 14 * DAY_MS]
    v = judge(COURSE, late, T0 + 16 * DAY_MS)
    assert not v.allowed and v.next_ms == T0 + 21 * DAY_MS
    done = [T0 + k * WEEK_MS for k in range(12)]
    v = judge(COURSE, done, T0 + 13 * WEEK_MS)
    assert not v.allowed and v.next_ms is None and "complete: 12 of 12" in v.reason
    ends = Course.parse({"phase": [{"weeks": 1, "sessions_per_week": 7}]})
    v = judge(ends, [T0], T0 + WEEK_MS)
    assert not v.allowed and "the course ended" in v.reason


@pytest.mark.req("HOME-003")
@pytest.mark.parametrize("table, message", [
    ({"min_hours_between": -1}, "course.min_hours_between = -1"),
    ({"sessions": 0}, "course.sessions = 0"),
    ({"sessions_per_week": 8}, "course.sessions_per_week = 8"),
    ({"phase": [{"sessions_per_week": 2}, {"weeks": 2, "sessions_per_week": 1}]},
     "course.phase[1].weeks: required"),
    ({"phases": []}, "course.phases: not a course key"),
    ({"phase": [{"weeks": 2, "sessions_per_week": 1, "daily": True}]}, "course.phase[1].daily"),
])
def test_a_bad_course_is_refused_naming_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(CourseError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Course.parse(table)


@pytest.mark.req("HOME-003", "HOME-001")
def test_a_session_too_soon_is_refused_and_setting_the_clock_back_does_not_help(
        clinic: dict[str, object]) -> None:
    config = clinic["config"]
    assert isinstance(config, HomeConfig)
    _record(config, "palms-1", 2, clinic["a"].key_id, T0)  # type: ignore[attr-defined]
    _refused(clinic, clinic["signed"], "the next session is allowed from", now=T0 + 3 * HOUR_MS)  # type: ignore[arg-type]
    _refused(clinic, clinic["signed"], "earlier than .* already in the history",  # type: ignore[arg-type]
             now=T0 - 30 * DAY_MS)
    assert "session 2 of the course" in _admit(clinic, clinic["signed"], now=T0 + DAY_MS)  # type: ignore[arg-type]


# ---------------------------------------------------------------- history (HOME-004, HOME-005)

def _history_with(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "h.sqlite"
    config = HomeConfig("unit-1", path)
    for k in range(n):
        _record(config, "palms-1", 1, "ed25519:0000000000000000", T0 + k * DAY_MS)
    return path


@pytest.mark.req("HOME-004")
def test_a_killed_run_shows_as_killed_and_one_writer_at_a_time(tmp_path: Path) -> None:
    path = _history_with(tmp_path, 1)
    _record(HomeConfig("unit-1", path), "palms-1", 1, "k", T0 + 2 * DAY_MS, outcome="running")
    first = History(path)
    first.lock()  # the next session: the 'running' row's run is gone
    rows = first.rows()
    assert [r.outcome for r in rows] == ["completed", "killed"] and "killed" in rows[1].reason
    second = History(path)
    with pytest.raises(HistoryError, match="another session is running"):
        second.lock()
    first.close()
    second.lock()  # free again once the first run ends
    second.close()
    assert History(path).verify() == []


@pytest.mark.req("HOME-005")
@pytest.mark.parametrize("tamper, expected", [
    ("UPDATE sessions SET delivered_uams = 999999 WHERE seq = 2", "row 2: its contents do not match its hash (edited)"),
    ("DELETE FROM sessions WHERE seq = 2", "row 2 is missing (next is 3): deleted"),
    ("DELETE FROM sessions WHERE seq = 4", "last row should be 4:"),
    ("UPDATE sessions SET seq = -2 WHERE seq = 2; UPDATE sessions SET seq = 2 WHERE seq = 3; "
     "UPDATE sessions SET seq = 3 WHERE seq = -2", "does not follow the row before it"),
    ("UPDATE sessions SET outcome = 'completed', reason = 'fine' WHERE seq = 1", "row 1: its contents"),
])
def test_an_edited_deleted_or_reordered_row_is_found_and_named(tmp_path: Path, tamper: str,
                                                               expected: str) -> None:
    path = _history_with(tmp_path, 4)
    assert History(path).verify() == []
    db = sqlite3.connect(path)
    db.executescript(tamper)
    db.commit()
    db.close()
    problems = History(path).verify()
    assert any(expected in p for p in problems), problems


@pytest.mark.req("HOME-005")
def test_a_truncated_or_garbage_history_gives_a_clear_error(tmp_path: Path) -> None:
    path = _history_with(tmp_path, 3)
    data = path.read_bytes()
    for cut in (len(data) // 2, 100):
        broken = tmp_path / f"cut{cut}.sqlite"
        broken.write_bytes(data[:cut])
        with pytest.raises(HistoryError, match="not a usable history database"):
            History(broken).rows()
    garbage = tmp_path / "g.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(HistoryError, match="not a usable history database"):
        History(garbage)


# ---------------------------------------------------------------- end to end (HOME-001..006)

def _ionto(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "ionto"
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.req("HOME-001", "HOME-003", "HOME-004", "HOME-006")
def test_keys_sign_run_refuse_history_report_and_fhir_from_the_command_line(tmp_path: Path) -> None:
    fhir = pytest.importorskip("fhir.resources.R4B.bundle")
    assert _ionto("keys", "new", "--name", "Dr A", "--out", "a", cwd=tmp_path).returncode == 0
    (tmp_path / "palms.toml").write_text(PALMS, "utf-8")
    (tmp_path / "course.toml").write_text("min_hours_between = 20\nsessions_per_week = 5\n", "utf-8")
    out = _ionto("sign", "palms.toml", "--key", "a.key", "--id", "palms-1", "--patient", "P-1",
                 "--course", "course.toml", "-o", "rx.toml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (tmp_path / "device.toml").write_text(
        'device_id = "unit-1"\npatient = "P-1"\nhistory = "h.sqlite"\n'
        '[signatures]\ntrusted = ["a.pub.toml"]\n', "utf-8")
    ran = _ionto("run", "--profile", "rx.toml", "--config", "device.toml", "--fast", "--json",
                 cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    again = _ionto("run", "--profile", "rx.toml", "--config", "device.toml", "--fast", cwd=tmp_path)
    assert again.returncode == 2 and "the next session is allowed from" in again.stderr
    (tmp_path / "edited.toml").write_bytes((tmp_path / "rx.toml").read_bytes().replace(
        b"target_ma = 15", b"target_ma = 19"))
    edited = _ionto("run", "--profile", "edited.toml", "--config", "device.toml", "--fast", cwd=tmp_path)
    assert edited.returncode == 2 and "edited after signing" in edited.stderr
    listed = _ionto("history", "--config", "device.toml", "--json", cwd=tmp_path)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["seq"], r["outcome"], r["rx_id"]) for r in rows] == [(1, "completed", "palms-1")]
    assert rows[0]["delivered_uams"] == json.loads(ran.stdout.splitlines()[-1])["delivered_uams"]
    assert 100 <= len(rows[0]["trace"]) <= 240
    assert _ionto("history", "--config", "device.toml", "verify", cwd=tmp_path).returncode == 0
    assert _ionto("history", "--config", "device.toml", "export", "--fhir", "-o", "b.json",
                  cwd=tmp_path).returncode == 0
    bundle = fhir.Bundle.model_validate_json((tmp_path / "b.json").read_text("utf-8"))
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds == ["Procedure", "Observation", "Observation", "Observation"]
    dose = bundle.entry[1].resource
    assert dose.valueQuantity.unit == "mA.min" and abs(
        float(dose.valueQuantity.value) - rows[0]["delivered_uams"] / 60e6) < 1e-3
    assert _ionto("report", "--config", "device.toml", "-o", "r.html", cwd=tmp_path).returncode == 0
    page = (tmp_path / "r.html").read_text("utf-8")
    assert "History integrity: verified" in page and "<script" not in page and "http" not in \
        page.replace("http://www.w3.org/2000/svg", "")
    _render_in_chromium(tmp_path / "r.html", ["Iontophoresis sessions", "History integrity: verified",
                                               "palms-1", "completed", "292.37 mA·min"])


def _render_in_chromium(page: Path, expected: list[str]) -> None:
    """Render the page in headless Chromium (Debian's package) and check the text shown."""
    dom = browser.dump_dom(page)
    for text in expected:
        assert text in dom, text


# ---------------------------------------------------------------- review findings (issue 13)

@pytest.mark.req("HOME-005", "HOME-003")
@pytest.mark.parametrize("tamper", [
    "DELETE FROM sessions WHERE seq = 3",                      # the last row: hidden by appending
    "DELETE FROM sessions WHERE seq = 2",
    "UPDATE sessions SET started_ms = started_ms - 172800000 WHERE seq = 3",  # reopens the course
])
def test_no_session_starts_on_a_damaged_history(tmp_path: Path, tamper: str) -> None:
    """Review finding: a deleted or edited row was hidden by the next session's row, and an
    edited start time reopened the course: the chain is verified before every session."""
    path = _history_with(tmp_path, 3)
    db = sqlite3.connect(path)
    db.execute(tamper)
    db.commit()
    db.close()
    history = History(path)
    with pytest.raises(HistoryError, match="the history is damaged, no session"):
        history.lock()
    with pytest.raises(HistoryError, match="writing the history needs its lock"):
        history.begin(Row(seq=0, started_ms=0, outcome="running", reason="", rx_sha256="x",
                          profile="p", family="tap-water", device="d"), T0 + 9 * DAY_MS)
    history.close()


@pytest.mark.req("HOME-004")
def test_the_lock_is_the_database_itself(tmp_path: Path) -> None:
    """Review finding: deleting a separate lock file let a second session start and mark the
    first one killed."""
    path = _history_with(tmp_path, 1)
    first = History(path)
    first.lock()
    for leftover in tmp_path.glob("*.lock"):
        leftover.unlink()
    with pytest.raises(HistoryError, match="another session is running"):
        History(path).lock()
    first.close()


@pytest.mark.req("HOME-005")
@pytest.mark.parametrize("tamper, named", [
    ("UPDATE sessions SET started_ms = 'yesterday' WHERE seq = 1", "column started_ms"),
    ("UPDATE sessions SET faults = '{\"a\": 1}' WHERE seq = 1", "faults is not a list"),
    ("UPDATE sessions SET trace = 'null' WHERE seq = 1", "trace is not a list"),
    ("UPDATE meta SET value = 'abc' WHERE key = 'high_water_ms'", "ValueError"),
    ("ALTER TABLE sessions DROP COLUMN trace", "no such column: trace"),
])
def test_a_damaged_value_is_a_clear_error_on_every_command(tmp_path: Path, tamper: str,
                                                            named: str) -> None:
    path = _history_with(tmp_path, 2)
    db = sqlite3.connect(path)
    db.execute(tamper)
    db.commit()
    db.close()
    (tmp_path / "device.toml").write_text(f'device_id = "u"\nhistory = "{path.name}"\n'
                                          "[signatures]\nrequired = false\n", "utf-8")
    commands = [["history"], ["history", "verify"], ["report", "-o", "r.html"],
                ["history", "export", "--fhir", "-o", "f.json"]]
    if "meta" in tamper:  # read when a session asks for the time, not by the listings
        commands = [["run", "--profile", "hyperhidrosis-palms", "--fast"]]
    for args in commands:
        cmd = [args[0], "--config", "device.toml", *args[1:]]
        out = _ionto(*cmd, cwd=tmp_path)
        assert out.returncode == 2 and "Traceback" not in out.stderr, (args, out.stderr)
        assert named in out.stderr, (args, out.stderr)


@pytest.mark.req("HOME-001")
@pytest.mark.parametrize("entry", ["ED25519:882A0000000000AA", " ed25519:882a0000000000aa",
                                   "882a0000000000aa", "ed25519:882a"])
def test_a_revocation_entry_that_is_not_a_key_id_is_refused(tmp_path: Path, entry: str) -> None:
    new_key_pair(tmp_path / "a.key", tmp_path / "a.pub.toml", "Dr A")
    (tmp_path / "device.toml").write_text(
        f'device_id = "u"\nhistory = "h.sqlite"\n[signatures]\ntrusted = ["a.pub.toml"]\n'
        f"revoked = [{json.dumps(entry)}]\n", "utf-8")
    with pytest.raises(Refused, match="is not a key id"):
        load_config(tmp_path / "device.toml")
    (tmp_path / "device.toml").write_text(
        'device_id = "u"\nhistory = "h.sqlite"\n[signatures]\ntrusted = "a.pub.toml"\n', "utf-8")
    with pytest.raises(Refused, match="signatures.trusted: a list"):
        load_config(tmp_path / "device.toml")


@pytest.mark.req("HOME-001")
def test_a_prescription_naming_no_patient_is_refused_by_a_device_with_one(
        clinic: dict[str, object]) -> None:
    anyone = sign(PALMS, clinic["key"], "Dr A", "palms-9", 1).encode()  # type: ignore[arg-type]
    _refused(clinic, anyone, "names no patient; this device runs only prescriptions for its patient P-1")


@pytest.mark.req("HOME-001")
def test_a_damaged_signed_file_is_refused_as_damaged_even_when_signatures_are_optional(
        clinic: dict[str, object]) -> None:
    config = clinic["config"]
    assert isinstance(config, HomeConfig)
    lenient = HomeConfig(**{**config.__dict__, "require_signature": False})
    data = clinic["signed"]
    assert isinstance(data, bytes)
    for damaged, why in ((data.replace(b"\n", b"\r\n"), "damaged"), (data + b"\n", "something follows")):
        for cfg in (config, lenient):
            _refused(clinic, damaged, why, config=cfg)


@pytest.mark.req("HOME-003")
def test_an_implausible_clock_is_refused(clinic: dict[str, object]) -> None:
    _refused(clinic, clinic["signed"], "not a plausible time", now=253_402_300_800_000)  # type: ignore[arg-type]  # year 10000


@pytest.mark.req("HOME-001", "HOME-002")
def test_unwritable_outputs_are_clear_refusals(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    out = _ionto("keys", "new", "--name", "A", "--out", str(missing / "k"), cwd=tmp_path)
    assert out.returncode == 2 and "No such file or directory" in out.stderr, out.stderr
    assert _ionto("keys", "new", "--name", "A", "--out", "a", cwd=tmp_path).returncode == 0
    (tmp_path / "palms.toml").write_text(PALMS, "utf-8")
    out = _ionto("sign", "palms.toml", "--key", "a.key", "--id", "p", "--patient", "P",
                 "-o", str(missing / "rx.toml"), cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "-o " in out.stderr
    out = _ionto("sign", "palms.toml", "--key", "a.key", "--id", "p", "-o", "rx.toml", cwd=tmp_path)
    assert out.returncode == 2 and "--patient" in out.stderr  # a patient, or --any-patient
