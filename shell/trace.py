"""Per-tick CSV trace: one row per tick, for plots and independent checks.

Research protocols fill the last three columns: the step and pulse in force (counted from
1) and the label of a marker that happened on that tick (RX-010); empty otherwise."""

from __future__ import annotations

import csv
from typing import IO

from iontocore.controller import Controller, Event
from iontocore.events import Marker
from iontocore.interface import Command, Sample

HEADER = ("t_ms", "state", "command_ua", "measured_ua", "voltage_mv", "delivered_uams",
          "step", "pulse", "marker")
BASE_COLUMNS = 6
"""The columns of a trace written before issue 16 (still read by `ionto plot`)."""


class TraceWriter:
    """A TickSink writing HEADER rows. Ticks without a usable sample leave the measured
    fields empty and repeat the last known time. A row is written when the next tick (or
    the close) comes, so the markers of its tick (events arrive after the tick) are in it."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(HEADER)
        self._t = 0
        self._row: list[object] | None = None
        self._step: object = ""
        self._pulse: object = ""

    def tick(self, controller: Controller, sample: Sample | None, command: Command) -> None:
        self._flush()
        if sample is not None and type(sample.current_ua) is int and type(sample.t_ms) is int:
            self._t = sample.t_ms
            self._row = [sample.t_ms, controller.state, command.setpoint_ua, sample.current_ua,
                         sample.voltage_mv, controller.delivered_uams]
        else:
            self._row = [self._t, controller.state, command.setpoint_ua, "", "",
                         controller.delivered_uams]
        self._row += [self._step, self._pulse, ""]

    def events(self, controller: Controller, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, Marker):
                self._step, self._pulse = ev.step, ev.pulse or ""
                if self._row is not None:
                    self._row[6:8] = [self._step, self._pulse]
                    self._row[8] = f"{self._row[8]}; {ev.label}" if self._row[8] else ev.label

    def _flush(self) -> None:
        if self._row is not None:
            self._writer.writerow(self._row)
            self._row = None

    def close(self) -> None:
        self._flush()
        self._stream.flush()
