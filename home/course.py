"""A treatment course: how often a prescription may be used, and when the next session is.

A course is part of a signed prescription (its `[course]` table, specs/signed_prescription.md):
the minimum hours between sessions, an optional total number of sessions, and phases of
so many sessions per week for so many weeks (the last phase may be open-ended), e.g. five a
week for two weeks, then one a week. `judge` says whether a session may start now, given the
sessions already in the history, and if not, why and when the next one may.

Times are UTC milliseconds since the epoch. The caller passes the time it trusts: the
history refuses a clock behind the latest time it has seen (`history.History.now_ms`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

HOUR_MS = 3_600_000
WEEK_MS = 7 * 24 * HOUR_MS


class CourseError(ValueError):
    """A course table that cannot be accepted: names the key, the value and what is allowed."""


@dataclass(frozen=True)
class Phase:
    sessions_per_week: int
    weeks: int | None  # None: open-ended (the last phase only)


@dataclass(frozen=True)
class Course:
    min_hours_between: int
    phases: tuple[Phase, ...]
    sessions: int | None = None  # total allowed; None: no total

    @classmethod
    def parse(cls, data: dict[str, Any]) -> "Course":
        """From a `[course]` table; every problem raises CourseError naming the key."""
        known = {"min_hours_between", "sessions", "sessions_per_week", "phase"}
        for key in data:
            if key not in known:
                raise CourseError(f"course.{key}: not a course key (allowed: {sorted(known)})")
        gap = data.get("min_hours_between", 20)
        _int("course.min_hours_between", gap, 0, 24 * 28)
        total = data.get("sessions")
        if total is not None:
            _int("course.sessions", total, 1, 1_000)
        raw = data.get("phase")
        if raw is None:
            per_week = data.get("sessions_per_week", 7)
            _int("course.sessions_per_week", per_week, 1, 7)
            return cls(gap, (Phase(per_week, None),), total)
        if "sessions_per_week" in data:
            raise CourseError("course.sessions_per_week: give it in each [[course.phase]] instead")
        if not isinstance(raw, list) or not raw or not all(isinstance(p, dict) for p in raw):
            raise CourseError("course.phase: one or more [[course.phase]] tables")
        phases = []
        for k, p in enumerate(raw, 1):
            extra = set(p) - {"weeks", "sessions_per_week"}
            if extra:
                raise CourseError(f"course.phase[{k}].{sorted(extra)[0]}: not a phase key")
            _int(f"course.phase[{k}].sessions_per_week", p.get("sessions_per_week"), 1, 7)
            weeks = p.get("weeks")
            if weeks is None and k < len(raw):
                raise CourseError(f"course.phase[{k}].weeks: required (only the last phase may "
                                  "be open-ended)")
            if weeks is not None:
                _int(f"course.phase[{k}].weeks", weeks, 1, 520)
            phases.append(Phase(p["sessions_per_week"], weeks))
        return cls(gap, tuple(phases), total)

    def to_toml(self) -> str:
        """The `[course]` table, as the signed file carries it."""
        lines = ["[course]", f"min_hours_between = {self.min_hours_between}"]
        if self.sessions is not None:
            lines.append(f"sessions = {self.sessions}")
        for p in self.phases:
            lines += ["", "[[course.phase]]", f"sessions_per_week = {p.sessions_per_week}"]
            if p.weeks is not None:
                lines.append(f"weeks = {p.weeks}")
        return "\n".join(lines) + "\n"

    def describe(self) -> str:
        parts = [f"{p.sessions_per_week}/week" + (f" for {p.weeks} weeks" if p.weeks else
                                                   " from then on") for p in self.phases]
        total = f", {self.sessions} sessions in all" if self.sessions else ""
        return f"{', then '.join(parts)}; at least {self.min_hours_between} h apart{total}"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    next_ms: int | None = None  # when the next session is allowed (None: never again)


def _int(name: str, value: object, lo: int, hi: int) -> None:
    if type(value) is not int or not lo <= value <= hi:
        raise CourseError(f"{name} = {value!r}: allowed an integer from {lo} to {hi}")


def utc(ms: int) -> str:
    """A time for people; one outside the calendar's range is shown as its number."""
    try:
        return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, ValueError, OSError):
        return f"{ms} ms since 1970"


def judge(course: Course, starts_ms: list[int], now_ms: int) -> Verdict:
    """May a session of this course start at `now_ms`, after sessions that started at
    `starts_ms` (every session of this prescription that reached the output, killed ones
    included)?"""
    done = sorted(starts_ms)
    if course.sessions is not None and len(done) >= course.sessions:
        return Verdict(False, f"the course is complete: {len(done)} of {course.sessions} "
                              "sessions done", None)
    if not done:
        return Verdict(True, "the first session of the course")
    begin = done[0]
    phase, phase_start = None, begin
    for p in course.phases:
        if p.weeks is None or now_ms < phase_start + p.weeks * WEEK_MS:
            phase = p
            break
        phase_start += p.weeks * WEEK_MS
    if phase is None:
        return Verdict(False, f"the course ended on {utc(phase_start)}", None)
    waits: list[tuple[int, str]] = []
    gap_ok = done[-1] + course.min_hours_between * HOUR_MS
    if now_ms < gap_ok:
        waits.append((gap_ok, f"at least {course.min_hours_between} h after the last session "
                              f"({utc(done[-1])})"))
    window = [t for t in done if t > now_ms - WEEK_MS]
    if len(window) >= phase.sessions_per_week:
        frees = window[len(window) - phase.sessions_per_week] + WEEK_MS
        waits.append((frees, f"at most {phase.sessions_per_week} sessions in any 7 days"))
    if not waits:
        return Verdict(True, f"session {len(done) + 1} of the course ({course.describe()})")
    when, why = max(waits)
    return Verdict(False, f"not yet: {why}; the next session is allowed from {utc(when)}", when)
