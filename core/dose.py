"""Dose (charge) arithmetic. Pure integer functions; charge in uA*ms.

1 mA*min = 1000 uA * 60000 ms = 60,000,000 uA*ms.
1 mC = 1,000,000 uA*ms.
"""

from __future__ import annotations

UAMS_PER_MA_MIN = 60_000_000
UAMS_PER_MC = 1_000_000


def ramp_down_bound_uams(cmd_na: int, step_na: int, dt_ms: int, floor_ua: int,
                         permille: int, jump_ms: int, tail_ms: int) -> int:
    """An upper bound of the charge counted from now on if the ramp-down starts on the next
    tick (DOSE-002), for a command of `cmd_na` (average, nA) falling `step_na` per tick:

    - every ramp tick lasts at most `dt_ms` and measures at most the command it follows
      plus the tracking tolerance (x (1000 + permille) / 1000, + floor_ua);
    - plus one tick at the clock-jump bound `jump_ms` at the starting current (so the
      per-tick hard guard never fires on a normal ramp);
    - plus `tail_ms` at floor_ua once the command is zero (settling).

    pre: cmd_na >= 0 and step_na >= 1 and dt_ms >= 0 and floor_ua >= 0
    pre: permille >= 0 and jump_ms >= 0 and tail_ms >= 0
    post: __return__ >= floor_ua * tail_ms
    post: __return__ * 1000 >= (cmd_na + step_na + floor_ua * 1000) * jump_ms + floor_ua * tail_ms * 1000
    post: __return__ * 2000 >= -(-cmd_na // step_na) * cmd_na * dt_ms
    """
    n = -(-cmd_na // step_na)                       # ticks until the command is zero
    sum_na = n * cmd_na - step_na * n * (n - 1) // 2  # sum of the commands it follows
    # nA x permille x ms / 10**6 = uA*ms, rounded up
    ramp = -(-(sum_na * (1000 + permille) + n * floor_ua * 10**6) * dt_ms // 10**6)
    top = -(-((cmd_na + step_na) * (1000 + permille) + floor_ua * 10**6) * jump_ms // 10**6)
    return ramp + top + floor_ua * tail_ms


def ramp_down_nominal_uams(cmd_na: int, step_na: int, tick_ms: int) -> int:
    """The charge a ramp-down from `cmd_na` still delivers when the current follows the
    command, which falls `step_na` per tick of `tick_ms` from the next command on: the sum
    of the positive commands cmd - k x step (k >= 1), x tick (nominal, not a bound: a
    research pulse given by charge ends on it, DOSE-003). Never negative.
    """
    m = -(-cmd_na // step_na) - 1  # positive commands after this one
    if m <= 0:
        return 0
    return (m * cmd_na - step_na * m * (m + 1) // 2) * tick_ms // 1000


def uams_to_ma_min(uams: int) -> float:
    """For display only."""
    return uams / UAMS_PER_MA_MIN
