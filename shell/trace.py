"""Per-tick CSV trace: one row per tick, for plots and independent checks."""

from __future__ import annotations

import csv
from typing import IO

from iontocore.controller import Controller
from iontocore.events import StateChanged
from iontocore.faults import FaultRecord
from iontocore.interface import Command, Sample

HEADER = ("t_ms", "state", "command_ua", "measured_ua", "voltage_mv", "delivered_uams")


class TraceWriter:
    """A TickSink writing HEADER rows. Ticks without a usable sample leave the measured
    fields empty and repeat the last known time."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(HEADER)
        self._t = 0

    def tick(self, controller: Controller, sample: Sample | None, command: Command) -> None:
        row: tuple[object, ...]
        if sample is not None and type(sample.current_ua) is int and type(sample.t_ms) is int:
            self._t = sample.t_ms
            row = (sample.t_ms, controller.state, command.setpoint_ua, sample.current_ua,
                   sample.voltage_mv, controller.delivered_uams)
        else:
            row = (self._t, controller.state, command.setpoint_ua, "", "",
                   controller.delivered_uams)
        self._writer.writerow(row)

    def events(self, controller: Controller, events: list[StateChanged | FaultRecord]) -> None:
        pass

    def close(self) -> None:
        self._stream.flush()
