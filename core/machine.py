"""The controller's state machine, declared once, as data.

Everything else is derived from STATES and TRANSITIONS: the `transitions` machine the
controller runs, the Mermaid diagram (`ionto diagram`), and specs/state_machine.md,
which a test keeps equal to what this module renders.

The controller decides *when* a trigger fires (conditions live in its tick logic);
this table decides *what may happen*: a trigger from a state not listed as its
source is refused by `transitions` (MachineError), which the controller treats as
an internal fault.
"""

from __future__ import annotations

from typing import Any, Callable, Final, Literal, NamedTuple

from transitions import Machine


class StateSpec(NamedTuple):
    name: str
    output: str
    counts: str
    description: str


class TransitionSpec(NamedTuple):
    trigger: str
    sources: tuple[str, ...]
    dest: str
    when: str


State = Literal["idle", "ramp_up", "treat", "polarity_swap", "paused", "pulse_gap",
                "ramp_down", "fault"]
"""The type of `Controller.state`: a typo such as `ctl.state != "faulted"` is a type error
(mypy --strict: non-overlapping comparison)."""

IDLE: Final = "idle"
RAMP_UP: Final = "ramp_up"
TREAT: Final = "treat"
POLARITY_SWAP: Final = "polarity_swap"
PAUSED: Final = "paused"
PULSE_GAP: Final = "pulse_gap"
RAMP_DOWN: Final = "ramp_down"
FAULT: Final = "fault"

STATES: tuple[StateSpec, ...] = (
    StateSpec(IDLE, "off", "nothing",
              "No session running. Output disabled, set-point zero."),
    StateSpec(RAMP_UP, "on, rising at the slew", "time and dose",
              "Command rises from its present value to the target at the slew limit."),
    StateSpec(TREAT, "on, at target", "time and dose",
              "Command held at the target (the patient may move it within the prescription)."),
    StateSpec(POLARITY_SWAP, "on, down to zero, dead time, up reversed", "time and dose",
              "Command ramps to zero, stays there for the dead time with measured current "
              "near zero, then rises in the other polarity."),
    StateSpec(PAUSED, "on, contact probe only", "nothing (frozen)",
              "Contact lost: command follows the collapsing current to zero, then holds a "
              "small probe current until contact is stable again."),
    StateSpec(PULSE_GAP, "on, zero", "time and dose",
              "A research protocol's step without current (a gap between pulses, a baseline): "
              "command ramps to zero and stays there for the step's time."),
    StateSpec(RAMP_DOWN, "on, falling at the slew", "dose",
              "Controlled stop: command falls to zero at the slew limit (or faster, "
              "following the measured current)."),
    StateSpec(FAULT, "off (cut at once)", "dose (any current still measured)",
              "Absorbing. Output disabled. Only an accepted reset leaves it."),
)

ACTIVE_STATES: tuple[str, ...] = (RAMP_UP, TREAT, POLARITY_SWAP, PAUSED, PULSE_GAP)
"""States from which `stop` leads to a controlled ramp-down."""

NON_FAULT_STATES: tuple[str, ...] = tuple(s.name for s in STATES if s.name != FAULT)

TRANSITIONS: tuple[TransitionSpec, ...] = (
    TransitionSpec("start", (IDLE,), RAMP_UP,
                   "operator starts the session (once per controller, CTL-008)"),
    TransitionSpec("at_target", (RAMP_UP,), TREAT,
                   "command reached the target"),
    TransitionSpec("reverse", (TREAT,), POLARITY_SWAP,
                   "half of the treatment time reached, reversal prescribed"),
    TransitionSpec("reversed", (POLARITY_SWAP,), TREAT,
                   "command reached the target in the new polarity"),
    TransitionSpec("end_pulse", (RAMP_UP, TREAT), PULSE_GAP,
                   "pulse done (its on-time or its charge) and a step without current next; "
                   "or the protocol begins with one (baseline), or one follows a skipped pulse"),
    TransitionSpec("next_pulse", (PULSE_GAP,), RAMP_UP,
                   "the step without current has lasted its time at zero; a pulse is next"),
    TransitionSpec("contact_lost", (RAMP_UP, TREAT, POLARITY_SWAP), PAUSED,
                   "load impedance above the open-circuit threshold (debounced)"),
    TransitionSpec("contact_back", (PAUSED,), RAMP_UP,
                   "contact stable again for the prescribed time"),
    TransitionSpec("finish", (RAMP_UP, TREAT, POLARITY_SWAP, PULSE_GAP), RAMP_DOWN,
                   "session goal reached: time, dose or the protocol's last step"),
    TransitionSpec("stop", ACTIVE_STATES, RAMP_DOWN,
                   "stop requested, pause too long, or goal unreachable"),
    TransitionSpec("settled", (RAMP_DOWN,), IDLE,
                   "command at zero and measured current within the zero tolerance"),
    TransitionSpec("fault", NON_FAULT_STATES, FAULT,
                   "a supervision fault, an emergency stop or an internal error"),
    TransitionSpec("reset", (FAULT,), IDLE,
                   "reset accepted: output off and measured current near zero"),
)


def transitions_config() -> list[dict[str, Any]]:
    """The table in the form `transitions.Machine` takes."""
    return [{"trigger": t.trigger, "source": list(t.sources), "dest": t.dest}
            for t in TRANSITIONS]


def build_machine(model: object, after_state_change: Callable[..., None] | str | None = None,
                  ) -> Machine:
    """Build the runtime machine on `model` (auto_transitions off: no to_<state>())."""
    kwargs: dict[str, Any] = {}
    if after_state_change is not None:
        kwargs["after_state_change"] = after_state_change
    return Machine(model=model, states=[s.name for s in STATES],
                   transitions=transitions_config(), initial=IDLE,
                   auto_transitions=False, ignore_invalid_triggers=False, **kwargs)


def allowed(trigger: str, state: str) -> bool:
    """Whether the table lets `trigger` fire in `state`."""
    return any(t.trigger == trigger and state in t.sources for t in TRANSITIONS)


def mermaid() -> str:
    """The machine as a Mermaid state diagram, drawn by transitions' mermaid engine."""
    from transitions.extensions import GraphMachine

    class _Model:
        pass

    model = _Model()
    GraphMachine(model=model, states=[s.name for s in STATES],
                 transitions=transitions_config(), initial=IDLE, auto_transitions=False,
                 graph_engine="mermaid", show_state_attributes=False,
                 title="iontocore controller")
    graph = model.get_graph()  # type: ignore[attr-defined]
    # the engine paints the model's current state (idle) as active: a diagram has none
    return str(graph.draw(None)).replace("Class idle s_active", "Class idle s_default")


def render_spec() -> str:
    """specs/state_machine.md, rendered from the table."""
    lines = [
        "# Controller state machine",
        "",
        "Generated from `core/machine.py` by `ionto diagram --spec > specs/state_machine.md`.",
        "Do not edit by hand: `tests/test_machine.py` fails when this file and the code",
        "disagree. Requirement: SM-001 (the machine), SM-002 (fault is absorbing).",
        "",
        "## States",
        "",
        "| state | output | counts | description |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{s.name}` | {s.output} | {s.counts} | {s.description} |" for s in STATES]
    lines += [
        "",
        "## Transitions",
        "",
        "Any (state, trigger) pair not listed is refused. The controller fires a trigger",
        "only when the state really changes, never once per tick.",
        "",
        "| trigger | from | to | when |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{t.trigger}` | {', '.join(f'`{s}`' for s in t.sources)} | `{t.dest}` | {t.when} |"
              for t in TRANSITIONS]
    lines += ["", "## Diagram", "", "```mermaid", mermaid().rstrip(), "```", ""]
    return "\n".join(lines)
