"""SUP-021: every debounced monitor detects an intermittent condition, with a stated bound.

The oracles here are written from the rule as SAFETY.md and SUP-021 state it, not from the
code: with a sample every tick T, a monitor with debounce D and share s detects its
condition on the first sample showing it at which at least N = ceil((D + T) / T) of the
last M = ceil(N x 1000 / s) samples show it; so at least s of M consecutive samples is
always detected, and fewer than N of every M samples never is. With irregular sample
times, the held time is the measure the docstring of Persistence defines, computed here
by brute force in exact arithmetic.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from iontocore import Command, SupervisionLimits
from iontocore.faults import FaultCode
from iontocore.persistence import Persistence, persistence_window_ms
from iontocore.supervision import Supervisor
from iontocore.trend import ImpedanceTrend


def stated_n_m(limit_ms: int, tick_ms: int, share_permille: int) -> tuple[int, int]:
    """N and M of SUP-021, from its statement."""
    n = -(-(limit_ms + tick_ms) // tick_ms)
    return n, -(-n * 1000 // share_permille)


def sliding_count_oracle(bad: list[bool], n: int, m: int) -> list[bool]:
    """Per sample: detected, by the stated rule (a bad sample with >= n bad in the last m)."""
    return [b and sum(bad[max(0, k - m + 1):k + 1]) >= n for k, b in enumerate(bad)]


def persistence(limit_ms: int, tick_ms: int, share_permille: int) -> Persistence:
    return Persistence(limit_ms, tick_ms, persistence_window_ms(limit_ms, tick_ms, share_permille))


@pytest.mark.req("SUP-021")
def test_the_window_is_m_ticks() -> None:
    for limit, tick, share in ((200, 10, 100), (30, 10, 100), (25, 10, 100), (1_000, 1, 333),
                               (0, 10, 1_000), (30, 10, 1_000)):
        assert persistence_window_ms(limit, tick, share) == tick * stated_n_m(limit, tick, share)[1]
    assert stated_n_m(200, 10, 100) == (21, 210) and stated_n_m(30, 10, 100) == (4, 40)


@pytest.mark.req("SUP-021")
def test_a_continuous_condition_is_detected_exactly_after_its_debounce() -> None:
    for times in ([0, 10, 20, 30], [5, 7, 20, 35], [0, 29, 30], [100, 130]):
        p = persistence(30, 10, 100)
        got = [p.update(True, t) for t in times]
        assert got == [t - times[0] >= 30 for t in times], times   # one tick before: not yet
    p = persistence(0, 10, 100)
    assert p.update(True, 3)                                        # no debounce: at once
    p = persistence(30, 10, 100)                                    # after a good sample too
    assert not p.update(False, 0) and p.since_ms == -1
    assert [p.update(True, t) for t in (1, 11, 21, 31)] == [False, False, False, True]


@pytest.mark.req("SUP-021")
@pytest.mark.parametrize("limit_ms, share", [(200, 100), (30, 100), (100, 100), (200, 250),
                                             (30, 1_000)])
def test_every_duty_pattern_at_or_above_the_share_is_detected_within_the_window(
        limit_ms: int, share: int) -> None:
    """One in k samples for every k the share allows (and bursts), detected by the end of
    the first window; one sample fewer per window is never detected."""
    tick = 10
    n, m = stated_n_m(limit_ms, tick, share)
    patterns: list[list[bool]] = []
    for k in range(1, m + 1):
        if -(-m // k) >= n or m // k >= n:
            patterns.append([j % k == 0 for j in range(k)])
    patterns += [[True] * 3 + [False] * 7, [False] * 5 + [True] * 5, [True, False, False]]
    for pattern in patterns:
        bad = [pattern[j % len(pattern)] for j in range(6 * m)]
        want = sliding_count_oracle(bad, n, m)
        p = persistence(limit_ms, tick, share)
        got = [p.update(b, j * tick) for j, b in enumerate(bad)]
        assert got == want, (pattern, got.index(True) if True in got else None,
                             want.index(True) if True in want else None)
        if sum(pattern) * 1000 >= share * len(pattern) and len(pattern) <= m:
            first = want.index(True)
            assert first < m + len(pattern), (pattern, first)       # within one window
    # fewer than n of every m: n - 1 bad samples at the start of every window, never detected
    bad = [(j % m) < n - 1 for j in range(6 * m)]
    p = persistence(limit_ms, tick, share)
    assert not any(p.update(b, j * tick) for j, b in enumerate(bad))


@pytest.mark.req("SUP-021")
@settings(max_examples=300)
@given(st.lists(st.booleans(), min_size=1, max_size=400), st.integers(0, 300),
       st.sampled_from([1, 2, 5, 10, 20]), st.integers(10, 1_000))
@example([True, False, False] * 100, 200, 10, 100)   # the review's one in three
@example([True] + [False] * 9, 200, 10, 100)
def test_regular_samples_follow_the_sliding_count(bad: list[bool], limit_ms: int, tick: int,
                                                  share: int) -> None:
    n, m = stated_n_m(limit_ms, tick, share)
    p = persistence(limit_ms, tick, share)
    got = [p.update(b, j * tick) for j, b in enumerate(bad)]
    assert got == sliding_count_oracle(bad, n, m)
    assert len(p._runs) <= max(n, m)  # memory: one entry per run within the window


def held_by_definition(samples: list[tuple[int, bool]], k: int, tick: int, window: int) -> Fraction:
    """The held time at sample k, by Persistence's definition: a bad sample after a bad one
    (later in time) holds the interval between them; one after a good one, or the first,
    weighs a tick at its own time; all clipped to the window, the longer of (t - window, t]
    and the last M = window / tick samples (after the time of sample k - M)."""
    t = samples[k][0]
    m = window // tick
    cut = min(t - window, samples[0][0] - 1) if k < m else min(t - window, samples[k - m][0])
    held = Fraction(0)
    for j in range(k + 1):
        tj, bj = samples[j]
        if not bj:
            continue
        if j > 0 and samples[j - 1][1]:
            prev = max(s for s, _ in samples[:j])
            if tj > prev:
                held += max(0, tj - max(prev, cut))
        elif tj > cut:
            held += tick
    return held


@pytest.mark.req("SUP-021")
@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 25), st.booleans()), min_size=1, max_size=120),
       st.integers(0, 100), st.sampled_from([5, 10]), st.integers(10, 1_000))
def test_irregular_samples_follow_the_definition(steps: list[tuple[int, bool]], limit_ms: int,
                                                 tick: int, share: int) -> None:
    window = persistence_window_ms(limit_ms, tick, share)
    samples, t = [], 0
    for dt, b in steps:
        t += dt
        samples.append((t, b))
    p = Persistence(limit_ms, tick, window)
    for k, (tk, b) in enumerate(samples):
        held = held_by_definition(samples, k, tick, window)
        assert p.update(b, tk) == (b and held >= limit_ms + tick), (k, held)
        assert p.acc_ms == held


@pytest.mark.req("SUP-021")
@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 25), st.booleans()), min_size=1, max_size=200),
       st.integers(0, 100), st.booleans())
def test_skipping_good_samples_while_nothing_is_held_changes_nothing(
        steps: list[tuple[int, bool]], limit_ms: int, regular: bool) -> None:
    """The monitors skip `update` on a good sample while since_ms < 0: the same detections
    and the same held time, whatever the sample times."""
    full, lazy = persistence(limit_ms, 10, 100), persistence(limit_ms, 10, 100)
    t = 0
    for dt, b in steps:
        t += 10 if regular else dt
        a = full.update(b, t)
        z = lazy.update(b, t) if (b or lazy.since_ms >= 0) else False
        assert a == z and full.acc_ms == lazy.acc_ms


@pytest.mark.req("SUP-021")
@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(10, 120), st.booleans()), min_size=1, max_size=300),
       st.integers(0, 300), st.sampled_from([5, 10, 20]), st.integers(10, 1_000))
@example([(15, k % 3 == 0) for k in range(300)], 200, 10, 334)    # the review's slow ticks
@example([(15 if k % 11 else 100, k % 2 == 0) for k in range(300)], 200, 10, 334)
def test_samples_a_tick_or_more_apart_are_detected_by_the_count_bound(
        steps: list[tuple[int, bool]], limit_ms: int, tick: int, share: int) -> None:
    """Late ticks (punctual up to 1.5 ticks, or later) must not weaken the bound: with every
    interval at least a tick, detection comes no later than the first bad sample at which
    N of the last M samples are bad."""
    n, m = stated_n_m(limit_ms, tick, share)
    p = persistence(limit_ms, tick, share)
    bad = [b for _, b in steps]
    want = sliding_count_oracle(bad, n, m)
    t, detected = 0, False
    for k, (dt, b) in enumerate(steps):
        t += max(dt, tick)
        detected = p.update(b, t) or detected
        if want[k]:
            assert detected, (k, t)


# --- every debounced monitor of the supervisor, through Supervisor.observe -------------

TICK = 10
SUP = SupervisionLimits()
CMD = Command(2_000, True)


def _sample(monitor: str, bad: bool) -> tuple[int, int, int | None, Command, int | None]:
    """(current, voltage, relay, command, supply) of a good or bad sample for `monitor`."""
    if monitor == "tracking":
        return (1_000 if bad else 2_000), 4_000, None, CMD, None
    if monitor == "uncommanded":
        return (3_000 if bad else 2_000), 4_000, None, CMD, None
    if monitor == "short":
        return 2_000, (100 if bad else 4_000), None, CMD, None
    if monitor == "relay":
        return 2_000, 4_000, (-1 if bad else 1), CMD, None
    if monitor == "unsettled":
        # more than the zero tolerance (20 uA), within the uncommanded-current floor (50 uA)
        return (40 if bad else 0), (80 if bad else 0), None, Command(0, True), None
    if monitor == "supply-low":
        return 2_000, 4_000, None, CMD, (6_300 if bad else 7_400)
    if monitor == "supply-lost":
        return 2_000, 4_000, None, CMD, (0 if bad else 7_400)
    raise AssertionError(monitor)


SHARE, TRACKING_SHARE = SUP.intermittent_share_permille, SUP.tracking_share_permille
MONITORS = {  # monitor: (its debounce, its share, the fault it raises)
    "tracking": (SUP.tracking_debounce_ms, TRACKING_SHARE, FaultCode.TRACKING),
    "uncommanded": (SUP.tracking_debounce_ms, TRACKING_SHARE, FaultCode.UNCOMMANDED_CURRENT),
    "short": (SUP.short_debounce_ms, SHARE, FaultCode.SHORT_CIRCUIT),
    "relay": (SUP.relay_debounce_ms, SHARE, FaultCode.RELAY_MISMATCH),
    "unsettled": (SUP.settle_ms, SHARE, FaultCode.UNSETTLED),
    "supply-low": (SUP.supply_debounce_ms, SHARE, FaultCode.SUPPLY_LOW),
    "supply-lost": (SUP.supply_debounce_ms, SHARE, FaultCode.SUPPLY_LOST),
}


def _run_monitor(monitor: str, bad: list[bool]) -> int | None:
    sup = Supervisor(SUP, 60_000, 20, TICK, 20_000, supply_min_mv=6_000, supply_max_mv=9_000)
    want = MONITORS[monitor][2]
    for k, b in enumerate(bad):
        i, v, relay, cmd, supply = _sample(monitor, b)
        # the stuck-sensor monitor must not judge these synthetic readings: vary them by 1
        code = sup.observe(1_000 + k * TICK, i + (k % 2), v, relay, TICK, cmd, 1000, 22_000, -1,
                           supply if supply is not None else 7_400)
        if code is not None:
            assert code is want, (monitor, k, code, sup.detail)
            return k
    return None


@pytest.mark.req("SUP-021", "SUP-002", "SUP-014", "SUP-006", "SUP-010", "SUP-015", "SUP-019",
                 "SUP-020")
@pytest.mark.parametrize("monitor", sorted(MONITORS))
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 10, 11])
def test_every_debounced_monitor_catches_one_bad_sample_in_k(monitor: str, k: int) -> None:
    """A condition on one sample in k is detected on the sample the stated rule gives: within
    the first window whenever 1 / k reaches the monitor's share (one in ten at the default
    10 %, one in three for tracking and uncommanded current); otherwise only where N of M
    samples can still fall in one window (short debounces), never where they cannot."""
    limit, share, _ = MONITORS[monitor]
    n, m = stated_n_m(limit, TICK, share)
    bad = [j % k == 0 for j in range(3 * m)]
    want = sliding_count_oracle(bad, n, m)
    got = _run_monitor(monitor, bad)
    assert got == (want.index(True) if True in want else None)
    if 1000 >= k * share:
        assert got is not None and got < m + k
    else:
        assert (got is None) == (-(-m // k) < n)


@pytest.mark.req("SUP-021", "SUP-005")
@pytest.mark.parametrize("k", [1, 3, 10, 11])
def test_the_open_contact_debounce_catches_one_open_sample_in_k(k: int) -> None:
    n, m = stated_n_m(SUP.contact_loss_debounce_ms, TICK, SUP.intermittent_share_permille)
    sup = Supervisor(SUP, 60_000, 20, TICK, 20_000)
    bad = [j % k == 0 for j in range(3 * m)]
    want = sliding_count_oracle(bad, n, m)
    got = []
    for j, b in enumerate(bad):
        v, i = (59_000, 10) if b else (4_000, 2_000 + j % 2)
        assert sup.observe(1_000 + j * TICK, i, v, None, TICK, CMD, 1000, 22_000, -1) is None
        got.append(sup.contact_open)
    assert got == want


@pytest.mark.req("SUP-021", "SUP-018")
@pytest.mark.parametrize("k", [1, 2, 3, 10, 11])
def test_the_impedance_trend_catches_one_fallen_sample_in_k(k: int) -> None:
    n, m = stated_n_m(SUP.impedance_debounce_ms, TICK, SUP.intermittent_share_permille)
    trend = ImpedanceTrend(500, 2_000, 10_000, 500, 500,
                           SUP.persistence(SUP.impedance_debounce_ms, TICK))
    cmd = Command(5_000, True)
    t = 0
    for _ in range(2_000 // TICK + 1):      # steady for the window at 2 kOhm
        assert not trend.update(t, 5_000, 10_000, cmd, True)
        t += TICK
    bad = [j % k == 0 for j in range(3 * m)]
    want = sliding_count_oracle(bad, n, m)
    got = []
    for j, b in enumerate(bad):
        got.append(trend.update(t, 5_000, 3_000 if b else 10_000, cmd, True))
        t += TICK
        if got[-1]:
            break
    assert got == want[:len(got)]
    assert (True in got) == (True in want)
    if k <= 10:
        assert True in got


@pytest.mark.req("SUP-021", "SUP-002", "SUP-014")
@pytest.mark.parametrize("pattern", ["ougg", "ogugg", "uuggoogg"])
def test_a_fault_split_between_tracking_and_uncommanded_is_caught(pattern: str) -> None:
    """Review: the current wrong on half of the samples, a quarter below the command
    (tracking) and a quarter above it (uncommanded), was under each monitor's share and ran
    on. Off the command either way is judged as one condition too (o: over, u: under,
    g: good)."""
    n, m = stated_n_m(SUP.tracking_debounce_ms, TICK, TRACKING_SHARE)
    sup = Supervisor(SUP, 60_000, 20, TICK, 20_000)
    bad = [pattern[j % len(pattern)] != "g" for j in range(3 * m)]
    want = sliding_count_oracle(bad, n, m)
    got = None
    for j in range(3 * m):
        c = pattern[j % len(pattern)]
        i = {"o": 3_000, "u": 1_000, "g": 2_000}[c] + j % 2
        code = sup.observe(1_000 + j * TICK, i, 4_000, None, TICK, CMD, 1000, 22_000, -1)
        if code is not None:
            assert code is FaultCode.TRACKING and "above or below" in sup.detail, (code, sup.detail)
            got = j
            break
    assert got == want.index(True)


@pytest.mark.req("SUP-015", "SUP-002")
@given(st.lists(st.booleans(), min_size=1, max_size=80), st.sampled_from([10, 20]))
def test_the_held_time_never_exceeds_the_span_it_is_reported_over(
        stream: list[bool], tick: int) -> None:
    """A fault's reason says 'X ms of the last Y ms': X (acc_ms) is never more than Y
    (span_ms), Y never more than the window, and an unbroken run of N samples spans N ticks
    (its first sample weighs the tick before it)."""
    p = Persistence(100, tick)
    for k, bad in enumerate(stream):
        p.update(bad, k * tick)
        t = k * tick
        if p.held:
            assert 0 < p.acc_ms <= p.span_ms(t) <= p.window_ms, (k, p.acc_ms, p.span_ms(t))
        else:
            assert p.span_ms(t) == 0
    q = Persistence(1_000, tick)
    for k in range(5):
        q.update(True, k * tick)
    assert (q.acc_ms, q.span_ms(4 * tick)) == (5 * tick, 5 * tick)
