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

    def as_dict(self) -> dict[str, object]:
        return {"tick": self.tick, "t_ms": self.t_ms, "trigger": self.trigger,
                "source": self.source, "dest": self.dest, "reason": self.reason}


@dataclass(frozen=True)
class Reply:
    """Outcome of a request. A refused request changed nothing; `reason` says why."""

    accepted: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.accepted
