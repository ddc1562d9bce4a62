"""Hardware abstraction layer: the three things the core needs from an output stage.

    read()  -> Sample | None   one fresh measurement per tick (None: nothing arrived)
    apply(command)             set the output for the next tick
    cut()                      output off now; must not raise; safe to call repeatedly

Every backend must also turn its output off by itself when no valid command arrives
within its watchdog time (device-side watchdog, HAL-002). Backends: `sim`
(SimulatedDevice) and, for a real output stage behind a serial line, `serial`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from iontocore.interface import Command, Sample


@runtime_checkable
class Hal(Protocol):
    def read(self) -> Sample | None: ...

    def apply(self, command: Command) -> None: ...

    def cut(self) -> None: ...

    def close(self) -> None: ...


__all__ = ["Hal"]
