"""Set-point shaping: slew limiting and the polarity gate. Pure integer functions.

The command magnitude is kept internally in nanoamps (nA) so that slow slews
(e.g. 20 uA/s at a 1 ms tick = 20 nA per tick) still ramp exactly; the command
sent out is the magnitude rounded down to whole microamps.

"No abrupt step" concerns the current that actually flows:
- the command never rises faster than the slew allows;
- it never falls, in one tick, more than the slew allows below the smaller of the
  previous command and the current measured on this tick. So it may drop at once
  to what is really flowing (the load opened) but never below it by more than one
  step; within a noise margin it ignores the measurement and falls at the slew.
"""

from __future__ import annotations

NA_PER_UA = 1000


def step_na(slew_ua_per_s: int, dt_ms: int, tick_ms: int) -> int:
    """Largest change of the command magnitude in one tick (nA).

    The elapsed time is capped at the nominal tick, so a late tick ramps slower
    (safe side) and an early or repeated tick ramps no faster than the slew.

    pre: slew_ua_per_s >= 0 and tick_ms >= 1
    post: 0 <= __return__ <= slew_ua_per_s * tick_ms
    post: dt_ms <= 0 or __return__ <= slew_ua_per_s * dt_ms
    """
    dt = min(max(dt_ms, 0), tick_ms)
    # uA/s * ms = nA
    return slew_ua_per_s * dt


def max_step_ua(slew_ua_per_s: int, tick_ms: int) -> int:
    """Largest change of the outgoing command (whole uA) in one nominal tick.

    pre: slew_ua_per_s >= 0 and tick_ms >= 1
    post: __return__ * NA_PER_UA >= slew_ua_per_s * tick_ms
    post: (__return__ - 1) * NA_PER_UA < slew_ua_per_s * tick_ms or __return__ == 0
    """
    return -(-slew_ua_per_s * tick_ms // NA_PER_UA)


def next_magnitude_na(prev_na: int, measured_ua: int, target_ua: int, step: int,
                      margin_ua: int) -> int:
    """Next command magnitude (nA) moving from `prev_na` towards `target_ua`.

    `measured_ua` is the current measured on this tick in the commanded direction
    (negative values count as zero flowing). When falling, the command follows the
    measured current down only when it lies more than `margin_ua` below the command
    (the current collapsed); within the margin it is measurement noise and the command
    falls at the slew, so noise cannot make a ramp-down steeper.

    pre: prev_na >= 0 and target_ua >= 0 and step >= 0 and margin_ua >= 0
    post: __return__ >= 0
    post: __return__ <= max(prev_na, target_ua * 1000)
    post: __return__ <= prev_na + step
    post: __return__ >= min(prev_na, max(measured_ua, 0) * 1000) - step
    post: target_ua * 1000 < prev_na or __return__ >= prev_na
    post: __return__ >= min(prev_na - step, target_ua * 1000) or max(measured_ua, 0) * 1000 + margin_ua * 1000 < prev_na
    """
    target_na = target_ua * NA_PER_UA
    if target_na >= prev_na:
        return min(target_na, prev_na + step)
    flowing_na = measured_ua * NA_PER_UA if measured_ua > 0 else 0
    if flowing_na + margin_ua * NA_PER_UA < prev_na:
        floor_na = flowing_na - step  # the current collapsed: follow it down
    else:
        floor_na = prev_na - step
    return max(target_na, floor_na, 0)


def polarity_may_change(zero_for_ms: int, dead_time_ms: int, measured_ua: int,
                        zero_tolerance_ua: int) -> bool:
    """Whether the polarity may flip now: the command has sat at zero for at least
    the dead time (`zero_for_ms` < 0 means it is not at zero) and the measured
    current is within the zero tolerance.

    pre: dead_time_ms >= 1 and zero_tolerance_ua >= 0
    post: not __return__ or zero_for_ms >= dead_time_ms
    post: not __return__ or -zero_tolerance_ua <= measured_ua <= zero_tolerance_ua
    """
    return zero_for_ms >= dead_time_ms and -zero_tolerance_ua <= measured_ua <= zero_tolerance_ua
