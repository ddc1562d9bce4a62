"""Bounded, exhaustive, small-scope model checking of the real Controller
(tests/support/model_check.py). Depths grow with MODEL_CHECK_DEPTH=deep (the evidence run)."""

from __future__ import annotations

import os

import pytest

import model_check as mc
import planted
from iontocore import controller as controller_mod

DEEP = os.environ.get("MODEL_CHECK_DEPTH") == "deep"
FULL_DEPTH, SESSION_DEPTH = (7, 16) if DEEP else (6, 12)


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
