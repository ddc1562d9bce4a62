"""A protocol built in Python (the device maker's and the lab's own code, not a profile file)
is held to the same rules: every rule at its boundary (accepted) and one past it (refused
with exactly the problems listed, each naming the step's field, its value and the limit).
The expected problems were reviewed as the error catalogue; a ceiling of 100 uA, a set-point
of 100 uA and a slew of 1000 uA/s throughout (a pulse's ramps up and down: 10000 uA*ms)."""

from __future__ import annotations

import pytest

from iontocore.protocol import Protocol, Step


def P(*steps: object, on: str = "end") -> Protocol:
    return Protocol(tuple(steps), on)  # type: ignore[arg-type]


pulse = Step("pulse", duration_ms=1000)
gap = Step("gap", duration_ms=1000)

REFUSED = {
    "unknown on_interrupt": P(pulse, on="retry"),
    "no steps": P(),
    "steps not a tuple": Protocol([pulse], "end"),  # type: ignore[arg-type]
    "too many steps": P(*([pulse, gap] * 501)),
    "not a step": P(pulse, "pulse", Step("gap")),  # and the steps after it still checked
    "unknown kind": P(Step("burst", duration_ms=1000)),
    "negative duration": P(Step("pulse", duration_ms=-1)),
    "charge too large": P(Step("pulse", charge_uams=10**10 + 1)),
    "current not an int": P(Step("pulse", duration_ms=1000, current_ua=1.5)),  # type: ignore[arg-type]
    "repeat zero": P(Step("pulse", duration_ms=1000, repeat=0)),
    "gap too long": P(Step("pulse", duration_ms=1000, repeat=2, gap_ms=3_600_001)),
    "baseline of no time": P(Step("baseline"), pulse),
    "gap with a current": P(pulse, Step("gap", duration_ms=1000, current_ua=5)),
    "baseline with a charge": P(Step("baseline", duration_ms=1000, charge_uams=5), pulse),
    "gap with its own gap": P(pulse, Step("gap", duration_ms=1000, gap_ms=5)),
    "repeated baseline": P(Step("baseline", duration_ms=1000, repeat=2), pulse),
    "pulse with time and charge": P(Step("pulse", duration_ms=1000, charge_uams=20000)),
    "pulse with neither": P(Step("pulse")),
    "current above the ceiling": P(Step("pulse", duration_ms=1000, current_ua=101)),
    "repeats without a gap": P(Step("pulse", duration_ms=1000, repeat=2)),
    "charge below its ramps": P(Step("pulse", charge_uams=9_999)),
    "pulse after pulse": P(pulse, pulse),
    "expanded too long": P(Step("pulse", duration_ms=1000, repeat=501, gap_ms=1000)),  # 501 + 500
    "no pulse": P(gap),
    # a step that stopped its own checks early does not stop the checks of the next step
    "unknown kind, then a bad step": P(Step("burst", duration_ms=1000), Step("pulse", duration_ms=-1)),
    "out of range, then a bad step": P(Step("pulse", duration_ms=-1), Step("gap")),
    "a rest step, then a bad pulse": P(Step("baseline", duration_ms=1000),
                                       Step("pulse", duration_ms=1000, current_ua=101)),
    # the expanded count adds up over every step, not only the last one's repeats
    "expanded too long over several steps": P(Step("pulse", duration_ms=1000, repeat=999), gap, pulse),
    "expanded at the maximum over several steps": P(Step("pulse", duration_ms=1000, repeat=998), gap,
                                                    pulse),
}

EXPECTED: dict[str, list[tuple[str, object, str]]] = {
    'unknown on_interrupt': [('protocol.on_interrupt', 'retry', "one of ['end', 'repeat', 'skip']")],
    'no steps': [('protocol.step', 0, '1 to 1000 steps')],
    'steps not a tuple': [('protocol.step', [Step(kind='pulse', duration_ms=1000, charge_uams=0, current_ua=0, repeat=1, gap_ms=0)], '1 to 1000 steps')],
    'too many steps': [('protocol.step', 1002, '1 to 1000 steps')],
    'not a step': [('protocol.step[2]', 'pulse', 'a step'),
                   ('protocol.step[3].duration_ms', 0, '>= 1 ms: a gap lasts a time')],
    'unknown kind': [('protocol.step[1].kind', 'burst', "one of ['baseline', 'pulse', 'gap']"), ('protocol.step', 1, 'at least one pulse')],
    'negative duration': [('protocol.step[1].duration_ms', -1, 'an integer from 0 to 3600000 ms')],
    'charge too large': [('protocol.step[1].charge_uams', 10000000001, 'an integer from 0 to 10000000000 uA*ms')],
    'current not an int': [('protocol.step[1].current_ua', 1.5, 'an integer from 0 to 100000 uA')],
    'repeat zero': [('protocol.step[1].repeat', 0, 'an integer from 1 to 1000')],
    'gap too long': [('protocol.step[1].gap_ms', 3600001, 'an integer from 0 to 3600000 ms')],
    'baseline of no time': [('protocol.step[1].duration_ms', 0, '>= 1 ms: a baseline lasts a time')],
    'gap with a current': [('protocol.step[2].current_ua', 5, 'not given for a gap (no current)')],
    'baseline with a charge': [('protocol.step[1].charge_uams', 5, 'not given for a baseline (no current)')],
    'gap with its own gap': [('protocol.step[2].gap_ms', 5, 'not given for a gap (no current)')],
    'repeated baseline': [('protocol.step[1].repeat', 2, '1 for a baseline (write its whole duration)')],
    'pulse with time and charge': [('protocol.step[1].duration_ms', 1000, 'either an on-time or a charge for a pulse (exactly one)')],
    'pulse with neither': [('protocol.step[1].duration_ms', 0, 'either an on-time or a charge for a pulse (exactly one)')],
    'current above the ceiling': [('protocol.step[1].current_ua', 101, 'at most the ceiling (100 uA)')],
    'repeats without a gap': [('protocol.step[1].gap_ms', 0, "> 0 between repetitions of a pulse (a pulse's charge includes its ramp down to zero)")],
    'charge below its ramps': [('protocol.step[1].charge_uams', 9999, "at least the charge of the pulse's ramps up and down, 10000 uA*ms at 100 uA and 1000 uA/s")],
    'pulse after pulse': [('protocol.step[1].kind', 'pulse', 'a pulse followed by a gap or a baseline, or last (its charge includes its ramp down to zero)')],
    'expanded too long': [('protocol.step', 1001, 'at most 1000 steps with the repeats and their gaps expanded')],
    'no pulse': [('protocol.step', 1, 'at least one pulse')],
    'unknown kind, then a bad step': [
        ('protocol.step[1].kind', 'burst', "one of ['baseline', 'pulse', 'gap']"),
        ('protocol.step[2].duration_ms', -1, 'an integer from 0 to 3600000 ms')],
    'out of range, then a bad step': [
        ('protocol.step[1].duration_ms', -1, 'an integer from 0 to 3600000 ms'),
        ('protocol.step[2].duration_ms', 0, '>= 1 ms: a gap lasts a time')],
    'a rest step, then a bad pulse': [
        ('protocol.step[2].current_ua', 101, 'at most the ceiling (100 uA)')],
    # 999 repetitions (without the gap they need: one problem) + a gap + a pulse = 1001 steps
    'expanded too long over several steps': [
        ('protocol.step[1].gap_ms', 0, "> 0 between repetitions of a pulse (a pulse's charge includes its ramp down to zero)"),
        ('protocol.step', 1001, 'at most 1000 steps with the repeats and their gaps expanded')],
    # 998 + 1 + 1 = 1000 steps: only the missing gap is refused
    'expanded at the maximum over several steps': [
        ('protocol.step[1].gap_ms', 0, "> 0 between repetitions of a pulse (a pulse's charge includes its ramp down to zero)")],
}

BOUNDARY_OK = {
    "steps at the maximum": P(*([pulse, gap] * 500)),
    "expanded at the maximum": P(Step("pulse", duration_ms=1000, repeat=500, gap_ms=1000),
                                 Step("baseline", duration_ms=1000)),  # 500 + 499 gaps + 1
    "baseline of 1 ms": P(Step("baseline", duration_ms=1), pulse),
    "gap of 1 ms between repeats": P(Step("pulse", duration_ms=1000, repeat=2, gap_ms=1)),
    "charge exactly its ramps": P(Step("pulse", charge_uams=10_000)),
    "current at the ceiling": P(Step("pulse", duration_ms=1000, current_ua=100)),
    "charge of 1 alone": P(Step("pulse", charge_uams=10_000), gap, Step("pulse", duration_ms=1)),
    # at 1 uA and 1000 uA/s the ramps carry 1 x 1 x 1000 / 1000 = 1 uA*ms: a pulse of 1 uA*ms
    # is given by its charge alone (no on-time), and its charge is exactly its ramps
    "charge of 1 uA*ms at 1 uA": P(Step("pulse", charge_uams=1, current_ua=1)),
}


@pytest.mark.req("RX-011")
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_protocol_breaking_a_rule_is_refused_naming_step_field_value_and_limit(case: str) -> None:
    got = REFUSED[case].problems(ceiling_ua=100, setpoint_ua=100, slew_ua_per_s=1000)
    assert [(p.field, p.value, p.allowed) for p in got] == EXPECTED[case]


@pytest.mark.req("RX-011")
@pytest.mark.parametrize("case", list(BOUNDARY_OK))
def test_a_protocol_at_a_rule_s_boundary_is_accepted(case: str) -> None:
    assert BOUNDARY_OK[case].problems(ceiling_ua=100, setpoint_ua=100, slew_ua_per_s=1000) == []


@pytest.mark.req("RX-011")
@pytest.mark.parametrize("case", ["expanded too long", "expanded too long over several steps",
                                  "expanded at the maximum"])
def test_the_expanded_count_is_the_number_of_steps_expanded(case: str) -> None:
    """The count the limit is judged on is what `expanded()` runs: a gap only between
    repetitions, none after the last (it once counted one per repeated step too many)."""
    proto = {**REFUSED, **BOUNDARY_OK}[case]
    got = proto.problems(ceiling_ua=100, setpoint_ua=100, slew_ua_per_s=1000)
    expanded = len(proto.expanded())
    counted = [p.value for p in got if p.field == "protocol.step"]
    assert counted == ([expanded] if expanded > 1000 else []), (counted, expanded)

