"""Hardware abstraction layer: the three things the core needs from an output stage.

    read()  -> Sample | None   one fresh measurement per tick (None: nothing arrived)
    apply(command)             set the output for the next tick
    cut()                      output off now; must not raise; safe to call repeatedly

Optional, for backends that can detect faults the core's monitors cannot see:

    fault() -> (FaultCode, reason) | None
                               a fault the backend found (FaultCode.LINK_LOST: the device
                               can no longer be reached; FaultCode.DEVICE_FAULT: the output
                               stage reported a fault of its own or broke the protocol). The
                               runner polls it after every read() and reports it with
                               Controller.report_fault (LINK-005). Backends without it (the
                               simulator) are simply not polled.

read() and apply() may raise when the link itself fails (the serial backend raises
LinkError); the runner then reports FaultCode.LINK_LOST with the exception's text and ends
the session as a fault, and cut() must still not raise.

Every backend must also turn its output off by itself when no valid command arrives
within its watchdog time (device-side watchdog, HAL-002). Backends: `sim`
(SimulatedDevice) and, for a real output stage behind a serial line, `serial`.
"""

from __future__ import annotations

import logging

from typing import Protocol, runtime_checkable

from iontocore.interface import Command, Sample


@runtime_checkable
class Hal(Protocol):
    def read(self) -> Sample | None: ...

    def apply(self, command: Command) -> None: ...

    def cut(self) -> None: ...

    def close(self) -> None: ...


__all__ = ["Hal"]

# A library does not print: the maker's application routes these loggers (iontocore.hal.*)
logging.getLogger(__name__).addHandler(logging.NullHandler())
