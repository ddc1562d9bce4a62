"""Persistence (SUP-021) and the impedance trend (SUP-018) at the edges the mutation run
found unpinned: the default window, one-sample windows, a 1 ms tick, clear(), several runs
leaving the window at once, a run that leaves the window by its late continuation, a
repeated time stamp, the sense voltage of a reference and the words of a fall's reason.

Oracles come from the rules, not from the code: the held time is the measure Persistence's
docstring and SUP-021 define (a sample showing the condition weighs one tick at its own
time after one that did not, the whole interval after one that did; summed within the
longer of the last window_ms and the last M = window_ms / tick_ms samples), computed here by
brute force in exact arithmetic; detection is at a held time of limit + tick.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from iontocore import Command, SupervisionLimits
from iontocore.persistence import Persistence, persistence_window_ms
from iontocore.trend import ImpedanceTrend


def held_by_definition(samples: list[tuple[int, bool]], k: int, tick: int, window: int) -> Fraction:
    """The held time at sample k (times non-decreasing), by the stated definition: the
    window is the longer of (t - window, t] and the time after sample k - M (M = window //
    tick samples, at least one); a bad sample after a bad one holds the interval between
    them (clipped at the window's start), one after a good one (or the first) weighs a
    tick at its own time."""
    t = samples[k][0]
    m = max(1, window // tick)
    cut = min(t - window, samples[0][0] - 1) if k < m else min(t - window, samples[k - m][0])
    held = Fraction(0)
    for j in range(k + 1):
        tj, bj = samples[j]
        if not bj:
            continue
        if j > 0 and samples[j - 1][1]:
            prev = samples[j - 1][0]
            if tj > prev:
                held += max(0, tj - max(prev, cut))
        elif tj > cut:
            held += tick
    return held


def check_against_definition(p: Persistence, samples: list[tuple[int, bool]], limit_ms: int,
                             tick: int, window: int) -> None:
    for k, (t, bad) in enumerate(samples):
        held = held_by_definition(samples, k, tick, window)
        assert p.update(bad, t) == (bad and held >= limit_ms + tick), (k, t, held)
        assert p.acc_ms == held, (k, t, p.acc_ms, held)
        assert p.held == (held > 0), (k, t)          # held: any held time within the window
        if held == 0:
            assert p.since_ms == -1 and p.span_ms(t) == 0, (k, t)


B, G = True, False


@pytest.mark.req("SUP-021")
@pytest.mark.parametrize("limit_ms, tick, samples", [
    # default window limit + tick = 40 ms, M = 4: continuous, one tick before the debounce
    (30, 10, [(0, B), (10, B), (20, B), (29, B), (30, B), (40, G)]),
    # default window of one sample (limit < tick: M = 1); a single sample leaves it at the
    # next one, and two runs (0 and 6) leave it on the same sample (23)
    (0, 5, [(0, G), (20, B), (25, G)]),
    (2, 5, [(0, B), (5, G), (6, B), (23, G)]),
    # a late bad sample continues a run whose first sample has left the window, and the
    # continuation itself leaves it later
    (2, 5, [(0, B), (9, B), (19, G)]),
    (6, 2, [(0, B), (13, B), (15, G)]),
    # M = 4: the lone bad sample at 0 leaves the window exactly when four later samples are in
    (30, 10, [(0, B), (10, G), (20, G), (30, G), (40, G), (50, B)]),
    # M = 4, samples closer than a tick, then a gap: the runs at 0 and 2 leave together
    (30, 10, [(0, B), (1, G), (2, B), (3, G), (4, G), (5, G), (45, G), (46, B)]),
])
def test_the_default_window_follows_the_definition(limit_ms: int, tick: int,
                                                   samples: list[tuple[int, bool]]) -> None:
    """Without an explicit window, the window is limit + tick (SUP-021: a plain debounce
    for a continuous condition), and the held time is exactly the defined measure."""
    check_against_definition(Persistence(limit_ms, tick), samples, limit_ms, tick, limit_ms + tick)


@pytest.mark.req("SUP-021")
def test_a_continuous_condition_with_the_default_window_is_detected_exactly_at_the_debounce() -> None:
    p = Persistence(30, 10)
    assert [p.update(True, t) for t in (0, 10, 20, 29, 30)] == [False, False, False, False, True]


@pytest.mark.req("SUP-021")
def test_a_one_ms_tick_keeps_the_count_bound_for_samples_two_ticks_apart() -> None:
    """tick 1 ms, debounce 3 ms, share 500: N = 4, M = 8. Samples 2 ms apart (late ticks),
    every other one bad: at the 4th bad sample, 4 of the last 8 samples are bad, so it is
    detected there (no later than N of the last M), and not one bad sample before."""
    window = persistence_window_ms(3, 1, 500)
    assert window == 8
    p = Persistence(3, 1, window)
    got = [p.update(k % 2 == 0, 2 * k) for k in range(7)]       # t = 0, 2, ..., 12
    assert got == [False] * 6 + [True]
    samples = [(2 * k, k % 2 == 0) for k in range(12)]
    check_against_definition(Persistence(3, 1, window), samples, 3, 1, window)


@pytest.mark.req("SUP-021")
def test_after_clear_the_monitor_is_as_new() -> None:
    """clear() forgets every held time: afterwards a continuous condition is detected
    exactly limit after its first sample (one ms before: not), with a held time of one
    tick on that first sample, whatever its time (0 included)."""
    p = Persistence(30, 10, persistence_window_ms(30, 10, 100))
    for t in (0, 10, 20):
        p.update(True, t)
    p.clear()
    assert p.acc_ms == 0 and not p.held and p.since_ms == -1
    assert [p.update(True, t) for t in (100, 110, 120, 129)] == [False] * 4
    assert p.update(True, 130)
    p = Persistence(30, 10)
    p.clear()
    assert not p.update(True, 0) and p.acc_ms == 10
    assert [p.update(True, t) for t in (10, 20, 29, 30)] == [False, False, False, True]
    assert p.acc_ms == 40


@pytest.mark.req("SUP-021")
def test_a_repeated_time_stamp_holds_nothing_more() -> None:
    """A second sample at the same time after one showing the condition weighs the interval
    between them: nothing. So two samples at t = 0 are not a debounce of a tick."""
    p = Persistence(10, 10)
    assert not p.update(True, 0)
    assert not p.update(True, 0)
    assert p.acc_ms == 10
    assert not p.update(True, 9) and p.update(True, 10)


# --- the impedance trend (SUP-018) ----------------------------------------------------------

SUP = SupervisionLimits()   # fall 500 permille, window 2000 ms, sense 500 uA / 500 mV, debounce 100 ms
TICK = 10
CMD = Command(1_000, True)  # 1 mA, at least impedance_sense_ua


def trend() -> ImpedanceTrend:
    return ImpedanceTrend(SUP.impedance_fall_permille, SUP.impedance_window_ms,
                          SUP.impedance_horizon_ms, SUP.impedance_sense_ua, SUP.impedance_sense_mv,
                          SUP.persistence(SUP.impedance_debounce_ms, TICK))


def steady_then_fall(tr: ImpedanceTrend, before_mv: int, after_mv: int, until: int) -> int | None:
    """1000 uA throughout; `before_mv` up to the end of the settling window (t = 2000 ms),
    then `after_mv`. The time of detection, if any, up to `until`."""
    for t in range(0, until + 1, TICK):
        v = before_mv if t <= SUP.impedance_window_ms else after_mv
        if tr.update(t, 1_000, v, CMD, True):
            return t
    return None


@pytest.mark.req("SUP-018")
def test_a_reference_needs_at_least_the_sense_voltage_and_exactly_it_suffices() -> None:
    """|V| >= impedance_sense_mv makes a sample a reference: at exactly 500 mV (500 ohm) a
    fall to 200 ohm is detected one debounce after its first sample; at 499 mV there is no
    reference, so nothing is judged."""
    first_fallen = SUP.impedance_window_ms + TICK
    assert steady_then_fall(trend(), 500, 200, 3_000) == first_fallen + SUP.impedance_debounce_ms
    assert steady_then_fall(trend(), 499, 200, 3_000) is None


@pytest.mark.req("SUP-018")
def test_the_reason_states_the_fall_the_time_and_the_impedances() -> None:
    """5000 ohm (5000 mV at 1000 uA, last at t = 2000) falls to 2000 ohm from t = 2010: a fall
    of 60 %, detected at 2110 (the debounce after the first fallen sample), 110 ms after the
    reference, fallen for the debounce."""
    tr = trend()
    assert steady_then_fall(tr, 5_000, 2_000, 3_000) == 2_110
    assert "fell 60 %" in tr.detail
    assert "within 110 ms" in tr.detail
    assert "(5000 to 2000 ohm at 1000 uA" in tr.detail
    assert "fallen for 100 ms" in tr.detail


@pytest.mark.req("SUP-018")
def test_a_sample_without_current_while_a_fall_is_pending_is_not_judged() -> None:
    """No current, no impedance: a sample with zero current during a pending fall is neither
    a fall nor a detection (update returns False, a bool), and the reason is not rewritten;
    the fall then goes on being judged and is detected on its own samples."""
    tr = trend()
    assert steady_then_fall(tr, 5_000, 2_000, 2_050) is None          # fallen since 2010, pending
    detail = tr.detail
    assert tr.update(2_060, 0, 2_000, CMD, True) is False
    assert tr.detail == detail
    got = [tr.update(t, 1_000, 2_000, CMD, True) for t in range(2_070, 2_200, TICK)]
    assert True in got
