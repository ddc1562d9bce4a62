"""An exact, fast copy of a running Controller (and of the objects the model checker keeps
beside it), without pickling the `transitions` machine.

Pickling a world cost about 90 % of the model checker's time, nearly all of it in
rebuilding the `transitions` Machine (its states, events and transitions) for every clone.
The machine is the state machine's *table*, not its state: the state lives in the model's
`state` attribute, and with the controller's configuration (no queue, no callbacks) a
trigger reads the model's state, looks its transitions up in the table and sets the
model's state, nothing else (transitions 0.9: Event.trigger -> Machine._process ->
Event._trigger). So a clone shares the machine and gets a model of its own that carries
the state.

Everything else is copied by a strict rule per type, and an object of a type without a
rule is an error (TypeError), never silently shared: a field added to the Controller later
either is immutable (shared, as pickle would make an equal one), or gets a rule here, or
breaks the clone loudly. tests/test_model_check.py shows the clone and a pickled copy equal
field by field, and the clone, the original and a pickled copy stepping in lockstep.

What a clone does not carry: the convenience methods `transitions` binds on the original
model (`ctl._model.start()`, `is_idle()`, ...). The controller never calls them (it fires
`self._machine.events[name].trigger(self._model)`); if it ever did, the clone would raise
AttributeError, which the controller turns into a fault and the lockstep test catches.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from operator import itemgetter
from types import MethodType
from typing import Any, NamedTuple, TypeVar

from transitions import Machine

from invariants import InvariantChecker
from iontocore import (Command, Controller, DeviceLimits, FaultRecord, Prescription, Sample,
                       SupervisionLimits)
from iontocore import controller as controller_mod
from iontocore.events import Marker, PulseReport, StateChanged
from iontocore.faults import FaultCode, Reaction
from iontocore.protocol import Plan, Protocol, Step
from iontocore.supervision import Debounce, Persistence, Supervisor
from iontocore.supply import SupplyMonitor
from iontocore.trend import ImpedanceTrend

T = TypeVar("T")

IMMUTABLE: frozenset[type] = frozenset({
    int, bool, str, type(None), Command, Sample, FaultCode, Reaction,
    # frozen dataclasses
    Prescription, DeviceLimits, SupervisionLimits, FaultRecord, StateChanged,
    Marker, PulseReport, Protocol, Step,
})
"""Shared between the original and the clone. NamedTuples (Command, Sample) hold only
ints and bools here; the dataclasses are frozen."""

Copier = Callable[[Any, Any, Any], Any]


def _value(v: Any, old_owner: Any, new_owner: Any) -> Any:
    t = type(v)
    if t in IMMUTABLE:
        return v
    rule = RULES.get(t)
    if rule is None:
        raise TypeError(f"clone: no rule to copy a {t.__qualname__} ({v!r:.80})")
    return rule(v, old_owner, new_owner)


class _Plan(NamedTuple):
    size: int                                      # fields of the instances seen
    special: tuple[str, ...]                       # fields seen holding a non-immutable value
    others: Callable[[dict[str, Any]], Any]        # the values of all other fields


_PLANS: dict[type, _Plan] = {}


def _object(old: T, _o: Any = None, _n: Any = None) -> T:
    """A plain object: a new instance whose fields are copied by their own rules (bound
    methods of the object itself are re-bound to the copy).

    Fast path: the fields that held a non-immutable value before are copied by their
    rules, and all others are checked immutable at once; an instance with other fields, or
    one whose other fields are not all immutable now, takes the slow path, which checks
    every field and learns."""
    cls = type(old)
    new = object.__new__(cls)
    imm = IMMUTABLE
    d = old.__dict__.copy()
    plan = _PLANS.get(cls)
    if plan is not None and len(d) == plan.size and imm.issuperset(map(type, plan.others(d))):
        rules = RULES
        for k in plan.special:
            v = d[k]
            t = type(v)
            if t not in imm:
                rule = rules.get(t)
                if rule is None:
                    raise TypeError(f"clone: no rule to copy a {t.__qualname__} ({v!r:.80})")
                d[k] = rule(v, old, new)
        new.__dict__ = d
        return new
    special = set() if plan is None else set(plan.special)
    for k, v in d.items():
        if type(v) not in imm:
            special.add(k)
            d[k] = _value(v, old, new)
    others = tuple(k for k in d if k not in special)
    getter = itemgetter(*others) if len(others) > 1 else (lambda x: [x[k] for k in others])
    _PLANS[cls] = _Plan(len(d), tuple(special & set(d)), getter)
    new.__dict__ = d
    return new


def _slots(old: T, _o: Any = None, _n: Any = None) -> T:
    """An object with __slots__ of immutable values (Persistence, Debounce): the rule
    replaces itself with a copier written for the class."""
    cls = type(old)
    copier = _slots_copier(cls)
    RULES[cls] = copier  # type: ignore[assignment]
    return copier(old)  # type: ignore[no-any-return]


def _slots_copier(cls: type) -> Callable[[Any], Any]:
    """A copier written out for `cls`'s slots (three times faster than a loop of getattr and
    setattr), e.g. for slots a, b:

        def copy(o, _owner=None, _new_owner=None, new=object.__new__, cls=cls, imm=IMMUTABLE):
            n = new(cls)
            v0, v1 = o.a, o.b
            if not (type(v0) in imm and type(v1) in imm):
                raise TypeError(...)
            n.a = v0
            n.b = v1
            return n
    """
    names = tuple(cls.__slots__)  # type: ignore[attr-defined]
    if not all(name.isidentifier() for name in names):
        raise TypeError(f"clone: odd slot names in {cls.__qualname__}")
    vs = [f"v{k}" for k in range(len(names))]
    src = ["def copy(o, _owner=None, _new_owner=None, new=object.__new__, cls=cls, imm=imm):",
           "    n = new(cls)",
           f"    {', '.join(vs)}, = {', '.join(f'o.{x}' for x in names)},",
           f"    if not ({' and '.join(f'type({v}) in imm' for v in vs)}):",
           f"        raise TypeError('clone: a {cls.__qualname__} holds a mutable value')"]
    src += [f"    n.{x} = {v}" for x, v in zip(names, vs)]
    src += ["    return n"]
    ns: dict[str, Any] = {"cls": cls, "imm": IMMUTABLE}
    exec("\n".join(src), ns)  # noqa: S102 - generated from the slot names above
    return ns["copy"]  # type: ignore[no-any-return]


def _tuple(v: tuple[Any, ...], old_owner: Any, new_owner: Any) -> tuple[Any, ...]:
    for x in v:
        if type(x) not in IMMUTABLE and type(x) is not tuple:
            raise TypeError(f"clone: a tuple holding a {type(x).__qualname__}")
        if type(x) is tuple:
            _tuple(x, old_owner, new_owner)
    return v


def _list(v: list[Any], old_owner: Any, new_owner: Any) -> list[Any]:
    return [x if type(x) in IMMUTABLE else _value(x, old_owner, new_owner) for x in v]


def _dict(v: dict[Any, Any], old_owner: Any, new_owner: Any) -> dict[Any, Any]:
    imm = IMMUTABLE
    if not imm.issuperset(map(type, v)):
        raise TypeError(f"clone: a dict with a key that is not immutable ({list(v)!r:.80})")
    return {k: x if type(x) in imm else _value(x, old_owner, new_owner) for k, x in v.items()}


def _method(m: MethodType, old_owner: Any, new_owner: Any) -> MethodType:
    if m.__self__ is not old_owner:
        raise TypeError(f"clone: a method bound to another object ({m!r:.80})")
    return MethodType(m.__func__, new_owner)


def _persistence(old: Persistence, _o: Any = None, _n: Any = None) -> Persistence:
    """A Persistence: its slots are immutable values but for the runs, a deque of lists of
    ints (copied run by run), and the deque of the last sample times."""
    new = object.__new__(Persistence)
    for name in Persistence.__slots__:
        setattr(new, name, getattr(old, name))
    new._runs = deque(list(run) for run in old._runs)
    new._times = deque(old._times, maxlen=old._times.maxlen)
    return new


def _deque(v: deque[Any], old_owner: Any, new_owner: Any) -> deque[Any]:
    return deque(x if type(x) in IMMUTABLE else _value(x, old_owner, new_owner) for x in v)


def _model(old: Any, _o: Any = None, _n: Any = None) -> Any:
    new = object.__new__(type(old))
    new.state = old.state
    return new


def _machine(m: Machine, _o: Any = None, _n: Any = None) -> Machine:
    # shared: the table only. A queued machine or one with a transition under way would
    # hold state of its own.
    if m.has_queue or m._transition_queue:
        raise TypeError("clone: the transitions machine holds a queue")
    return m


RULES: dict[type, Copier] = {
    tuple: _tuple, list: _list, deque: _deque, dict: _dict, MethodType: _method,
    Controller: _object, Supervisor: _object, InvariantChecker: _object,
    ImpedanceTrend: _object, SupplyMonitor: _object, Plan: _object,
    Persistence: _persistence, Debounce: _slots,
    controller_mod._Model: _model, Machine: _machine,
}


def clone(obj: T) -> T:
    """An exact copy of `obj` (a Controller, an InvariantChecker, or an object holding them
    that has a rule in RULES), sharing only immutable values and the machine's table."""
    return _value(obj, None, None)  # type: ignore[no-any-return]


def release(world: Any) -> None:
    """Drop a copy that will not be used again: a controller's handler table holds methods
    bound to the controller itself, a reference cycle that only the cyclic garbage collector
    would free; emptying it lets the copy go at once (the model checker discards most of
    the copies it makes: their state had been seen)."""
    world.ctl._handlers.clear()


def register(cls: type) -> None:
    """Copy instances of `cls` (a plain object) field by field."""
    RULES[cls] = _object


def describe(obj: Any, owner: Any = None) -> Any:
    """Everything a clone copies, as one comparable value: two objects with equal
    descriptions agree field by field, recursively. A bound method is described by its
    function and whether it is bound to the object holding it; the machine by its table;
    the model by its state."""
    t = type(obj)
    if t in IMMUTABLE:
        return obj
    if t is tuple or t is list or t is deque:
        return (t.__name__, tuple(describe(x, owner) for x in obj))
    if t is dict:
        return ("dict", tuple((k, describe(v, owner)) for k, v in obj.items()))
    if t is MethodType:
        return ("method", obj.__func__.__qualname__, obj.__self__ is owner)
    if t is Machine:
        table = tuple((name, tuple((src, tuple(tr.dest for tr in trs))
                                   for src, trs in sorted(ev.transitions.items())))
                      for name, ev in sorted(obj.events.items()))
        return ("machine", tuple(obj.states), table, obj.initial, obj.has_queue,
                obj.auto_transitions, obj.ignore_invalid_triggers,
                tuple(map(tuple, (obj.prepare_event, obj.before_state_change,
                                  obj.after_state_change, obj.finalize_event,
                                  obj.on_exception))))
    if t is controller_mod._Model:
        return ("model", obj.state)
    slots = getattr(t, "__slots__", None)
    if slots is not None:
        return (t.__qualname__, tuple((k, describe(getattr(obj, k), obj)) for k in slots))
    if hasattr(obj, "__dict__"):
        return (t.__qualname__, tuple((k, describe(v, obj)) for k, v in sorted(vars(obj).items())))
    raise TypeError(f"describe: cannot describe a {t.__qualname__}")
