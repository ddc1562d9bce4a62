"""Edges of the supervision predicates, the dose and shaping arithmetic and the validators that
the mutation run found unpinned: exact integer results where a float would do nearly as
well, the lowest value a maker may set, the unit in a refusal, the admitted sample's types,
and the uncommanded-current floor at 1000 uA and beyond.

Oracles come from the stated rules (docstrings, specs/requirements.toml, specs/limits.md)
computed independently here, in exact arithmetic where a rounding is stated.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from iontocore import SupervisionLimits
from iontocore.dose import ramp_down_bound_uams, ramp_down_nominal_uams
from iontocore.envelope import FamilyLimits
from iontocore.errors import Checker, InvalidSettings
from iontocore.events import Reply
from iontocore.shaping import max_step_ua
from iontocore.supervision import admit, trip_average_ua, uncommanded


def ceil(q: Fraction) -> int:
    return -(-q.numerator // q.denominator)


# --- dose arithmetic: whole uA*ms, exact at any size (DOSE-002, DOSE-003) -------------------

def bound_by_statement(cmd_na: int, step_na: int, dt_ms: int, floor_ua: int, permille: int,
                       jump_ms: int, tail_ms: int, per_na: int) -> int:
    """ramp_down_bound_uams's statement, term by term: each ramp tick (the commands it
    follows: cmd, cmd - step, ... while positive) at most dt_ms at the command x (1000 +
    permille) / 1000 + floor_ua; one tick of jump_ms at cmd + step likewise; the tail at
    floor_ua; each of the first two rounded up to a whole uA*ms."""
    ua = Fraction(1, 1000 * per_na)   # one command unit, in uA
    follows = []
    c = cmd_na
    while c > 0:
        follows.append(c)
        c -= step_na
    ramp = sum((Fraction(c) * ua * Fraction(1000 + permille, 1000) + floor_ua) * dt_ms
               for c in follows)
    top = (Fraction(cmd_na + step_na) * ua * Fraction(1000 + permille, 1000) + floor_ua) * jump_ms
    return ceil(Fraction(ramp)) + ceil(top) + floor_ua * tail_ms


def series_sum(first: int, step: int, count: int) -> int:
    """first + (first - step) + ... (count terms), by the arithmetic series."""
    return count * (2 * first - (count - 1) * step) // 2 if count > 0 else 0


@pytest.mark.req("DOSE-002")
@pytest.mark.parametrize("args", [
    (5_000, 1_000, 10, 50, 100, 100, 1_000, 1),
    (7, 3, 13, 1, 0, 0, 0, 1),
    (4_000_000, 1_000, 11, 50, 100, 100, 1_000, 1_000),
])
def test_the_ramp_down_bound_is_its_statement_in_whole_uams(args: tuple[int, ...]) -> None:
    got = ramp_down_bound_uams(*args)
    assert type(got) is int and got == bound_by_statement(*args)


@pytest.mark.req("DOSE-002")
def test_the_ramp_down_bound_stays_exact_beyond_float_precision() -> None:
    """30 mA in pA, falling 10 000 pA a tick: 3 million ramp ticks. The sum of the commands
    (about 10**17 pA) is beyond a float's 53 bits; the bound must still be the exact
    rounded-up integer (the closed form of the series, an independent formulation)."""
    cmd, step, dt, floor, permille, jump, tail, per = 30_000_000_000, 10_000, 10, 50, 100, 100, 1_000, 1_000
    n = -(-cmd // step)
    total = series_sum(cmd, step, n)
    assert total > 2**53
    unit = 10**6 * per
    ramp = ceil(Fraction((total * (1000 + permille) + n * floor * unit) * dt, unit))
    top = ceil(Fraction(((cmd + step) * (1000 + permille) + floor * unit) * jump, unit))
    got = ramp_down_bound_uams(cmd, step, dt, floor, permille, jump, tail, per)
    assert type(got) is int and got == ramp + top + floor * tail


@pytest.mark.req("DOSE-003")
@pytest.mark.parametrize("cmd_na, step_na, tick_ms, per_na", [
    (5_000, 1_000, 10, 1), (5_500, 1_000, 10, 1), (1_000, 1_000, 10, 1),
    (30_000_000_000, 10_000, 10, 1_000),   # the series beyond 2**53: must stay exact
    (12_345_678_901, 7_777, 13, 1_000),
])
def test_the_nominal_ramp_down_is_the_sum_of_the_positive_commands(cmd_na: int, step_na: int,
                                                                   tick_ms: int, per_na: int) -> None:
    """The positive commands cmd - k x step (k >= 1) x tick, in whole uA*ms (rounded down:
    a nominal, not a bound)."""
    m = -(-cmd_na // step_na) - 1
    want = Fraction(series_sum(cmd_na - step_na, step_na, m) * tick_ms, 1000 * per_na)
    got = ramp_down_nominal_uams(cmd_na, step_na, tick_ms, per_na)
    assert type(got) is int and got == want.numerator // want.denominator


# --- shaping (CTL-002) -------------------------------------------------------------------

@pytest.mark.req("CTL-002")
@pytest.mark.parametrize("slew, tick, step", [(1, 10, 1), (150, 10, 2), (999, 1, 1), (1_001, 1, 2),
                                              (2_000, 10, 20), (0, 10, 0)])
def test_the_step_per_tick_is_the_slew_rounded_up_to_a_whole_ua(slew: int, tick: int, step: int) -> None:
    """max_step_ua: the smallest whole uA at least slew x tick (the docstring's contract)."""
    got = max_step_ua(slew, tick)
    assert type(got) is int and got == step
    assert got * 1000 >= slew * tick and (got == 0 or (got - 1) * 1000 < slew * tick)


# --- validators: the lowest value a maker may set, the unit in a refusal (ENV-006, RX-001) ---

@pytest.mark.req("ENV-006")
@pytest.mark.parametrize("family", ["tap-water", "drug", "research"])
def test_a_family_limit_of_one_is_accepted_and_zero_refused(family: str) -> None:
    """ENV-006: a maker may set each family limit between 1 and its ceiling."""
    base = FamilyLimits.default(family)
    assert base.adjusted(max_current_ua=1).max_current_ua == 1
    assert base.adjusted(max_density_ua_per_cm2=1).max_density_ua_per_cm2 == 1
    with pytest.raises(InvalidSettings) as e:
        base.adjusted(max_current_ua=0)
    assert [p.field for p in e.value.problems] == [f"{family.replace('-', '_')}.max_current_ua"]


@pytest.mark.req("RX-001")
def test_a_range_without_a_unit_is_refused_without_one() -> None:
    """The allowed range is stated as it is: no unit given, none invented."""
    c = Checker("test")
    assert not c.int_range("count", 4, 0, 3)
    assert c.int_range("count", 3, 0, 3)
    assert [p.allowed for p in c.problems] == ["an integer from 0 to 3"]
    assert not c.int_range("t", 0, 1, 9, "ms")
    assert c.problems[-1].allowed == "an integer from 1 to 9 ms"


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("field, value, allowed", [
    ("stuck_ms", 0, "an integer from 1 to 60000 ms"),             # specs/limits.md
    ("trip_floor_ua", 0, "an integer from 1 to 10000 uA"),
    ("implausible_max_consecutive", 101, "an integer from 1 to 100 samples"),
])
def test_a_supervision_limit_out_of_range_is_refused_with_its_unit(field: str, value: int,
                                                                   allowed: str) -> None:
    with pytest.raises(InvalidSettings) as e:
        SupervisionLimits(**{field: value})
    assert [(p.field, p.value, p.allowed) for p in e.value.problems] == [(field, value, allowed)]


def test_a_refusal_without_a_reason_is_refused_in_plain_words() -> None:
    """A Reply(False) with no reason is refused with exactly this message."""
    with pytest.raises(ValueError) as e:
        Reply(False)
    assert str(e.value) == "a refused request must say why"


# --- admitted samples are four integers (SUP-004) ---------------------------------------

@pytest.mark.req("SUP-004")
@pytest.mark.parametrize("sample", [
    [10, 200, 3_000, 1],                 # a list: four clean fields, but not a tuple
    (10, 200.0, 3_000, 1),               # an integral float current
    (10.0, 200, 3_000, None),            # an integral float time
    [10, 200, -3_000.0, -1],
])
def test_an_admitted_sample_is_a_tuple_of_integers(sample: object) -> None:
    got = admit(sample, 60_000, 120_000)
    assert got is not None
    assert type(got) is tuple and len(got) == 4
    assert all(type(x) is int for x in got[:3])
    assert got[3] is None or type(got[3]) is int
    assert list(got) == [int(x) if x is not None else None for x in sample]  # type: ignore[attr-defined]


# --- the trip as an average (SUP-001, SUP-017) -------------------------------------------

@pytest.mark.req("SUP-001", "SUP-017")
@pytest.mark.parametrize("trip, duty, want", [(1_001, 500, 500), (33_000, 333, 10_989),
                                              (1, 999, 0), (22_000, 1_000, 22_000)])
def test_the_trip_average_is_the_whole_ua_at_or_below_trip_times_duty(trip: int, duty: int,
                                                                      want: int) -> None:
    """The sensor reads whole uA: the trip as an average is trip x duty / 1000 rounded
    down, so an average one uA above it (amplitude above the trip) trips."""
    got = trip_average_ua(trip, duty)
    assert type(got) is int and got == want
    assert Fraction(got) <= Fraction(trip * duty, 1000) < got + 1


# --- uncommanded current: the floor at and above 1000 uA (SUP-014) ---------------------------

@pytest.mark.req("SUP-014")
@pytest.mark.parametrize("tol_ua", [1_000, 2_500, 10_000])
@pytest.mark.parametrize("expected", [5_000, -5_000])
def test_uncommanded_acts_one_ua_past_a_large_floor(tol_ua: int, expected: int) -> None:
    """Along the command, measured above |expected| + tolerance_ua (the floor deciding:
    permille 0) is uncommanded; exactly at it, not."""
    sign = 1 if expected > 0 else -1
    assert not uncommanded(expected + sign * tol_ua, expected, tol_ua, 0)
    assert uncommanded(expected + sign * (tol_ua + 1), expected, tol_ua, 0)
