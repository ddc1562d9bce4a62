"""Properties of the supervision predicates that CrossHair proves over all inputs.

Each function below states one property of a core function in a form other than its body:
monotonicity, symmetry, the exact boundary, the degenerate input. Each returns whether
the property holds; its contract says it always does (`post: __return__`), and CrossHair
(tests/test_symbolic.py) either confirms that over all paths or returns a counterexample.
Together the properties of a predicate pin it down: a threshold predicate that is
symmetric, monotone in the magnitude and exact at the boundary is that threshold.

PROPERTIES maps each requirement to the properties that are its symbolic evidence.
"""

from __future__ import annotations

from iontocore.shaping import polarity_may_change
from iontocore.supervision import (at_compliance, impedance_above, impedance_below, late,
                                   over_current, tracking_error)

# ---- SUP-001: the over-current trip -------------------------------------------------------


def over_current_is_symmetric(m: int, t: int) -> bool:
    """pre: t >= 0
    post: __return__
    """
    return over_current(m, t) == over_current(-m, t)


def over_current_is_monotone_in_the_magnitude(m1: int, m2: int, t: int) -> bool:
    """pre: t >= 0 and 0 <= m1 <= m2
    post: __return__
    """
    return not over_current(m1, t) or over_current(m2, t)


def over_current_trips_exactly_above_the_trip(t: int) -> bool:
    """pre: t >= 0
    post: __return__
    """
    return not over_current(t, t) and over_current(t + 1, t) and not over_current(0, t)


# ---- SUP-002: the tracking error ----------------------------------------------------------


def tracking_error_is_symmetric_about_the_expected(e: int, d: int, tol: int, pm: int) -> bool:
    """pre: tol >= 0 and pm >= 0
    post: __return__
    """
    return tracking_error(e + d, e, tol, pm) == tracking_error(e - d, e, tol, pm)


def tracking_error_is_monotone_in_the_deviation(e: int, d1: int, d2: int, tol: int,
                                                 pm: int) -> bool:
    """pre: tol >= 0 and pm >= 0 and 0 <= d1 <= d2
    post: __return__
    """
    return not tracking_error(e + d1, e, tol, pm) or tracking_error(e + d2, e, tol, pm)


def tracking_error_never_within_the_floor(e: int, d: int, tol: int, pm: int) -> bool:
    """pre: tol >= 0 and pm >= 0 and 0 <= d <= tol
    post: __return__
    """
    return not tracking_error(e + d, e, tol, pm)


def tracking_error_never_within_the_proportional_band(e: int, d: int, tol: int,
                                                      pm: int) -> bool:
    """pre: tol >= 0 and pm >= 0 and 0 <= d * 1000 <= abs(e) * pm
    post: __return__
    """
    return not tracking_error(e + d, e, tol, pm)


def tracking_error_always_beyond_both(e: int, tol: int, pm: int) -> bool:
    """pre: tol >= 0 and pm >= 0
    post: __return__
    """
    d = tol + abs(e) * pm // 1000 + 1
    return tracking_error(e + d, e, tol, pm)


# ---- SUP-005 / SUP-006: the impedance judgements (contact open, short) --------------------


def impedance_below_needs_current(v: int, ohm: int) -> bool:
    """pre: ohm >= 0
    post: __return__
    """
    return not impedance_below(v, 0, ohm)


def impedance_below_is_monotone(v1: int, v2: int, i1: int, i2: int, ohm: int) -> bool:
    """Less voltage or more current at the same threshold: still below.

    pre: ohm >= 0 and abs(v1) <= abs(v2) and abs(i1) >= abs(i2)
    post: __return__
    """
    return not impedance_below(v2, i2, ohm) or impedance_below(v1, i1, ohm)


def impedance_below_is_strict_at_the_threshold(i: int, ohm: int) -> bool:
    """At exactly the threshold impedance (V = ohm x I) it is not below; 1 mV less is.

    pre: ohm >= 1000 and ohm % 1000 == 0 and i > 0
    post: __return__
    """
    v = ohm // 1000 * i
    return not impedance_below(v, i, ohm) and impedance_below(v - 1, i, ohm)


def impedance_above_is_monotone(v1: int, v2: int, i1: int, i2: int, ohm: int) -> bool:
    """More voltage or less current at the same threshold: still above.

    pre: ohm >= 0 and abs(v1) >= abs(v2) and abs(i1) <= abs(i2)
    post: __return__
    """
    return not impedance_above(v2, i2, ohm) or impedance_above(v1, i1, ohm)


def impedance_above_any_voltage_without_current(v: int, ohm: int) -> bool:
    """An open circuit: any voltage and no current is above any threshold.

    pre: ohm >= 0 and v != 0
    post: __return__
    """
    return impedance_above(v, 0, ohm) and not impedance_above(0, 0, ohm)


def impedance_is_above_below_or_exactly_at_the_threshold(v: int, i: int, ohm: int) -> bool:
    """Trichotomy: with current flowing, the impedance is above the threshold, below it, or
    exactly at it (|V| x 1000 == ohm x |I|), never two or none of these.

    pre: ohm >= 0 and i != 0
    post: __return__
    """
    at = abs(v) * 1000 == ohm * abs(i)
    return int(impedance_above(v, i, ohm)) + int(impedance_below(v, i, ohm)) + int(at) == 1


# ---- SUP-007: at compliance ---------------------------------------------------------------


def at_compliance_is_symmetric_and_monotone(v1: int, v2: int, c: int, margin: int) -> bool:
    """pre: c >= 0 and margin >= 0 and abs(v1) <= abs(v2)
    post: __return__
    """
    return (at_compliance(v1, c, margin) == at_compliance(-v1, c, margin)
            and (not at_compliance(v1, c, margin) or at_compliance(v2, c, margin)))


def at_compliance_starts_exactly_at_the_margin(c: int, margin: int) -> bool:
    """pre: c >= 1 and 0 <= margin < c
    post: __return__
    """
    return at_compliance(c - margin, c, margin) and not at_compliance(c - margin - 1, c, margin)


# ---- SUP-009: late ticks ------------------------------------------------------------------


def late_is_monotone_in_the_interval(d1: int, d2: int, tick: int, tol: int) -> bool:
    """pre: tick >= 1 and tol >= 0 and d1 <= d2
    post: __return__
    """
    return not late(d1, tick, tol) or late(d2, tick, tol)


def late_is_antitone_in_the_tolerance(d: int, tick: int, tol1: int, tol2: int) -> bool:
    """pre: tick >= 1 and 0 <= tol1 <= tol2
    post: __return__
    """
    return not late(d, tick, tol2) or late(d, tick, tol1)


def late_boundary(tick: int, tol: int) -> bool:
    """A punctual tick is never late; the last punctual millisecond is not, the next is.

    pre: tick >= 1 and tol >= 0
    post: __return__
    """
    last = tick * (1000 + tol) // 1000
    return not late(tick, tick, tol) and not late(last, tick, tol) and late(last + 1, tick, tol)


# ---- CTL-003: the polarity gate -----------------------------------------------------------


def polarity_gate_waiting_longer_never_forbids(z1: int, z2: int, dead: int, i: int,
                                               tol: int) -> bool:
    """pre: dead >= 1 and tol >= 0 and z1 <= z2
    post: __return__
    """
    return not polarity_may_change(z1, dead, i, tol) or polarity_may_change(z2, dead, i, tol)


def polarity_gate_never_before_the_dead_time_or_under_current(z: int, dead: int, i: int,
                                                              tol: int) -> bool:
    """pre: dead >= 1 and tol >= 0 and (z < dead or i > tol or i < -tol)
    post: __return__
    """
    return not polarity_may_change(z, dead, i, tol)


def polarity_gate_opens_at_the_dead_time_with_no_current(dead: int, tol: int) -> bool:
    """pre: dead >= 1 and tol >= 0
    post: __return__
    """
    return (polarity_may_change(dead, dead, 0, tol) and polarity_may_change(dead, dead, tol, tol)
            and polarity_may_change(dead, dead, -tol, tol)
            and not polarity_may_change(dead - 1, dead, 0, tol))


PROPERTIES: dict[str, list[str]] = {
    "SUP-001": ["over_current_is_symmetric", "over_current_is_monotone_in_the_magnitude",
                "over_current_trips_exactly_above_the_trip"],
    "SUP-002": ["tracking_error_is_symmetric_about_the_expected",
                "tracking_error_is_monotone_in_the_deviation",
                "tracking_error_never_within_the_floor",
                "tracking_error_never_within_the_proportional_band",
                "tracking_error_always_beyond_both"],
    "SUP-005": ["impedance_above_is_monotone", "impedance_above_any_voltage_without_current",
                "impedance_is_above_below_or_exactly_at_the_threshold"],
    "SUP-006": ["impedance_below_needs_current", "impedance_below_is_monotone",
                "impedance_below_is_strict_at_the_threshold",
                "impedance_is_above_below_or_exactly_at_the_threshold"],
    "SUP-007": ["at_compliance_is_symmetric_and_monotone",
                "at_compliance_starts_exactly_at_the_margin"],
    "SUP-009": ["late_is_monotone_in_the_interval", "late_is_antitone_in_the_tolerance",
                "late_boundary"],
    "CTL-003": ["polarity_gate_waiting_longer_never_forbids",
                "polarity_gate_never_before_the_dead_time_or_under_current",
                "polarity_gate_opens_at_the_dead_time_with_no_current"],
}
"""Requirement -> the properties that are its symbolic evidence."""

COVERS: dict[str, str] = {
    "over_current": "SUP-001", "tracking_error": "SUP-002", "impedance_above": "SUP-005",
    "impedance_below": "SUP-006", "at_compliance": "SUP-007", "late": "SUP-009",
}
"""Core predicates whose contracts are these properties (their docstrings carry none)."""
