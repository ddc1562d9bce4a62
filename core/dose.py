"""Dose (charge) arithmetic. Pure integer functions; charge in uA*ms.

1 mA*min = 1000 uA * 60000 ms = 60,000,000 uA*ms.
1 mC = 1,000,000 uA*ms.
"""

from __future__ import annotations

UAMS_PER_MA_MIN = 60_000_000
UAMS_PER_MC = 1_000_000


def ramp_down_charge_uams(current_ua: int, slew_ua_per_s: int) -> int:
    """Charge a linear ramp from `current_ua` to zero at `slew_ua_per_s` still delivers,
    rounded up (uA*ms): I^2 / (2 * slew) seconds*uA = I^2 * 1000 / (2 * slew) uA*ms.

    pre: current_ua >= 0 and slew_ua_per_s >= 1
    post: __return__ >= 0
    post: __return__ * 2 * slew_ua_per_s >= current_ua * current_ua * 1000
    """
    return -(-current_ua * current_ua * 1000 // (2 * slew_ua_per_s))


def dose_end_due(delivered_uams: int, current_ua: int, slew_ua_per_s: int,
                 target_uams: int) -> bool:
    """True when starting the ramp-down now lands the dose at (or just past) the target:
    delivered plus what the ramp-down will still deliver reaches the target.

    pre: delivered_uams >= 0 and current_ua >= 0 and slew_ua_per_s >= 1
    post: __return__ == (delivered_uams + ramp_down_charge_uams(current_ua, slew_ua_per_s) >= target_uams)
    """
    return delivered_uams + ramp_down_charge_uams(current_ua, slew_ua_per_s) >= target_uams


def uams_to_ma_min(uams: int) -> float:
    """For display only."""
    return uams / UAMS_PER_MA_MIN
