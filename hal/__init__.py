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

    marker(marker: Marker)     a research protocol's step boundary (iontocore.events.Marker:
                               label, kind, step and pulse indices, session_ms), for a marker
                               output such as a digital line to a perfusion recorder
                               (LINK-011). The runner calls it on the tick the controller
                               emits the marker, right after applying that tick's command.
                               Backends without it have no marker output: the runner does not
                               call it (the no-op default, `no_marker`). A backend whose
                               output depends on the device (serial: the MARKER capability)
                               says so in an optional `marker_output` attribute (False: its
                               marker() does nothing). An exception from it is logged and
                               counted, never a fault: markers are not a safety control.

read() and apply() may raise when the link itself fails (the serial backend raises
LinkError); the runner then reports FaultCode.LINK_LOST with the exception's text and ends
the session as a fault, and cut() must still not raise.

Several output channels (LINK-012): a `MultiHal` is the same three things for N channels
of one device on one tick: `read()` -> one Sample or None per channel (a list, in channel
order), `apply(commands)` with one Command per channel, `cut()` every channel; `channels`
says N, and an optional `fault()` as above concerns the whole device. `ChannelHals` presents
N single-channel Hals (for instance N SimulatedDevice) as one MultiHal; the serial backend's
`MultiSerialDevice` is one over a single link. The single-channel Hal above is unchanged.

Every backend must also turn its output off by itself when no valid command arrives
within its watchdog time (device-side watchdog, HAL-002). Backends: `sim`
(SimulatedDevice) and, for a real output stage behind a serial line, `serial`.
"""

from __future__ import annotations

import logging

from typing import Callable, Protocol, Sequence, runtime_checkable

from iontocore.events import Marker
from iontocore.faults import FaultCode
from iontocore.interface import Command, Sample


@runtime_checkable
class Hal(Protocol):
    def read(self) -> Sample | None: ...

    def apply(self, command: Command) -> None: ...

    def cut(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class MultiHal(Protocol):
    """N output channels of one device, read and commanded together on one tick (LINK-012)."""

    channels: int

    def read(self) -> list[Sample | None]: ...

    def apply(self, commands: Sequence[Command]) -> None: ...

    def cut(self) -> None: ...

    def close(self) -> None: ...


class ChannelHals:
    """N single-channel Hals presented as one MultiHal: channel k (from 1) is `hals[k - 1]`.
    `apply` gives each Hal its own command and nothing else; `cut` and `close` reach every
    Hal even when one raises; `fault` is the first fault any Hal reports, naming its channel."""

    def __init__(self, hals: Sequence[Hal]) -> None:
        if not hals:
            raise ValueError("hals = []: allowed at least 1 channel")
        self.hals = list(hals)
        self.channels = len(self.hals)

    def read(self) -> list[Sample | None]:
        return [hal.read() for hal in self.hals]

    def apply(self, commands: Sequence[Command]) -> None:
        if len(commands) != self.channels:
            raise ValueError(f"commands = {len(commands)}: allowed exactly {self.channels} "
                             "(one per channel)")
        for hal, command in zip(self.hals, commands):
            hal.apply(command)

    def cut(self) -> None:
        for hal in self.hals:
            try:
                hal.cut()
            except Exception:  # noqa: BLE001 - cut() must not raise; the others still get cut
                logging.getLogger(__name__).exception("cut() raised")

    def close(self) -> None:
        for hal in self.hals:
            try:
                hal.close()
            except Exception:  # noqa: BLE001
                logging.getLogger(__name__).exception("close() raised")

    def fault(self) -> "tuple[FaultCode, str] | None":
        for k, hal in enumerate(self.hals, start=1):
            poll = getattr(hal, "fault", None)
            found = poll() if callable(poll) else None
            if found is not None:
                return found[0], f"channel {k}: {found[1]}"
        return None


def no_marker(marker: Marker) -> None:
    """The marker output of a backend that has none: does nothing."""


def marker_output(hal: object) -> "Callable[[Marker], None]":
    """The backend's `marker` method if it has a marker output (LINK-011), else `no_marker`."""
    mark = getattr(hal, "marker", None)
    if mark is None or not callable(mark) or getattr(hal, "marker_output", True) is False:
        return no_marker
    return mark  # type: ignore[no-any-return]


__all__ = ["ChannelHals", "Hal", "MultiHal", "marker_output", "no_marker"]

# A library does not print: the maker's application routes these loggers (iontocore.hal.*)
logging.getLogger(__name__).addHandler(logging.NullHandler())
