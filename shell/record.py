"""The session record: an append-only, crash-proof log of what was prescribed and delivered.

One JSON object per line, each carrying a CRC-32 of itself, written and fsync'ed at every
state change and fault, and at least once per second of session time while the output is
on (REC-001). Killing the process at any moment loses at most the line being written and
at most one flush interval of dose. `read_record` recovers what is intact and says what
is not (REC-002); it never raises on bad content.

Lines (`type`): header, state, fault, progress, end; research protocols add marker (a step
boundary, RX-010) and pulse (a closed pulse's report, RX-009), from format version 2.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO

from iontocore import __version__
from iontocore.controller import Controller, Event
from iontocore.events import Marker, PulseReport, StateChanged
from iontocore.faults import FaultRecord
from iontocore.interface import Command, Sample

FORMAT = "iontocore-record"
VERSION = 2
"""2: marker and pulse lines (issue 16). A version 1 reader refuses their kinds."""
FLUSH_MS = 1_000


def encode(obj: dict[str, Any]) -> bytes:
    """One record line: canonical JSON with a `crc` (CRC-32 of the JSON without it)."""
    body = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain)
    crc = zlib.crc32(body.encode("utf-8"))
    return (body[:-1] + f',"crc":"{crc:08x}"}}' + "\n").encode("utf-8")


def decode(line: bytes) -> dict[str, Any] | None:
    """The object of one line, or None when it is not intact."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("crc"), str):
        return None
    crc = obj.pop("crc")
    body = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return obj if f"{zlib.crc32(body.encode('utf-8')):08x}" == crc else None


def _plain(value: object) -> object:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not serialisable: {type(value).__name__}")


class RecordWriter:
    """A TickSink that writes the record. Opens FILE exclusively: an existing record is
    never overwritten (FileExistsError)."""

    def __init__(self, path: str, controller: Controller, profile: str,
                 flush_ms: int = FLUSH_MS, extra: dict[str, Any] | None = None) -> None:
        self._fh: BinaryIO = open(path, "xb")  # noqa: SIM115 - closed in close()
        self.flush_ms = flush_ms
        self._last_flush_t = 0
        self.flushes = 0
        ctl = controller
        self._write({
            "type": "header", "format": FORMAT, "version": VERSION, "iontocore": __version__,
            "profile": profile, "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "tick_ms": ctl.tick_ms, "limit_ua": ctl.limit_ua, "trip_ua": ctl.trip_ua,
            "slew_ua_per_s": ctl.slew_ua_per_s,
            "prescription": dataclasses.asdict(ctl.prescription),
            "device": dataclasses.asdict(ctl.device),
            "supervision": dataclasses.asdict(ctl.supervision),
            **(extra or {}),
        })

    def tick(self, ctl: Controller, sample: Sample | None, command: Command) -> None:
        t = ctl.t_ms
        if command.enabled and t - self._last_flush_t >= self.flush_ms:
            self._write({"type": "progress", "tick": ctl.tick, "t_ms": t, "state": ctl.state,
                         "setpoint_ua": command.setpoint_ua, "delivered_uams": ctl.delivered_uams,
                         "treatment_ms": ctl.treatment_ms, "paused_ms": ctl.paused_ms})

    def events(self, ctl: Controller, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, StateChanged):
                obj: dict[str, Any] = {"type": "state", **ev.as_dict()}
            elif isinstance(ev, Marker):
                obj = {"type": "marker", **ev.as_dict()}
            elif isinstance(ev, PulseReport):  # its own charge apart from the session's
                obj = {"type": "pulse", "tick": ctl.tick, "t_ms": ctl.t_ms, "pulse": ev.as_dict()}
            else:
                obj = {"type": "fault", **ev.as_dict()}
            obj.update(delivered_uams=ctl.delivered_uams, treatment_ms=ctl.treatment_ms)
            self._write(obj, sync=False)
        self._sync(ctl.t_ms)

    def close(self, ctl: Controller) -> None:
        self._write({"type": "end", "outcome": ctl.outcome or "incomplete",
                     "end_reason": ctl.end_reason, "final_state": ctl.state, "tick": ctl.tick,
                     "t_ms": ctl.t_ms, "delivered_uams": ctl.delivered_uams,
                     "treatment_ms": ctl.treatment_ms, "paused_ms": ctl.paused_ms,
                     "faults": [f.as_dict() for f in ctl.faults]})
        self._fh.close()

    def _write(self, obj: dict[str, Any], sync: bool = True) -> None:
        self._fh.write(encode(obj))
        if sync:
            self._sync(int(obj.get("t_ms", self._last_flush_t)))

    def _sync(self, t_ms: int) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._last_flush_t = t_ms
        self.flushes += 1


@dataclass
class Recovered:
    """What `read_record` could recover, and what it could not."""

    header: dict[str, Any] | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    damaged_lines: list[int] = field(default_factory=list)
    truncated_tail: bool = False
    problem: str = ""  # set when nothing usable could be read

    @property
    def complete(self) -> bool:
        return (self.header is not None and self.end is not None and not self.damaged_lines
                and not self.truncated_tail)

    @property
    def last(self) -> dict[str, Any] | None:
        """The newest intact entry that carries the delivered dose."""
        candidates: list[dict[str, Any]] = self.entries + ([self.end] if self.end else [])
        return next((obj for obj in reversed(candidates) if "delivered_uams" in obj), None)


_INT, _STR, _OPT_INT = (int,), (str,), (int, type(None))
SCHEMA: dict[str, dict[str, tuple[type, ...]]] = {
    "header": {"format": _STR, "profile": _STR, "prescription": (dict,)},
    "state": {"t_ms": _INT, "tick": _INT, "source": _STR, "dest": _STR, "trigger": _STR,
              "reason": _STR},
    "fault": {"t_ms": _INT, "tick": _INT, "code": _STR, "reaction": _STR, "reason": _STR},
    "progress": {"t_ms": _INT, "delivered_uams": _INT},
    "end": {"outcome": _STR, "end_reason": _STR, "delivered_uams": _INT},
    "marker": {"t_ms": _INT, "tick": _INT, "session_ms": _INT, "label": _STR, "kind": _STR,
               "step": _INT, "pulse": _INT},
    "pulse": {"t_ms": _INT, "pulse": (dict,)},
}
"""The fields each kind of line must carry, with their types (REC-002): a CRC-valid line
without them is reported as damaged, never trusted."""
_OPTIONAL = {"treatment_ms": _OPT_INT, "delivered_uams": _INT, "t_ms": _OPT_INT, "tick": _OPT_INT, "version": _OPT_INT,
             "iontocore": (str, type(None)), "started_utc": (str, type(None)),
             "limit_ua": _OPT_INT}


def _well_formed(obj: dict[str, Any]) -> bool:
    need = SCHEMA.get(obj.get("type"))  # type: ignore[arg-type]
    if need is None:
        return False
    for key, types in need.items():
        value = obj.get(key)
        if type(value) not in types or (type(value) is int and not -2**62 < value < 2**62):
            return False
    for key, types in _OPTIONAL.items():
        if key in obj and key not in need and type(obj[key]) not in types:
            return False
        if key in obj and type(obj[key]) is int and not -2**62 < obj[key] < 2**62:
            return False
    return True


def read_record(path: str) -> Recovered:
    """Recover a record. Never raises for bad content; an unreadable file sets `problem`."""
    out = Recovered()
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block forever
            out.problem = "it is not a regular file"
            return out
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        out.problem = f"cannot read it: {exc.strerror}"
        return out
    if not data:
        out.problem = "it is empty: the run died before its first write"
        return out
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    else:
        out.truncated_tail = True  # the last write was cut short
        lines.pop()
    for number, line in enumerate(lines, start=1):
        obj = decode(line)
        if obj is None or (obj.get("type") in SCHEMA and not _well_formed(obj)):
            out.damaged_lines.append(number)
            continue
        kind = obj.get("type")
        if kind == "header" and obj.get("format") == FORMAT and number == 1:
            out.header = obj
        elif number == 1 or kind not in ("state", "fault", "progress", "end", "marker", "pulse"):
            out.problem = "it is not an iontocore session record (line 1 is intact but no header)"
            return out
        elif kind == "end" and out.end is None:
            out.end = obj
        elif out.end is not None:  # nothing may follow the end line
            out.damaged_lines.append(number)
        else:
            out.entries.append(obj)
    if out.header is None and not out.entries and out.end is None:
        out.problem = "it is not an iontocore session record (no intact record line)"
    return out


def _pulse_line(p: dict[str, Any]) -> str:
    """One pulse report as `ionto record show` prints it (whatever the dict holds)."""
    def mc(key: str) -> str:
        v = p.get(key)
        return f"{v / 1e6:.4f}" if type(v) is int else "?"
    verdict = "valid" if p.get("valid") is True else f"INVALID ({p.get('reason')})"
    return (f"PULSE {p.get('pulse')} (attempt {p.get('attempt')}, step {p.get('step')}): "
            f"{mc('delivered_uams')} of {mc('nominal_uams')} mC, {p.get('start_ms')}.."
            f"{p.get('end_ms')} ms, {verdict}")


def summarise(rec: Recovered, path: str) -> list[str]:
    """Human-readable lines for `ionto record show`."""
    if rec.problem:
        return [f"{path}: {rec.problem}"]
    h = rec.header or {}
    head = [] if rec.header else ["warning     the header line is damaged: the prescription is "
                                  "unknown; the entries below are intact"]
    rx = h.get("prescription", {})
    lines = [f"record      {path} (format {h.get('format')} v{h.get('version')}, iontocore {h.get('iontocore')})",
             f"profile     {h.get('profile')} ({rx.get('family')}), started {h.get('started_utc')}",
             f"prescribed  {rx.get('target_ua')} uA, limit {h.get('limit_ua')} uA, "
             f"duration {rx.get('duration_ms')} ms, dose {rx.get('dose_uams')} uA*ms", *head]
    for e in rec.entries:
        if e["type"] == "state":
            lines.append(f"  {e['t_ms']:>9} ms  {e['source']} -> {e['dest']} ({e['trigger']}: {e['reason']})")
        elif e["type"] == "fault":
            lines.append(f"  {e['t_ms']:>9} ms  FAULT {e['code']} ({e['reaction']}): {e['reason']}")
        elif e["type"] == "marker":
            lines.append(f"  {e['t_ms']:>9} ms  MARKER {e['label']} (step {e['step']}, pulse "
                         f"{e['pulse']}, {e['session_ms'] / 1000:.3f} s into the session)")
        elif e["type"] == "pulse":
            lines.append(f"  {e['t_ms']:>9} ms  {_pulse_line(e['pulse'])}")
    last = rec.last
    if last is not None:
        lines.append(f"delivered   {last['delivered_uams'] / 60e6:.4f} mA*min ({last['delivered_uams']} uA*ms) "
                     f"at {last.get('t_ms')} ms, treatment {last.get('treatment_ms')} ms")
    if rec.end is not None:
        lines.append(f"outcome     {rec.end['outcome']}" + (f": {rec.end['end_reason']}" if rec.end['end_reason'] else ""))
    else:
        lines.append("outcome     unknown: the record has no end line (the run was killed or crashed); "
                     f"the dose above is at most {FLUSH_MS} ms of output behind the truth")
    if rec.truncated_tail:
        lines.append("note        the last line was cut short by the crash and was ignored")
    if rec.damaged_lines:
        lines.append(f"warning     {len(rec.damaged_lines)} damaged line(s) skipped: "
                     f"{', '.join(map(str, rec.damaged_lines[:10]))}")
    return lines
