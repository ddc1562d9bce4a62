"""Supply monitor (SUP-019, SUP-020): end a session before a failing supply lets the output sag.

The output stage makes its compliance voltage from its supply (a battery, or an adapter).
Below the maker's `supply_min_mv` (DeviceLimits: the lowest supply at which the stage
still drives its maximum current at its compliance voltage) the current it delivers no
longer follows the command: it sags, and it surges back when the supply recovers
(a bouncing battery contact, a brown-out that resets the stage's microcontroller). So:

- below the stop level, supply_min_mv raised by `supply_margin_permille`, or a reading
  that is missing or implausible while the device monitors its supply: a controlled
  ramp-down at the slew, then fault (SUP-019). The margin must hold what the supply loses
  during the debounce and the longest ramp-down (max current / slew: 15 s at 30 mA and
  2 mA/s; a battery at its end of discharge falls about 10 % over minutes, not seconds),
  the supply sensor's error (1-2 %), and the dip under load (internal resistance x peak
  current, which pulsed current makes larger): 10 % by default.
- below supply_min_mv itself (0 mV and negative readings included: a vanished supply reads
  noise around zero): the stage can no longer follow a ramp either; output off at once,
  latched fault (SUP-020).

Each condition must persist `supply_debounce_ms` (Persistence: intermittent readings are
still caught). A supply is judged only while the output is enabled; the last reading is
kept so that a session is not started on a low supply. "Not reported" is `None` in
`Sample.supply_mv` (a four-field sample means the same); a field that is not an integer
reads as SUPPLY_UNREADABLE (implausible, like one above `supply_max_mv`). With
`supply_min_mv = 0` (the default) nothing here runs at all.
"""

from __future__ import annotations

from .faults import FaultCode
from .persistence import Persistence


def supply_stop_mv(min_mv: int, margin_permille: int) -> int:
    """The stop level: min_mv raised by margin_permille, rounded up (the safe side).

    pre: min_mv >= 0 and margin_permille >= 0
    post: __return__ >= min_mv
    post: __return__ * 1000 >= min_mv * (1000 + margin_permille)
    post: (__return__ - 1) * 1000 < min_mv * (1000 + margin_permille) or min_mv == 0
    """
    return -(-min_mv * (1000 + margin_permille) // 1000)


SUPPLY_UNREADABLE = -(2**63)
"""The reading of a supply field that is present but not an integer (no sensor reads it)."""


class SupplyMonitor:
    """One session's supply judgement. `update` each fresh sample; `detail` explains the
    last fault found; `start_refusal` says why a session may not start (or "")."""

    def __init__(self, min_mv: int, max_mv: int, margin_permille: int, low: Persistence,
                 lost: Persistence) -> None:
        self.min_mv = min_mv
        self.max_mv = max_mv
        self.stop_mv = supply_stop_mv(min_mv, margin_permille)
        self.low = low    # low, missing or implausible: ramp-down (SUP-019)
        self.lost = lost  # below supply_min_mv: cut (SUP-020)
        self.last_mv: int | None = None   # the last reading (None: not reported)
        self.last_bad = False             # the last reading was low, missing or implausible
        self.detail = ""

    def _why(self, reading: int | None) -> str:
        """Why `reading` is not a good supply, or "" when it is."""
        if reading is None:
            return f"supply not reported, though the device monitors it (supply_min_mv {self.min_mv} mV)"
        if reading == SUPPLY_UNREADABLE:
            return "supply reading unreadable (not an integer)"
        if reading > self.max_mv:
            return f"supply reading {reading} mV implausible (allowed up to {self.max_mv} mV)"
        if reading < self.stop_mv:
            return (f"supply {reading} mV below the stop level {self.stop_mv} mV "
                    f"(supply_min_mv {self.min_mv} mV plus the margin)")
        return ""

    def update(self, t_ms: int, reading: int | None, enabled: bool) -> FaultCode | None:
        """Judge one reading (None: not reported; negative: unreadable). Only while the
        output is `enabled`; otherwise the reading is only remembered."""
        self.last_mv = reading
        why = self._why(reading)
        self.last_bad = bool(why)
        if not enabled:
            self.low.clear()
            self.lost.clear()
            return None
        lost = reading is not None and reading != SUPPLY_UNREADABLE and reading < self.min_mv
        if self.lost.update(lost, t_ms):
            self.detail = (f"supply {reading} mV below {self.min_mv} mV, the lowest at which "
                           "the output can follow its command")
            return FaultCode.SUPPLY_LOST
        bad = bool(why)
        if self.low.update(bad, t_ms):
            self.detail = why
            return FaultCode.SUPPLY_LOW
        return None

    def start_refusal(self) -> str:
        """Why a session must not start: the last reading was low, missing or implausible
        ("" before any reading, or when it was good)."""
        return self._why(self.last_mv) if self.last_bad else ""
