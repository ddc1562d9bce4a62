"""Impedance trend monitor (SUP-018): a sudden fall of the load impedance at a steady current.

Skin under an electrode conducts better as a session goes on (hydration, sweat ducts
filling): its impedance falls by tens of percent over minutes. A fall by half or more
within seconds at a steady current means the current has found a new, low-resistance
path: broken skin or a wound under the electrode, or a wet bridge past a lifted patch
edge. The total current is unchanged, but it concentrates on a small area, where the
density, and with it the risk of a burn, rises (HAZ-003). Such a fall ends the session
with a controlled ramp-down ("impedance fell 70 % in 2000 ms").

The rule, in SupervisionLimits' terms:
- judged only while the controller holds its command steady on purpose (treat, no
  compliance hold), at a command amplitude of at least `impedance_sense_ua` (microamp
  research sessions, where noise is a large part of the reading, are not judged), and once
  that command (set-point, enable, duty) has been unchanged for `impedance_window_ms`; not
  while the current is limited by the compliance voltage (short of the command: there the
  load, not the command, sets the current, and a load recovering from a high resistance,
  a hand pushed back into its tray, is a fall of impedance that spreads the current, not
  one that concentrates it). Near the compliance voltage with the current still following
  the command it is judged: a fall that starts there is a fall like any other. A sample
  whose current does not follow the command (beyond the tracking tolerance: a sagging
  supply, a failing stage; the tracking monitors judge those) is skipped: neither judged
  nor a reference, and the steady command is kept (intermittent bad samples cannot keep
  resetting the trend);
- the reference is the highest impedance |V| / |I| (pulse amplitude when pulsed) among
  the samples at this steady command within the last `impedance_horizon_ms` (inclusive)
  with |V| >= impedance_sense_mv (a tiny voltage says little about the ratio). The horizon
  (10 s by default) is longer than the settling window, so a staircase of smaller falls
  (30 % every 2 s) adds up to a fall against the highest step;
- a sample has fallen when its impedance is at most reference x (1000 -
  impedance_fall_permille) / 1000; the reference is frozen at the first fallen sample, and
  the fall is detected once fallen samples have held `impedance_debounce_ms`
  (Persistence, SUP-021: intermittent fallen samples count too).
What is not caught, by design: a fall slower than impedance_fall_permille within the
horizon (skin hydration: tens of percent over minutes), and a staircase whose steps are
further apart than the horizon. All arithmetic is integer and exact (cross-multiplied, no
division).
"""

from __future__ import annotations

from collections import deque

from .interface import Command
from .persistence import Persistence


def impedance_fell(v_mv: int, i_ua: int, ref_v_mv: int, ref_i_ua: int, fall_permille: int) -> bool:
    """|V| / |I| at most (1000 - fall_permille) / 1000 of |ref V| / |ref I| (both currents
    non-zero), without dividing.

    pre: i_ua != 0 and ref_i_ua != 0 and 0 <= fall_permille <= 1000
    post: not (fall_permille == 0 and abs(v_mv) * abs(ref_i_ua) <= abs(ref_v_mv) * abs(i_ua)) or __return__
    post: not __return__ or abs(v_mv) * abs(ref_i_ua) <= abs(ref_v_mv) * abs(i_ua)
    """
    return (abs(v_mv) * abs(ref_i_ua) * 1000
            <= abs(ref_v_mv) * abs(i_ua) * (1000 - fall_permille))


def _higher(v1: int, i1: int, v2: int, i2: int) -> bool:
    """|v1| / |i1| >= |v2| / |i2| (currents non-zero)."""
    return abs(v1) * abs(i2) >= abs(v2) * abs(i1)


class ImpedanceTrend:
    """One session's impedance trend. `update` on every admitted sample of an enabled
    output; `detail` explains the last detection."""

    def __init__(self, fall_permille: int, window_ms: int, horizon_ms: int, sense_ua: int,
                 sense_mv: int, fallen: Persistence) -> None:
        self.fall_permille = fall_permille
        self.window_ms = window_ms    # the command must be steady this long before judging
        self.horizon_ms = horizon_ms  # the reference: the highest impedance within this long
        self.sense_ua = sense_ua
        self.sense_mv = sense_mv
        self.fallen = fallen
        self.command: Command | None = None  # the steady command (None: not judging)
        self.steady_since = -1               # when it became steady (-1: not steady)
        self.window: deque[tuple[int, int, int]] = deque()  # (t, |V|, |I|) within the horizon,
        # impedance decreasing: window[0] is the highest
        self.ref: tuple[int, int, int] | None = None  # frozen reference while a fall persists
        self.detail = ""

    def reset(self) -> None:
        self.command = None
        self.steady_since = -1
        self.window.clear()
        self.ref = None
        self.fallen.clear()

    def update(self, t: int, amp_ua: int, v_mv: int, cmd: Command, judge: bool) -> bool:
        """Judge one sample taken under `cmd`; `amp_ua` is the current (pulse amplitude).
        `judge`: the controller holds this command steady on purpose. True on detection."""
        if not judge or not cmd.enabled or abs(cmd.setpoint_ua) < self.sense_ua:
            if self.command is not None:
                self.reset()
            return False
        if cmd != self.command:
            self.reset()
            self.command, self.steady_since = cmd, t
        a, v = abs(amp_ua), abs(v_mv)
        win = self.window
        while win and win[0][0] < t - self.horizon_ms:
            win.popleft()
        fallen = False
        if a and win and t - self.steady_since >= self.window_ms:
            ref = self.ref if self.ref is not None else win[0]
            fallen = impedance_fell(v, a, ref[1], ref[2], self.fall_permille)
            if fallen and self.ref is None:
                self.ref = ref
        detected = self.fallen.update(fallen, t)
        if not self.fallen.held:
            self.ref = None  # no run (or it ended): the next fall is judged afresh
        elif detected and self.ref is not None:
            ref = self.ref
            pct = 100 + (-(v * ref[2] * 100) // (ref[1] * a))  # the fall, rounded down
            self.detail = (f"impedance fell {pct} % within {t - ref[0]} ms "
                           f"({ref[1] * 1000 // ref[2]} to {v * 1000 // a} ohm at "
                           f"{abs(cmd.setpoint_ua)} uA; fallen for "
                           f"{t - self.fallen.since_ms} ms)")
        if a and v >= self.sense_mv:
            while win and _higher(v, a, win[-1][1], win[-1][2]):
                win.pop()
            win.append((t, v, a))
        return detected
