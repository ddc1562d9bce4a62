"""The session history: one SQLite row per session, hash-chained, crash-safe, one writer.

- A row is written (outcome 'running') before the output starts and completed after the
  session ends; a row still 'running' when the next session takes the lock belonged to a
  run that was killed or lost power, and is closed as 'killed'.
- Every row carries the hash of the row before it and its own hash over its contents
  (SHA-256 of canonical JSON); `verify` finds an edited, deleted or reordered row and says
  which. The last row's number and hash are kept in `meta` too, so a deleted last row shows.
- One writer at a time: `lock()` holds an exclusive lock on the database file itself for the
  whole session (a lock file could be deleted under a running session); a second run is
  refused, never queued. SQLite runs in WAL mode with synchronous=FULL.
- A session starts only on an intact history: `lock()` verifies the chain and refuses a
  damaged one, so a deleted or edited row cannot be hidden by appending after it.
- Anything unreadable (a truncated file, a dropped column, a value of the wrong type, a
  read-only file) is a HistoryError naming what is wrong, never a traceback.
- The history remembers the latest time it has seen; `now_ms` refuses a clock behind it, so
  setting the clock back does not reopen a course.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
COLUMNS = ("seq", "started_ms", "ended_ms", "outcome", "reason", "rx_sha256", "rx_id",
           "rx_version", "signer", "key_id", "patient", "profile", "family", "delivered_uams",
           "treatment_ms", "pauses", "faults", "device", "trace")
"""Every hashed column, in hash order (`prev_hash` and `row_hash` are the chain)."""
OUTCOMES = ("running", "completed", "stopped", "faulted", "killed")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sessions (
  seq INTEGER PRIMARY KEY,
  started_ms INTEGER NOT NULL, ended_ms INTEGER,
  outcome TEXT NOT NULL CHECK (outcome IN {OUTCOMES!r}), reason TEXT NOT NULL,
  rx_sha256 TEXT NOT NULL, rx_id TEXT, rx_version INTEGER, signer TEXT, key_id TEXT,
  patient TEXT, profile TEXT NOT NULL, family TEXT NOT NULL,
  delivered_uams INTEGER, treatment_ms INTEGER, pauses INTEGER, faults TEXT NOT NULL,
  device TEXT NOT NULL, trace TEXT NOT NULL,
  prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class HistoryError(Exception):
    """The history cannot be used: locked by another run, damaged, or a clock behind it."""


CLOCK_MAX_MS = 4_102_444_800_000
"""2100-01-01 UTC: a clock beyond it is implausible (and one far ahead would lock the course
for good once the history had seen it)."""

_F = Callable[..., Any]


def _guarded(method: _F) -> _F:
    """Turn any database or decoding failure into a HistoryError naming the history."""
    @functools.wraps(method)
    def wrapper(self: "History", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except HistoryError:
            raise
        except (sqlite3.Error, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise HistoryError(f"{self.path}: the history cannot be read or written "
                               f"({type(exc).__name__}: {exc})") from None
    return wrapper


_INT_COLUMNS = {"seq", "started_ms"}
_OPT_INT = {"ended_ms", "rx_version", "delivered_uams", "treatment_ms", "pauses"}
_STR = {"outcome", "reason", "rx_sha256", "profile", "family", "device", "prev_hash", "row_hash"}
_OPT_STR = {"rx_id", "signer", "key_id", "patient"}


def _check_types(data: dict[str, Any]) -> None:
    """ValueError naming the column whose value has the wrong type."""
    for name, value in data.items():
        ok = ((name in _INT_COLUMNS and type(value) is int)
              or (name in _OPT_INT and (value is None or type(value) is int))
              or (name in _STR and isinstance(value, str))
              or (name in _OPT_STR and (value is None or isinstance(value, str)))
              or name in ("faults", "trace"))
        if not ok:
            raise ValueError(f"row {data.get('seq')!r}: column {name} holds {value!r}")
    if not (isinstance(data["faults"], list) and all(isinstance(f, dict) for f in data["faults"])):
        raise ValueError(f"row {data['seq']}: faults is not a list of records")
    if not (isinstance(data["trace"], list) and all(
            isinstance(p, list) and len(p) == 2 and all(type(v) is int for v in p)
            for p in data["trace"])):
        raise ValueError(f"row {data['seq']}: trace is not a list of [ms, uA] points")


@dataclass
class Row:
    """One session as stored (column names as in COLUMNS)."""

    seq: int
    started_ms: int
    outcome: str
    reason: str
    rx_sha256: str
    profile: str
    family: str
    device: str
    ended_ms: int | None = None
    rx_id: str | None = None
    rx_version: int | None = None
    signer: str | None = None
    key_id: str | None = None
    patient: str | None = None
    delivered_uams: int | None = None
    treatment_ms: int | None = None
    pauses: int | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)
    trace: list[list[int]] = field(default_factory=list)
    """A small plot: [treatment-relative ms, measured uA] points, at most a few hundred."""
    prev_hash: str = GENESIS
    row_hash: str = ""

    def content(self) -> list[Any]:
        return [getattr(self, c) for c in COLUMNS]

    def compute_hash(self) -> str:
        text = json.dumps([self.prev_hash, *self.content()], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in (*COLUMNS, "prev_hash", "row_hash")}


class History:
    """The history database at `path` (created on first use)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{self.path}: not a usable history database ({exc})") from None
        except ValueError as exc:  # an embedded NUL in the path
            raise HistoryError(f"{self.path!r}: not a usable path ({exc})") from None

    def close(self) -> None:
        self.unlock()
        self.db.close()

    # ---- the one-writer lock -----------------------------------------------------------

    def lock(self) -> None:
        """Take the writer's lock for a session (HistoryError if another run holds it), close
        the row of a killed run, and verify the chain (HistoryError if it is broken)."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError as exc:
            raise HistoryError(f"{self.path}: cannot open the history for writing "
                               f"({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise HistoryError("another session is running on this device (the history is "
                               "locked); one session at a time") from None
        self._lock_fd = fd
        try:
            self._close_killed()
            problems = self.verify()
        except BaseException:
            self.unlock()
            raise
        if problems:
            self.unlock()
            raise HistoryError("the history is damaged, no session until a clinician has "
                               f"looked at it (ionto history verify): {'; '.join(problems)}")

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self._lock_fd is None:
            raise HistoryError("writing the history needs its lock (History.lock)")
        try:
            self.db.execute("BEGIN IMMEDIATE")
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    # ---- time ------------------------------------------------------------------------

    @_guarded
    def high_water_ms(self) -> int:
        """The latest time this history has seen (0: none)."""
        row = self.db.execute("SELECT value FROM meta WHERE key='high_water_ms'").fetchone()
        latest = max((r for r in self.db.execute(
            "SELECT MAX(started_ms), MAX(ended_ms) FROM sessions").fetchone() if r), default=0)
        return max(int(row[0]) if row else 0, latest)

    def now_ms(self, clock_ms: int) -> int:
        """`clock_ms` if it is plausible and not behind the latest time seen; HistoryError
        otherwise."""
        if not 0 < clock_ms < CLOCK_MAX_MS:
            raise HistoryError(f"the clock reads {clock_ms} ms since 1970, not a plausible time "
                               "(before 2100): set the clock right before a session")
        seen = self.high_water_ms()
        if clock_ms < seen:
            from .course import utc

            raise HistoryError(f"the clock reads {utc(clock_ms)}, earlier than {utc(seen)} "
                               "already in the history: set the clock right before a session")
        return clock_ms

    # ---- rows --------------------------------------------------------------------------

    @_guarded
    def rows(self) -> list[Row]:
        """Every row, in order; HistoryError if any value is not what the schema says."""
        cur = self.db.execute(f"SELECT {', '.join(COLUMNS)}, prev_hash, row_hash FROM sessions "
                              "ORDER BY seq")
        out = []
        for values in cur.fetchall():
            data = dict(zip((*COLUMNS, "prev_hash", "row_hash"), values))
            data["faults"] = json.loads(data["faults"])
            data["trace"] = json.loads(data["trace"])
            _check_types(data)
            out.append(Row(**data))
        return out

    @_guarded
    def begin(self, row: Row, clock_ms: int) -> Row:
        """Append the row of a session about to start (outcome 'running'), before any output."""
        with self._write() as db:
            self.now_ms(clock_ms)
            last = db.execute("SELECT seq, row_hash FROM sessions ORDER BY seq DESC LIMIT 1").fetchone()
            row.seq = (last[0] + 1) if last else 1
            row.prev_hash = last[1] if last else GENESIS
            row.started_ms, row.outcome = clock_ms, "running"
            self._put(db, row, insert=True)
        return row

    @_guarded
    def complete(self, row: Row, clock_ms: int) -> Row:
        """Close the session's row with its outcome (the row is the last one: one writer)."""
        with self._write() as db:
            row.ended_ms = max(clock_ms, row.started_ms)
            self._put(db, row, insert=False)
        return row

    def _put(self, db: sqlite3.Connection, row: Row, insert: bool) -> None:
        row.row_hash = row.compute_hash()
        values = [*row.content(), row.prev_hash, row.row_hash]
        values[COLUMNS.index("faults")] = json.dumps(row.faults, sort_keys=True)
        values[COLUMNS.index("trace")] = json.dumps(row.trace)
        names = (*COLUMNS, "prev_hash", "row_hash")
        if insert:
            db.execute(f"INSERT INTO sessions ({', '.join(names)}) VALUES "
                       f"({', '.join('?' * len(names))})", values)
        else:
            db.execute(f"UPDATE sessions SET {', '.join(f'{n} = ?' for n in names)} WHERE seq = ?",
                       [*values, row.seq])
        seen = max(self.high_water_ms(), row.started_ms, row.ended_ms or 0)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('high_water_ms', ?)", (str(seen),))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('last', ?)", (f"{row.seq}:{row.row_hash}",))

    def _close_killed(self) -> None:
        """Under the lock no other run is alive: a row still 'running' was killed."""
        for row in self.rows():
            if row.outcome == "running":
                row.outcome = "killed"
                row.reason = ("the run ended without closing its row: killed, crashed or "
                              "power lost while the session ran")
                with self._write() as db:
                    row.ended_ms = None
                    self._put(db, row, insert=False)

    # ---- verification ------------------------------------------------------------------

    @_guarded
    def verify(self) -> list[str]:
        """Every break in the chain, naming the row (empty: intact)."""
        problems = []
        rows = self.rows()
        prev, expect_seq = GENESIS, 1
        for row in rows:
            if row.seq != expect_seq:
                problems.append(f"row {expect_seq} is missing (next is {row.seq}): deleted")
            if row.prev_hash != prev:
                problems.append(f"row {row.seq}: does not follow the row before it (deleted, "
                                "inserted or reordered rows)")
            if row.compute_hash() != row.row_hash:
                problems.append(f"row {row.seq}: its contents do not match its hash (edited)")
            if row.outcome not in OUTCOMES:
                problems.append(f"row {row.seq}: outcome {row.outcome!r} is not one of {OUTCOMES}")
            prev, expect_seq = row.row_hash, row.seq + 1
        last = self.db.execute("SELECT value FROM meta WHERE key='last'").fetchone()
        if rows and (last is None or last[0] != f"{rows[-1].seq}:{rows[-1].row_hash}"):
            problems.append(f"the history's last row should be {last[0] if last else '(none)'}, "
                            f"found {rows[-1].seq}: rows were deleted at the end or edited")
        if not rows and last is not None:
            problems.append(f"the history is empty but its last row was {last[0]}: rows deleted")
        return problems

    # ---- queries for the course and rollback rules ---------------------------------------

    def starts_of(self, rx_id: str, key_id: str) -> list[int]:
        """Start times of every session of a prescription (any version) that reached the
        output (every row is written just before the output starts)."""
        return [r.started_ms for r in self.rows() if r.rx_id == rx_id and r.key_id == key_id]

    def highest_version(self, rx_id: str, key_id: str) -> int:
        versions = [r.rx_version or 0 for r in self.rows() if r.rx_id == rx_id and r.key_id == key_id]
        return max(versions, default=0)
