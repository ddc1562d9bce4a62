"""The live progress line of a real-time `ionto run`: state, current, dose and an estimate
of the time left, the ramp-down included. Drawn with rich when the `cli` extra is
installed (pip install 'iontocore[cli]'), else as a plain line rewritten in place."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from iontocore.controller import Controller
from iontocore.dose import uams_to_ma_min
from iontocore.interface import Sample


def _mmss(ms: int) -> str:
    s = max(0, ms) // 1000
    return f"{s // 60:02d}:{s % 60:02d}"


def time_left_ms(ctl: Controller) -> int:
    """Planned treatment still to run plus the final ramp-down from the present command at
    the session's slew (an estimate: pauses and adjustments change it)."""
    ramp_down = abs(ctl.command.setpoint_ua) * 1000 // max(1, ctl.slew_ua_per_s)
    if ctl.state == "ramp_down":
        return ramp_down
    if ctl.state in ("idle", "fault"):
        return 0
    return ctl.remaining_ms + ramp_down


def status(ctl: Controller, sample: Sample | None) -> str:
    """One line: what a person at the device needs to see."""
    measured = "" if sample is None else f"  measured {sample.current_ua / 1000:7.3f} mA"
    if ctl.state == "ramp_down":
        left = f"ramping down, about {_mmss(time_left_ms(ctl))} left"
    elif ctl.state == "paused":
        left = f"paused {_mmss(ctl.paused_ms)} (contact lost); {_mmss(time_left_ms(ctl))} left"
    else:
        left = f"{_mmss(time_left_ms(ctl))} left"
    return (f"{ctl.state:<13} command {ctl.command.setpoint_ua / 1000:7.3f} mA{measured}  "
            f"dose {uams_to_ma_min(ctl.delivered_uams):7.3f} mA*min  {left}")


class LiveProgress:
    """A context manager whose `update(ctl, sample)` redraws the line (the Runner's progress
    callback). Lines go to stderr; without a terminal, one line every 10 s of session."""

    def __init__(self) -> None:
        self._live: Any = None
        self._tty = sys.stderr.isatty()

    def __enter__(self) -> LiveProgress:
        if self._tty:
            try:
                from rich.console import Console
                from rich.live import Live
            except ImportError:
                return self
            self._live = Live("", console=Console(stderr=True), refresh_per_second=4,
                              transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(kind, exc, tb)
        elif self._tty:
            print(file=sys.stderr)

    def update(self, ctl: Controller, sample: Sample | None) -> None:
        line = status(ctl, sample)
        if self._live is not None:
            self._live.update(line)
        elif self._tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif ctl.tick % max(1, 10_000 // ctl.tick_ms) == 0:
            print(line, file=sys.stderr, flush=True)
