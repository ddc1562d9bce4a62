"""An explicit-state model checker that runs the real Controller (small scope, bounded).

Inputs are a discretised alphabet: one tick with a sample of a class (normal: the current
follows the command; zero; over the trip; open load; short; late; time backwards) or a
request (start, stop, reset, adjust up/down). Breadth-first from the initial state, every
reachable controller state is explored up to a depth bound; states are identified by a
hash of everything that determines the controller's future (its fields with times made
relative to the newest sample, the supervisor's and its monitors', and the invariant
checker's), so a state reached twice is expanded once. Every invariant of
tests/support/invariants.py is checked on every transition, and no exception may escape.
Breadth-first search makes the first violation found a shortest counterexample.

Each child is a copy of its parent made by tests/support/clone.py (plain fields copied, the
`transitions` machine's table shared), about 10x faster than the pickled copy used before
(`clone_by_pickle`, kept for comparison: bench/bench_verification.py). Tests show the copy
exact (test_model_check.py) and the key complete: worlds it merges answer every input the
same way.
"""

from __future__ import annotations

import pickle
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import clone
from invariants import InvariantChecker, Violation, trip_ua
from iontocore import Controller, DeviceLimits, Prescription, Sample, SupervisionLimits
from iontocore.supervision import Debounce, Persistence

TICK = 100
# Small scope: time shrunk so that whole sessions (ramp, reversal, pause, end) fit in a few
# steps. The prescription is a draft because its times are below the clinical minimums
# (ramp >= 1 s, session >= 10 s); those minimums are clinical, the controller does not
# rely on them. The device and supervision limits are valid, scaled to a few ticks.
DEVICE = DeviceLimits(min_reversal_session_ms=500, dead_time_ms=300)
SUP = SupervisionLimits(sample_deadline_ms=300, clock_jump_ms=300, tracking_debounce_ms=100,
                        contact_loss_debounce_ms=100, short_debounce_ms=100, relay_debounce_ms=100,
                        stuck_ms=200, leak_settle_ms=100, reset_quiet_ms=200, hold_release_ms=200,
                        late_bucket_limit=20)
RX = Prescription.draft(name="model", family="tap-water", target_ua=200, ramp_ms=200,
                        duration_ms=1_000, reverse_at_half=True, max_ua=300, min_ua=100,
                        step_ua=100, max_pause_ms=300, contact_stable_ms=100, probe_ua=50,
                        site="palms")

SAMPLES = ("normal", "zero", "over", "open", "short", "late", "back")
REQUESTS = ("start", "stop", "reset", "adjust_up", "adjust_down")
ALPHABET = SAMPLES + REQUESTS
SESSION = ("start", "normal", "open", "zero", "stop")
"""A narrower alphabet for deeper runs: whole sessions with contact loss, sensor zero and stop."""
COMPLIANCE = DEVICE.compliance_mv
TRIP = trip_ua(RX, DEVICE, SUP)


@dataclass
class World:
    """One node: the controller, the invariant checker and the plant's clock."""

    ctl: Controller
    check: InvariantChecker
    t: int = 10_000

    def apply(self, symbol: str) -> None:
        ctl = self.ctl
        if symbol in REQUESTS:
            if symbol == "start":
                reply = ctl.start()
            elif symbol == "stop":
                reply = ctl.stop()
            elif symbol == "reset":
                reply = ctl.reset(acknowledge_overcurrent=True)
            else:
                step = RX.step_ua
                reply = ctl.adjust(step if symbol == "adjust_up" else -step)
            self.check.request(symbol.split("_")[0], reply.accepted, ctl.state)
            return
        self.t += {"late": 2 * TICK, "back": -TICK}.get(symbol, TICK)
        sample = self.sample(symbol)
        cmd = ctl.step(sample)
        self.check.step(sample, cmd, ctl.state)

    def sample(self, kind: str) -> Sample:
        cmd = self.ctl.command
        amp = abs(cmd.setpoint_ua) if cmd.enabled else 0
        sgn = -1 if cmd.setpoint_ua < 0 else 1
        relay = (sgn if cmd.setpoint_ua else 0) if cmd.enabled else 0
        if kind == "zero":
            return Sample(self.t, 0, 0, relay)
        if kind == "over":
            return Sample(self.t, sgn * (TRIP + 1), sgn * 2_000, relay)
        if kind == "open":
            return Sample(self.t, 0, sgn * COMPLIANCE if amp else 0, relay)
        if kind == "short":
            return Sample(self.t, sgn * amp, sgn * amp // 100, relay)
        return Sample(self.t, sgn * amp, sgn * amp * 2, relay)  # normal, late, back: 2 kOhm

    def key(self) -> tuple[Any, ...]:
        """Everything that determines the future, with times relative to the newest sample.

        Every field of the controller, its supervisor and the checker is classified below
        (a value, a time, an object keyed by its own fields, configuration, or the record
        of the past); a field the tables do not know makes the key raise, so a field added
        later cannot be left out silently. The Persistence monitors are keyed by their
        whole state (runs in the window, held time, last sample, last condition)."""
        ctl, chk = self.ctl, self.check
        now = chk.t if chk.t is not None else 0

        def rel(x: int | None) -> int | None:
            return None if x is None or x < 0 else now - x

        d, sup = ctl.__dict__, ctl._sup
        s, c = sup.__dict__, chk.__dict__
        if len(d) != _CTL_FIELDS or len(s) != _SUP_FIELDS or len(c) != _CHK_FIELDS:
            raise KeyError("a field the model checker's key does not classify: "
                           f"{sorted(set(d) ^ _CTL_ALL)} {sorted(set(s) ^ _SUP_ALL)} "
                           f"{sorted(set(c) ^ _CHK_ALL)}")
        def per(p: Persistence) -> tuple[Any, ...]:
            return (tuple((now - a, w, now - b, now - e) for a, w, b, e in p._runs), p._held,
                    rel(p._last_ms), p._last_bad, tuple(now - x for x in p._times))

        mon = tuple(per(p) for p in map(s.__getitem__, _SUP_MONITORS))
        tr = sup.trend
        if set(vars(tr)) != _TREND_FIELDS:
            raise KeyError(f"ImpedanceTrend fields changed: {sorted(set(vars(tr)) ^ _TREND_FIELDS)}")
        trend = (tr.command, rel(tr.steady_since), per(tr.fallen),
                 tuple((now - t, v, a) for t, v, a in tr.window),
                 None if tr.ref is None else (now - tr.ref[0], tr.ref[1], tr.ref[2]))
        sp = sup.supply
        if sp is not None and set(vars(sp)) != _SUPPLY_FIELDS:
            raise KeyError(f"SupplyMonitor fields changed: {sorted(set(vars(sp)) ^ _SUPPLY_FIELDS)}")
        supply = None if sp is None else (sp.last_mv, sp.last_bad, per(sp.low), per(sp.lost))
        return (ctl._model.state, tuple(map(d.__getitem__, _CTL_VALUES)),
                tuple(rel(d[k]) for k in _CTL_TIMES),
                ctl.faults[ctl._pending].code if ctl._pending >= 0 else None,
                mon, trend, supply, rel(ctl._contact_back.since_ms),
                tuple(map(s.__getitem__, _SUP_VALUES)),
                self.t - now,
                tuple(map(c.__getitem__, _CHK_VALUES)), rel(chk.zero_since), rel(chk.low_since))


def initial() -> World:
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    return World(ctl, InvariantChecker(RX, DEVICE, SUP, TICK))


# How World.key() sees each field. Values enter the key as they are; times relative to the
# newest sample; objects through their own fields; configuration and the record of the
# past (which never feeds back into a decision) stay out. Whatever is not listed is a value
# (`_plan`, the research protocol's cursor, is None for the model's tap-water prescription;
# a Plan would enter the key by identity: no two states would merge, never a wrong merge).
_CTL_TIMES = ("_t_prev", "_zero_since", "_off_since", "_hold_clear_since", "_session_t0",
              "_phase_t0")
_CTL_OBJECTS = ("_model", "_sup", "_contact_back")  # the state; the supervisor; a Debounce
_CTL_CONFIG = ("_machine", "_handlers", "prescription", "device", "supervision")
_CTL_RECORD = ("tick", "faults", "events")  # the pending fault's code is keyed on its own
_SUP_MONITORS = ("tracking", "short", "relay", "contact", "over", "off", "unsettled")
_SUP_CONFIG = ("lim",)
_SUP_OBJECTS = ("trend", "supply")  # keyed by their own fields (times relative)
_TREND_FIELDS = {"fall_permille", "window_ms", "horizon_ms", "sense_ua", "sense_mv", "fallen", "command",
                 "steady_since", "window", "ref", "detail"}
"""ImpedanceTrend: configuration, its Persistence, the steady command and since when, the
window and the frozen reference (keyed); `detail` only explains a detection."""
_SUPPLY_FIELDS = {"min_mv", "max_mv", "stop_mv", "low", "lost", "last_mv", "last_bad", "detail"}
"""SupplyMonitor: configuration, two Persistences and the last reading (keyed)."""
_CHK_TIMES = ("t", "zero_since", "low_since")
_CHK_VALUES = ("prev", "exact_max_na", "last_sign", "state", "quiet", "no_rise")
_CHK_CONFIG = ("limit", "slew", "tick_ms", "max_step", "dead", "tol", "duty", "max_ua",
               "max_mv", "punctual", "trip", "supply_floor", "supply_stop", "supply_max",
               "supply_debounce")
_CHK_RECORD = ("ticks", "last_valid", "polarity", "dose_lo", "dose_hi", "swapping")
"""Only DOSE-001 reads polarity, swapping and the dose bounds, and World.apply does not hand
the checker the controller's dose; ticks and last_valid only name where a violation was."""
_PERSISTENCE_SLOTS = {"limit_ms", "tick_ms", "window_ms", "_runs", "_held", "_last_ms", "_last_bad",
                      "_times"}
if set(Persistence.__slots__) != _PERSISTENCE_SLOTS or set(Debounce.__slots__) != {"limit_ms",
                                                                                  "since_ms"}:
    raise ImportError("Persistence or Debounce changed: update World.key()")


def _fields() -> tuple[tuple[str, ...], tuple[str, ...], int, int, int]:
    w = initial()
    ctl = set(vars(w.ctl)) - set(_CTL_TIMES + _CTL_OBJECTS + _CTL_CONFIG + _CTL_RECORD)
    sup = set(vars(w.ctl._sup)) - set(_SUP_MONITORS + _SUP_CONFIG + _SUP_OBJECTS)
    chk = set(_CHK_TIMES + _CHK_VALUES + _CHK_CONFIG + _CHK_RECORD)
    if chk != set(vars(w.check)):
        raise ImportError(f"InvariantChecker fields changed: {sorted(chk ^ set(vars(w.check)))}")
    return (tuple(sorted(ctl)), tuple(sorted(sup)), len(vars(w.ctl)), len(vars(w.ctl._sup)),
            len(chk))


_CTL_VALUES, _SUP_VALUES, _CTL_FIELDS, _SUP_FIELDS, _CHK_FIELDS = _fields()
_w0 = initial()
_CTL_ALL, _SUP_ALL, _CHK_ALL = set(vars(_w0.ctl)), set(vars(_w0.ctl._sup)), set(vars(_w0.check))
del _w0

clone.register(World)


def clone_by_pickle(world: World) -> Callable[[], World]:
    """The former clone: pickle the world once, unpickle it per child (the transitions
    machine included). Kept as the reference the fast clone is compared with."""
    image = pickle.dumps(world, pickle.HIGHEST_PROTOCOL)
    return lambda: pickle.loads(image)


def clone_fast(world: World) -> Callable[[], World]:
    """tests/support/clone.py: plain fields copied, the machine's table shared."""
    return lambda: clone.clone(world)


@dataclass
class Result:
    states: int = 0
    transitions: int = 0
    max_depth: int = 0
    complete_depth: int = 0          # every state within this many steps was found and checked
    seconds: float = 0.0
    exhausted: bool = False          # every reachable state within the bound was expanded
    counterexample: list[str] | None = None
    violation: str = ""
    reached: dict[str, int] = field(default_factory=dict)  # controller state -> first depth


def explore(depth_bound: int, alphabet: tuple[str, ...] = ALPHABET,
            state_budget: int = 200_000, *, seconds: float | None = None,
            cloner: Callable[[World], Callable[[], World]] = clone_fast) -> Result:
    """Breadth-first exploration to `depth_bound` steps over `alphabet`. Stops at the first
    violation, when `state_budget` distinct states have been seen, or (benchmarks only:
    tests bound the depth, never the time) after `seconds`. `cloner` prepares a parent
    world for copying once per child (clone_fast, or clone_by_pickle for comparison)."""
    start = time.perf_counter()
    deadline = None if seconds is None else start + seconds
    res = Result()
    root = initial()
    seen = {root.key()}
    frontier: deque[tuple[World, list[str]]] = deque([(root, [])])
    res.reached[root.ctl.state] = 0
    last = len(alphabet) - 1

    def done(exhausted: bool = False) -> Result:
        res.states = len(seen)
        res.exhausted = exhausted
        res.seconds = time.perf_counter() - start
        return res

    while frontier:
        world, path = frontier.popleft()
        depth = len(path)
        # every state of depth <= `depth` has been found (their parents are all expanded)
        res.complete_depth = depth
        if depth >= depth_bound:
            continue
        if deadline is not None and time.perf_counter() > deadline:
            return done()
        copy = cloner(world)  # the last child reuses the parent itself
        for k, symbol in enumerate(alphabet):
            nxt = world if k == last else copy()
            trail = path + [symbol]
            try:
                nxt.apply(symbol)
            except Violation as exc:
                res.counterexample, res.violation = trail, str(exc)
                return done()
            except Exception as exc:  # noqa: BLE001 - an exception escaped: also a violation
                res.counterexample, res.violation = trail, f"exception escaped: {exc!r}"
                return done()
            res.transitions += 1
            key = nxt.key()
            if key in seen:
                clone.release(nxt)  # seen: this copy (or the parent, last) is done with
                continue
            seen.add(key)
            res.reached.setdefault(nxt.ctl.state, len(trail))
            res.max_depth = max(res.max_depth, len(trail))
            if len(seen) >= state_budget:
                return done()
            frontier.append((nxt, trail))
    res.complete_depth = depth_bound
    return done(exhausted=True)


def observe(world: World, symbol: str) -> tuple[Any, ...]:
    """Apply `symbol`; what a caller sees: the command, the state and the key, or the
    violation (its message up to the place, which names absolute times)."""
    try:
        world.apply(symbol)
    except Violation as exc:
        return ("violation", str(exc).split("; tick ")[0])
    return (world.ctl.command, world.ctl.state, world.key())


def divergence(a: World, b: World, inputs: list[str]) -> str | None:
    """Feed `a` and `b` the same inputs (both are changed); the first difference, or None."""
    for n, symbol in enumerate(inputs):
        oa, ob = observe(a, symbol), observe(b, symbol)
        if oa != ob:
            return f"after {inputs[:n + 1]}: {oa} != {ob}"
        if oa[0] == "violation":
            return None
    return None


def trace(world: World, inputs: list[str]) -> list[tuple[Any, ...]]:
    """What `world` shows for each input (changing it), up to the first violation."""
    out = []
    for symbol in inputs:
        out.append(observe(world, symbol))
        if out[-1][0] == "violation":
            break
    return out


def merged_pairs(depth: int, alphabet: tuple[str, ...] = ALPHABET,
                 limit: int = 500) -> list[tuple[World, World, list[str], list[str]]]:
    """Worlds the search merges because their keys are equal although they differ
    somewhere (absolute times at least), breadth-first to `depth`, at most `limit` pairs:
    (first world, later world, their paths). Copies are made by the fast clone (its
    exactness has a test of its own)."""
    root = initial()
    first: dict[Any, tuple[World, Any, list[str]]] = {
        root.key(): (clone.clone(root), clone.describe(root), [])}
    frontier: deque[tuple[World, list[str]]] = deque([(root, [])])
    pairs: list[tuple[World, World, list[str], list[str]]] = []
    while frontier and len(pairs) < limit:
        world, path = frontier.popleft()
        if len(path) >= depth:
            continue
        for symbol in alphabet:
            nxt = clone.clone(world)
            try:
                nxt.apply(symbol)
            except Violation:
                continue
            key, trail = nxt.key(), path + [symbol]
            if key not in first:
                first[key] = (clone.clone(nxt), clone.describe(nxt), trail)
                frontier.append((nxt, trail))
                continue
            seen, described, old_path = first[key]
            if described != clone.describe(nxt) and len(pairs) < limit:
                pairs.append((clone.clone(seen), nxt, old_path, trail))
    return pairs
