"""Link faults the device emulator can inject (drop, corrupt, delay, garbage, duplicate)
and the parser for their command-line form. Free of third-party imports so the CLI can
list them without the `serial` extra installed."""

from __future__ import annotations

from dataclasses import dataclass

LINK_FAULTS = {
    "drop": "frames in both directions are lost",
    "corrupt": "one bit of every reply is flipped",
    "delay": "replies arrive 50 ms late",
    "garbage": "random bytes (ended by a delimiter) before every reply",
    "duplicate": "every reply is sent twice",
}


@dataclass(frozen=True)
class LinkFault:
    kind: str
    at_ms: int                  # simulated time the fault starts
    duration_ms: int | None     # wall-clock time it lasts (None: to the end)


def parse_link_fault(text: str) -> LinkFault:
    """'KIND@SECONDS[:DURATION_S]', e.g. 'drop@300:2'. Raises ValueError naming the problem."""
    kind, sep, when = text.partition("@")
    if kind not in LINK_FAULTS or not sep:
        raise ValueError(f"--link-fault {text!r}: expected KIND@SECONDS[:DURATION_S] with KIND one "
                         f"of {', '.join(LINK_FAULTS)}")
    at, _, dur = when.partition(":")
    try:
        at_ms, dur_ms = round(float(at) * 1000), (round(float(dur) * 1000) if dur else None)
    except ValueError:
        raise ValueError(f"--link-fault {text!r}: SECONDS and DURATION_S must be numbers") from None
    if at_ms < 0 or (dur_ms is not None and dur_ms <= 0):
        raise ValueError(f"--link-fault {text!r}: SECONDS >= 0 and DURATION_S > 0")
    return LinkFault(kind, at_ms, dur_ms)
