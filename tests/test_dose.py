"""The dose arithmetic of core/dose.py against its definitions, computed the long way: tick
by tick, in exact fractions (never the closed forms the module uses)."""

from __future__ import annotations

from fractions import Fraction
from math import ceil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iontocore.dose import UAMS_PER_MA_MIN, ramp_down_bound_uams, ramp_down_nominal_uams, uams_to_ma_min

STEP = st.integers(1, 2_000_000)
TICKS = st.integers(0, 3_000)     # a ramp-down of up to 3000 ticks (30 s at 10 ms)


@st.composite
def ramp(draw: st.DrawFn) -> tuple[int, int]:
    """A command (nA, up to 40 mA) and its step, the ramp-down at most 3000 ticks long (the
    long way below sums every tick)."""
    step = draw(STEP)
    cmd = min(draw(TICKS) * step + draw(st.integers(0, step - 1)), 40_000_000)
    return cmd, step


def ramp_commands(cmd_na: int, step_na: int) -> list[int]:
    """The commands a ramp-down from cmd follows, cmd first, while positive."""
    out = []
    c = cmd_na
    while c > 0:
        out.append(c)
        c -= step_na
    return out


@pytest.mark.req("DOSE-003")
@given(ramp(), st.integers(1, 100))
def test_the_nominal_ramp_down_is_the_sum_of_the_commands_to_come(cmd_step: tuple[int, int],
                                                                  tick_ms: int) -> None:
    cmd_na, step_na = cmd_step
    to_come = ramp_commands(cmd_na, step_na)[1:]  # from the next command on
    assert ramp_down_nominal_uams(cmd_na, step_na, tick_ms) == sum(to_come) * tick_ms // 1000


@pytest.mark.parametrize("cmd_na, step_na, tick_ms, uams", [
    (0, 5, 10, 0), (5, 5, 10, 0), (6, 5, 10, 0),            # nothing positive after this one
    (10_000, 5_000, 10, 50), (10_000, 3_000, 10, 120),       # 5000; 7000 + 4000 + 1000
    (1_000_000, 100_000, 1, 4_500),                          # 900 + 800 + ... + 100 uA, 1 ms
])
def test_the_nominal_ramp_down_by_hand(cmd_na: int, step_na: int, tick_ms: int, uams: int) -> None:
    assert ramp_down_nominal_uams(cmd_na, step_na, tick_ms) == uams


@pytest.mark.req("DOSE-002")
@given(ramp(), st.integers(0, 200), st.integers(0, 500), st.integers(0, 1_000),
       st.integers(0, 500), st.integers(0, 5_000))
def test_the_ramp_down_bound_is_the_worst_case_charge_rounded_up(
        cmd_step: tuple[int, int], dt_ms: int, floor_ua: int, permille: int, jump_ms: int,
        tail_ms: int) -> None:
    """Each ramp tick at most dt long at its command plus the tolerance, one tick at the
    clock-jump bound at the starting current plus a step, then the tail at the floor: the
    bound is that sum, each part rounded up once (never below it, at most 2 uA*ms above)."""
    cmd_na, step_na = cmd_step
    scale = Fraction(1000 + permille, 1000)
    ramp = sum((Fraction(c, 1000) * scale + floor_ua) * dt_ms
               for c in ramp_commands(cmd_na, step_na))
    top = (Fraction(cmd_na + step_na, 1000) * scale + floor_ua) * jump_ms
    exact = ramp + top + floor_ua * tail_ms
    got = ramp_down_bound_uams(cmd_na, step_na, dt_ms, floor_ua, permille, jump_ms, tail_ms)
    assert exact <= got < exact + 2
    assert got == ceil(ramp) + ceil(top) + floor_ua * tail_ms


def test_display_units() -> None:
    assert UAMS_PER_MA_MIN == 1_000 * 60_000
    assert uams_to_ma_min(90_000_000) == 1.5


@pytest.mark.req("DOSE-002", "DOSE-003")
@given(ramp(), st.sampled_from([1, 7, 1000]), st.integers(1, 100), st.integers(0, 500),
       st.integers(0, 1_000))
def test_both_ramp_downs_in_finer_units_are_the_same_sums(cmd_step: tuple[int, int], per_na: int,
                                                          tick_ms: int, floor_ua: int,
                                                          permille: int) -> None:
    """Command and step in 1 / per_na nA (pA for per_na = 1000: a slow slew at a low duty
    falls a fraction of a nA a tick, which rounding to a whole nA shortened): the nominal is
    the same sum of the commands to come, and the bound the same worst case, in those units."""
    cmd, step = cmd_step
    to_come = ramp_commands(cmd, step)[1:]
    assert ramp_down_nominal_uams(cmd, step, tick_ms, per_na) == \
        sum(to_come) * tick_ms // (1000 * per_na)
    scale = Fraction(1000 + permille, 1000)
    ramp_ = sum((Fraction(c, 1000 * per_na) * scale + floor_ua) * tick_ms
                for c in ramp_commands(cmd, step))
    top = (Fraction(cmd + step, 1000 * per_na) * scale + floor_ua) * tick_ms
    assert ramp_down_bound_uams(cmd, step, tick_ms, floor_ua, permille, tick_ms, 0, per_na) == \
        ceil(ramp_) + ceil(top)


@pytest.mark.req("DOSE-003")
def test_a_fall_of_half_a_nanoamp_a_tick_is_kept() -> None:
    """1 uA/s at 10 % on a 5 ms tick: the average falls 0.5 nA a tick (500 pA). From 10 uA of
    average the ramp takes 20,000 ticks; counted in whole nA (1 a tick) it took half as long
    and the charge still to come was half of it."""
    pa = 10_000_000  # 10 uA in pA
    by_hand = sum(pa - k * 500 for k in range(1, 20_000)) * 5 // (1000 * 1000)
    assert ramp_down_nominal_uams(pa, 500, 5, per_na=1_000) == by_hand == 499_975
    assert ramp_down_nominal_uams(10_000, 1, 5) < by_hand * 2 // 3
