"""Bounded, exhaustive, small-scope model checking of the real Controller
(tests/support/model_check.py). Depths grow with MODEL_CHECK_DEPTH=deep (the evidence run)."""

from __future__ import annotations

import os
import random

import pytest

import clone
import model_check as mc
import planted
from iontocore import controller as controller_mod

DEEP = os.environ.get("MODEL_CHECK_DEPTH") == "deep"
FULL_DEPTH, SESSION_DEPTH = (8, 15) if DEEP else (7, 14)
# With the fast clone: 11,491 + 47,009 states, about 5 s on an idle 2-core machine and 15 s
# loaded (6 and 12 took 35 s with the pickled clone); deep: 38,121 + about 90,000 states.


@pytest.mark.req("CTL-001", "CTL-002", "CTL-003", "SM-002", "CTL-005")
def test_every_state_within_the_bound_keeps_every_invariant(record_property: pytest.RecordProperty) -> None:
    full = mc.explore(FULL_DEPTH)
    assert full.counterexample is None, (full.counterexample, full.violation)
    assert full.exhausted and full.max_depth == FULL_DEPTH
    assert {"idle", "ramp_up", "treat", "polarity_swap", "paused", "ramp_down", "fault"} <= set(full.reached)
    session = mc.explore(SESSION_DEPTH, mc.SESSION)
    assert session.counterexample is None, (session.counterexample, session.violation)
    assert session.exhausted and session.max_depth == SESSION_DEPTH
    for name, r in (("full", full), ("session", session)):
        record_property(f"model_check_{name}", {"states": r.states, "transitions": r.transitions,
                                                "depth": r.max_depth, "seconds": round(r.seconds, 2),
                                                "alphabet": len(mc.ALPHABET if name == "full" else mc.SESSION)})
    assert full.states > 1_000 and session.states > 1_000  # it explored, not just the root


@pytest.mark.req("CTL-002")
def test_a_planted_bug_is_found_with_a_shortest_counterexample(monkeypatch: pytest.MonkeyPatch) -> None:
    planted.abrupt_fall(monkeypatch)
    result = mc.explore(FULL_DEPTH)
    # By hand: the first sample only sets the time base, then the command rises 100 uA per
    # tick (200 uA over a 200 ms ramp); a fall of more than one step (100 uA) needs 200 uA:
    # start, 3 ticks, stop, 1 tick = 6 inputs, and no shorter sequence can do it.
    assert result.counterexample is not None and len(result.counterexample) == 6
    assert result.violation.startswith("CTL-002: fell")
    world = mc.initial()  # the hand-made sequence of that length fails the same way
    with pytest.raises(mc.Violation, match="CTL-002: fell"):
        for symbol in ["start", "normal", "normal", "normal", "stop", "normal"]:
            world.apply(symbol)


@pytest.mark.req("CTL-003")
def test_a_planted_polarity_bug_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controller_mod, "polarity_may_change", lambda *a: True)
    result = mc.explore(SESSION_DEPTH, mc.SESSION)
    assert result.counterexample is not None and result.violation.startswith("CTL-003")
    # start; tick 1 sets the time base; ticks 2-6 reach half time (500 ms) and reverse
    # (200 -> 100 uA); tick 7 reaches zero; tick 8 flips 100 ms later instead of 300 ms
    assert result.counterexample == ["start"] + ["normal"] * 8


def _walks(seed: int, count: int) -> list[mc.World]:
    """Worlds met along seeded random walks (session and full alphabets), every state kind."""
    rng, out = random.Random(seed), []
    for n in range(count):
        world = mc.initial()
        session = n % 2  # mostly normal ticks, to reach the reversal and the end
        alphabet, weights = (mc.SESSION, (1, 8, 1, 1, 1)) if session else (mc.ALPHABET, None)
        for _ in range(rng.randrange(1, 20)):
            try:
                world.apply(rng.choices(alphabet, weights)[0])
            except mc.Violation:
                break
            out.append(mc.clone_by_pickle(world)())
    return out


def test_a_clone_is_exact_and_independent_of_the_original() -> None:
    """The fast clone (machine shared, everything else copied) equals a pickled copy field by
    field; fed the same inputs, clone and original show the same commands, states and keys;
    running the clone changes nothing in the original."""
    rng = random.Random(7)
    worlds = _walks(3, 120)
    states = {w.ctl.state for w in worlds}
    assert {"idle", "ramp_up", "treat", "polarity_swap", "paused", "ramp_down", "fault"} <= states
    for original in worlds:
        before = clone.describe(original)
        copy = clone.clone(original)
        assert clone.describe(copy) == before == clone.describe(mc.clone_by_pickle(original)())
        assert copy.ctl._sup is not original.ctl._sup and copy.check is not original.check
        inputs = [rng.choice(mc.ALPHABET) for _ in range(12)]
        seen_by_copy = mc.trace(copy, inputs)
        assert clone.describe(original) == before  # the clone ran; the original did not move
        assert mc.trace(original, inputs) == seen_by_copy
        assert clone.describe(copy) == clone.describe(original)


def test_the_clone_refuses_what_it_has_no_rule_for() -> None:
    world = mc.initial()
    world.ctl.extra = bytearray(b"x")  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="no rule to copy a bytearray"):
        clone.clone(world)
    with pytest.raises(KeyError, match="does not classify"):
        world.key()


def _weak_key(world: mc.World) -> tuple[object, ...]:
    """A key blind to the debounced monitors (their runs, held time, last sample and last
    condition): it merges a world whose open-contact debounce holds a sample with one whose
    tracking debounce does."""
    key = _KEY(world)
    return key[:4] + ((),) + key[5:]


_KEY = mc.World.key


def _diverging(pairs: list[tuple[mc.World, mc.World, list[str], list[str]]]) -> list[str]:
    rng, found = random.Random(11), []
    for a, b, path_a, path_b in pairs:
        for _ in range(3):
            inputs = [rng.choice(mc.ALPHABET) for _ in range(10)]
            why = mc.divergence(clone.clone(a), clone.clone(b), inputs)
            if why:
                found.append(f"{path_a} and {path_b} merged, yet {why}")
    return found


def test_states_the_key_merges_have_the_same_future() -> None:
    """Worlds merged by the key (reached by different paths, different somewhere) answer
    random input sequences identically: commands, states, keys and violations."""
    pairs = mc.merged_pairs(4) + mc.merged_pairs(9, mc.SESSION)
    assert len(pairs) >= 100
    assert _diverging(pairs) == []


def test_a_key_that_misses_state_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key that leaves out the monitors' state merges states that differ, and the
    divergence check finds it."""
    monkeypatch.setattr(mc.World, "key", _weak_key)
    found = _diverging(mc.merged_pairs(9, mc.SESSION))
    assert found, "a key blind to the monitors should merge diverging states"
