"""What the controller reports besides commands: state changes and request replies.

The controller appends StateChanged and FaultRecord (core/faults.py) events to
`Controller.events`; the shell drains them (`Controller.drain_events`) to write
traces and session records. Requests (start, stop, reset, adjust) return a Reply.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StateChanged:
    tick: int
    t_ms: int
    trigger: str
    source: str
    dest: str
    reason: str

    def __post_init__(self) -> None:
        """A transition the trace can be trusted with: whole non-negative tick and time, and
        every name and the reason given."""
        if not (type(self.tick) is int and self.tick >= 0 and type(self.t_ms) is int
                and self.t_ms >= 0 and all(type(x) is str and x for x in
                                           (self.trigger, self.source, self.dest, self.reason))):
            raise ValueError(f"malformed state change: {self!r}")

    def as_dict(self) -> dict[str, object]:
        return {"tick": self.tick, "t_ms": self.t_ms, "trigger": self.trigger,
                "source": self.source, "dest": self.dest, "reason": self.reason}


@dataclass(frozen=True)
class Reply:
    """Outcome of a request. A refused request changed nothing; `reason` says why."""

    accepted: bool
    reason: str = ""

    def __post_init__(self) -> None:
        """A reply is exactly a yes or a no, and a no says why (a host reads `accepted`; a
        truthy string there would pass a refusal off as an acceptance)."""
        if type(self.accepted) is not bool or type(self.reason) is not str:
            raise TypeError(f"Reply({self.accepted!r}, {self.reason!r}): allowed a bool and a str")
        if not self.accepted and not self.reason:
            raise ValueError("a refused request must say why")

    def __bool__(self) -> bool:
        return self.accepted


@dataclass(frozen=True)
class Marker:
    """A research protocol's step boundary, at the tick it happens (core/protocol.py): for
    the perfusion recorder and the analysis software to align with. `session_ms` is the time
    from the session's first tick; `step` and `pulse` count from 1 (0: none yet); `kind` is
    the step's kind (baseline, pulse, gap), 'interrupt' or 'end'."""

    tick: int
    t_ms: int
    session_ms: int
    label: str
    kind: str
    step: int
    pulse: int

    def __post_init__(self) -> None:
        """A marker the recording can be aligned with: whole non-negative times and counts,
        a label, and one of the kinds above."""
        counts = (self.tick, self.t_ms, self.session_ms, self.step, self.pulse)
        if not (all(type(n) is int and n >= 0 for n in counts) and type(self.label) is str
                and self.label and self.kind in ("baseline", "pulse", "gap", "interrupt", "end")):
            raise ValueError(f"malformed marker: {self!r}")

    def as_dict(self) -> dict[str, object]:
        return {"tick": self.tick, "t_ms": self.t_ms, "session_ms": self.session_ms,
                "label": self.label, "kind": self.kind, "step": self.step, "pulse": self.pulse}


@dataclass(frozen=True)
class PulseReport:
    """One pulse of a research protocol, closed when its current is back at zero (or when it
    was interrupted): times from the session's first tick, nominal and delivered charge
    (uA*ms, average current, ramps included), and whether it is valid (else the reason:
    contact loss, stop, fault)."""

    pulse: int
    attempt: int
    step: int
    start_ms: int
    end_ms: int
    nominal_uams: int
    delivered_uams: int
    valid: bool
    reason: str

    def __post_init__(self) -> None:
        """A report the analysis can trust: whole non-negative counts, times and nominal
        charge, the end not before the start, and a reason exactly when the pulse is invalid.
        The delivered charge is a whole number of either sign: it is measured, signed along
        the polarity, so the sensor's noise around zero may leave it slightly negative."""
        counts = (self.pulse, self.attempt, self.step, self.start_ms, self.end_ms,
                  self.nominal_uams)
        if not (all(type(n) is int and n >= 0 for n in counts) and type(self.delivered_uams) is int
                and self.end_ms >= self.start_ms
                and self.pulse >= 1 and self.attempt >= 1 and self.step >= 1
                and type(self.valid) is bool and type(self.reason) is str
                and (self.reason == "") is self.valid):
            raise ValueError(f"malformed pulse report: {self!r}")

    def as_dict(self) -> dict[str, object]:
        return {"pulse": self.pulse, "attempt": self.attempt, "step": self.step,
                "start_ms": self.start_ms, "end_ms": self.end_ms,
                "nominal_uams": self.nominal_uams, "delivered_uams": self.delivered_uams,
                "valid": self.valid, "reason": self.reason}
