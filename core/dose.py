"""Dose (charge) arithmetic. Pure integer functions; charge in uA*ms.

1 mA*min = 1000 uA * 60000 ms = 60,000,000 uA*ms.
1 mC = 1,000,000 uA*ms.
"""

from __future__ import annotations

UAMS_PER_MA_MIN = 60_000_000
UAMS_PER_MC = 1_000_000


def ramp_down_bound_uams(cmd_na: int, step_na: int, dt_ms: int, floor_ua: int,
                         permille: int, jump_ms: int, tail_ms: int, per_na: int = 1) -> int:
    """An upper bound of the charge counted from now on if the ramp-down starts on the next
    tick (DOSE-002), for a command of `cmd_na` (average) falling `step_na` per tick, both in
    units of 1 / `per_na` nA (per_na = 1000: pA, so that a slow slew at a low duty keeps its
    fraction of a nA a tick; rounding it to a whole nA shortened the ramp and let a drug
    session pass its dose):

    - every ramp tick lasts at most `dt_ms` and measures at most the command it follows
      plus the tracking tolerance (x (1000 + permille) / 1000, + floor_ua);
    - plus one tick at the clock-jump bound `jump_ms` at the starting current (so the
      per-tick hard guard never fires on a normal ramp);
    - plus `tail_ms` at floor_ua once the command is zero (settling).

    pre: cmd_na >= 0 and step_na >= 1 and dt_ms >= 0 and floor_ua >= 0
    pre: permille >= 0 and jump_ms >= 0 and tail_ms >= 0 and per_na >= 1
    post: __return__ >= floor_ua * tail_ms
    post: __return__ * 1000 * per_na >= (cmd_na + step_na + floor_ua * 1000 * per_na) * jump_ms + floor_ua * tail_ms * 1000 * per_na
    post: __return__ * 2000 * per_na >= -(-cmd_na // step_na) * cmd_na * dt_ms
    """
    n = -(-cmd_na // step_na)                       # ticks until the command is zero
    total = n * cmd_na - step_na * n * (n - 1) // 2  # sum of the commands it follows
    # (nA / per_na) x permille x ms / (10**6 x per_na) = uA*ms, rounded up
    unit = 10**6 * per_na
    ramp = -(-(total * (1000 + permille) + n * floor_ua * unit) * dt_ms // unit)
    top = -(-((cmd_na + step_na) * (1000 + permille) + floor_ua * unit) * jump_ms // unit)
    return ramp + top + floor_ua * tail_ms


def ramp_down_nominal_uams(cmd_na: int, step_na: int, tick_ms: int, per_na: int = 1) -> int:
    """The charge a ramp-down from `cmd_na` still delivers when the current follows the
    command, which falls `step_na` per tick of `tick_ms` from the next command on: the sum
    of the positive commands cmd - k x step (k >= 1), x tick (nominal, not a bound: a
    research pulse given by charge ends on it, DOSE-003). Never negative. `cmd_na` and
    `step_na` in units of 1 / `per_na` nA, as for ramp_down_bound_uams.
    """
    m = -(-cmd_na // step_na) - 1  # positive commands after this one
    if m <= 0:
        return 0
    return (m * cmd_na - step_na * m * (m + 1) // 2) * tick_ms // (1000 * per_na)


def uams_to_ma_min(uams: int) -> float:
    """For display only."""
    return uams / UAMS_PER_MA_MIN
