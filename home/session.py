"""One home session around a Controller: admitted before, recorded in the history before the
output starts, completed after it ends (`HomeSession`). The caller runs the session."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from iontocore.controller import Controller, Event
from iontocore.interface import Command, Sample

from .history import History, Row
from .trust import Admitted, HomeConfig, admit

TRACE_POINTS = 240
"""At most this many [ms, uA] points of a session are kept for the clinician's plot."""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class TraceKeeper:
    """A TickSink keeping one measured point per second of session time, for the report."""

    def __init__(self) -> None:
        self.points: list[list[int]] = []
        self._t0: int | None = None
        self._next = 0

    def tick(self, controller: Controller, sample: Sample | None, command: Command) -> None:
        if sample is None or type(sample.t_ms) is not int or type(sample.current_ua) is not int:
            return
        if self._t0 is None:
            self._t0 = sample.t_ms
        t = sample.t_ms - self._t0
        if t >= self._next:
            self.points.append([t, sample.current_ua])
            self._next = t + 1000

    def events(self, controller: Controller, events: list[Event]) -> None:
        return None

    def small(self) -> list[list[int]]:
        """At most TRACE_POINTS points, evenly taken."""
        step = max(1, -(-len(self.points) // TRACE_POINTS))
        return self.points[::step]


class HomeSession:
    """Open the history, take its lock, admit the prescription file; then `begin` before the
    output starts and `complete` after the session. `close` releases the lock."""

    def __init__(self, config: HomeConfig, data: bytes, profile_ref: str,
                 clock: Callable[[], int] = wall_ms) -> None:
        self.config, self.clock, self.profile_ref = config, clock, profile_ref
        self.history = History(config.history)
        try:
            self.history.lock()
            self.admitted: Admitted = admit(data, config, self.history, clock())
        except BaseException:
            self.history.close()
            raise
        self.trace = TraceKeeper()
        self.row: Row | None = None

    def begin(self, controller: Controller) -> Row:
        rx, signed = controller.prescription, self.admitted.signed
        row = Row(seq=0, started_ms=0, outcome="running", reason=self.admitted.reason,
                  rx_sha256=self.admitted.rx_sha256, profile=Path(self.profile_ref).name,
                  family=rx.family, device=self.config.device_id,
                  rx_id=signed.prescription_id if signed else None,
                  rx_version=signed.version if signed else None,
                  signer=signed.signer if signed else None,
                  key_id=signed.key_id if signed else None,
                  patient=signed.patient if signed else self.config.patient)
        self.row = self.history.begin(row, self.clock())
        return self.row

    def complete(self, controller: Controller) -> Row | None:
        if self.row is None:
            return None
        row = self.row
        row.outcome = controller.outcome or "stopped"
        row.reason = controller.end_reason or "the session did not end normally"
        row.delivered_uams, row.treatment_ms = controller.delivered_uams, controller.treatment_ms
        row.pauses = controller.pauses
        row.faults = [f.as_dict() for f in controller.faults]
        row.trace = self.trace.small()
        self.history.complete(row, self.clock())
        return row

    def close(self) -> None:
        self.history.close()
