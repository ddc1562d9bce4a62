"""The state machine: declared as data, spec file in sync, every (state, trigger) pair."""

from __future__ import annotations

from pathlib import Path

import pytest
from transitions import MachineError

from iontocore import Controller, machine as sm, profiles
from iontocore.hal.sim import SimConfig, SimulatedDevice
from iontocore.shell.runner import Runner

SPEC = Path(__file__).resolve().parents[1] / "specs" / "state_machine.md"
STATES = [s.name for s in sm.STATES]
TRIGGERS = sorted({t.trigger for t in sm.TRANSITIONS})


class Model:
    state: str


@pytest.mark.req("SM-001")
def test_spec_file_matches_the_code() -> None:
    assert SPEC.read_text("utf-8") == sm.render_spec(), (
        "specs/state_machine.md is stale: run `ionto diagram --spec > specs/state_machine.md`")


@pytest.mark.req("SM-001")
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_every_state_trigger_pair(state: str, trigger: str) -> None:
    model = Model()
    machine = sm.build_machine(model)
    machine.set_state(state, model)
    expected = [t.dest for t in sm.TRANSITIONS if t.trigger == trigger and state in t.sources]
    if expected:
        assert machine.events[trigger].trigger(model) is True
        assert model.state == expected[0]
    else:
        with pytest.raises(MachineError):
            machine.events[trigger].trigger(model)
        assert model.state == state


@pytest.mark.req("SM-001")
def test_no_auto_transitions_and_required_states() -> None:
    model = Model()
    sm.build_machine(model)
    assert not [name for name in dir(model) if name.startswith("to_")]
    for required in ("idle", "ramp_up", "treat", "polarity_swap", "ramp_down", "fault"):
        assert required in STATES


@pytest.mark.req("SM-002")
def test_fault_is_absorbing_in_the_table() -> None:
    leaving = [t for t in sm.TRANSITIONS if sm.FAULT in t.sources]
    assert [(t.trigger, t.dest) for t in leaving] == [("reset", sm.IDLE)]
    entering = {s for t in sm.TRANSITIONS if t.dest == sm.FAULT for s in t.sources}
    assert entering == set(STATES) - {sm.FAULT}


@pytest.mark.req("SM-001")
def test_stop_from_every_active_state_ramps_down() -> None:
    stop = next(t for t in sm.TRANSITIONS if t.trigger == "stop")
    assert stop.dest == sm.RAMP_DOWN
    assert set(stop.sources) == {"ramp_up", "treat", "polarity_swap", "paused", "pulse_gap"}


@pytest.mark.req("SM-001")
def test_mermaid_has_exactly_the_table_edges() -> None:
    drawn = set()
    for line in sm.mermaid().splitlines():
        if "-->" in line and ":" in line and "[*]" not in line:
            edge, labels = line.split(":", 1)
            source, dest = (x.strip() for x in edge.split("-->"))
            drawn |= {(source, dest, label.strip()) for label in labels.split("|")}
    table = {(s, t.dest, t.trigger) for t in sm.TRANSITIONS for s in t.sources}
    assert drawn == table


@pytest.mark.req("SM-003")
def test_triggers_fire_only_on_state_changes() -> None:
    fired: list[str] = []
    ctl = Controller(profiles.load("hyperhidrosis-palms"), tick_ms=10)
    for name, event in ctl._machine.events.items():
        real = event.trigger

        def counting(model: object, *a: object, _real=real, _name=name, **k: object) -> bool:
            fired.append(_name)
            return _real(model, *a, **k)

        event.trigger = counting  # type: ignore[method-assign]
    Runner(ctl, SimulatedDevice(SimConfig(tick_ms=10))).run()
    changes = [e for e in ctl.drain_events()] if ctl.events else []
    assert ctl.outcome == "completed"
    # start, at_target, reverse, reversed, finish, settled: one trigger per change
    assert fired == ["start", "at_target", "reverse", "reversed", "finish", "settled"], fired
    assert ctl.tick > 100_000
    del changes


@pytest.mark.req("SM-001")
def test_the_dot_diagram_draws_exactly_the_table_and_one_edge_into_fault() -> None:
    from iontocore.machine import TRANSITIONS
    from iontocore.shell.diagram import dot, edges

    source = dot()
    table = {(s, t.trigger, t.dest) for t in TRANSITIONS for s in t.sources}
    assert edges(source) == table
    assert source.count('-> "fault"') == 1  # the fault edges do not tangle: one, from the cluster
    assert "s_active" not in source and source.startswith("digraph")


def test_the_mermaid_diagram_paints_no_state_as_current() -> None:
    from iontocore.machine import mermaid

    text = mermaid()
    assert "Class idle s_default" in text
    assert not any(line.strip().startswith("Class") and line.strip().endswith("s_active")
                   for line in text.splitlines())


@pytest.mark.req("SM-001")
def test_allowed_is_the_table_and_a_state_change_callback_is_passed_on() -> None:
    for state in STATES:
        for trigger in TRIGGERS:
            assert sm.allowed(trigger, state) == any(t.trigger == trigger and state in t.sources
                                                     for t in sm.TRANSITIONS)
    seen: list[str] = []
    model = Model()
    sm.build_machine(model, after_state_change=lambda: seen.append(model.state))
    model.start()  # type: ignore[attr-defined]
    assert seen == ["ramp_up"]
