"""Link faults the device emulator can inject (drop, corrupt, delay, garbage, duplicate)
and the parser for their command-line form. Free of third-party imports (as .sim is), so
the CLI can list them without the `serial` extra installed."""

from __future__ import annotations

from dataclasses import dataclass

from .sim import parse_timed

LINK_FAULTS = {
    "drop": "frames in both directions are lost",
    "corrupt": "one bit of every reply is flipped",
    "delay": "replies arrive 50 ms late (the emulator's delay_ms)",
    "garbage": "random bytes (ended by a delimiter) before every reply",
    "duplicate": "every reply is sent twice",
}


@dataclass(frozen=True)
class LinkFault:
    kind: str
    at_ms: int                  # simulated time the fault starts
    duration_ms: int | None     # wall-clock time it lasts (None: to the end)


def parse_link_fault(text: str) -> LinkFault:
    """'KIND@SECONDS[:DURATION_S]', e.g. 'drop@300:2'."""
    return LinkFault(*parse_timed(text, "--link-fault", LINK_FAULTS))
