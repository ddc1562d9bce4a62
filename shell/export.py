"""CSV exports of a research session for perfusion-analysis software (RX-009, RX-010).

`MarkerWriter`: one row per marker (a protocol step boundary, at the tick it happened): time
from the session start in ms and s, the device time, label, kind, step and pulse index.
`PulseWriter`: one row per pulse: start and end (ms and s from the session start), nominal
and delivered charge (uA*ms and mC), valid, and the reason when not. Both are TickSinks
that write as the events arrive and flush at each row.
"""

from __future__ import annotations

import csv
from typing import IO

from iontocore.controller import Controller, Event
from iontocore.events import Marker, PulseReport
from iontocore.interface import Command, Sample

MARKER_HEADER = ("session_ms", "session_s", "t_ms", "label", "kind", "step", "pulse")
PULSE_HEADER = ("pulse", "attempt", "step", "start_ms", "start_s", "end_ms", "end_s",
                "nominal_uams", "nominal_mC", "delivered_uams", "delivered_mC", "valid", "reason")


class _Writer:
    header: tuple[str, ...] = ()

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(self.header)

    def tick(self, controller: Controller, sample: Sample | None, command: Command) -> None:
        pass

    def close(self) -> None:
        self._stream.flush()


class MarkerWriter(_Writer):
    header = MARKER_HEADER

    def events(self, controller: Controller, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, Marker):
                self._writer.writerow((ev.session_ms, f"{ev.session_ms / 1000:.3f}", ev.t_ms,
                                       ev.label, ev.kind, ev.step, ev.pulse))
                self._stream.flush()


class PulseWriter(_Writer):
    header = PULSE_HEADER

    def events(self, controller: Controller, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, PulseReport):
                self._writer.writerow((
                    ev.pulse, ev.attempt, ev.step, ev.start_ms, f"{ev.start_ms / 1000:.3f}",
                    ev.end_ms, f"{ev.end_ms / 1000:.3f}", ev.nominal_uams,
                    f"{ev.nominal_uams / 1e6:.6f}", ev.delivered_uams,
                    f"{ev.delivered_uams / 1e6:.6f}", "yes" if ev.valid else "no", ev.reason))
                self._stream.flush()
