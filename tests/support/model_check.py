"""An explicit-state model checker that runs the real Controller (small scope, bounded).

Inputs are a discretised alphabet: one tick with a sample of a class (normal: the current
follows the command; zero; over the trip; open load; short; late; time backwards) or a
request (start, stop, reset, adjust up/down). Breadth-first from the initial state, every
reachable controller state is explored up to a depth bound; states are identified by a
hash of everything that determines the controller's future (its fields with times made
relative to the newest sample, the supervisor's, and the invariant checker's), so a state
reached twice is expanded once. Every invariant of tests/support/invariants.py is checked
on every transition, and no exception may escape. Breadth-first search makes the first
violation found a shortest counterexample.
"""

from __future__ import annotations

import pickle
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from invariants import InvariantChecker, Violation, trip_ua
from iontocore import Controller, DeviceLimits, Prescription, Sample, SupervisionLimits

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
                        step_ua=100, max_pause_ms=300, contact_stable_ms=100, probe_ua=50)

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
        """Everything that determines the future, with times relative to the newest sample."""
        ctl, chk = self.ctl, self.check
        now = chk.t if chk.t is not None else 0

        def rel(x: int | None) -> int | None:
            return None if x is None or x < 0 else now - x

        sup = ctl._sup
        skip = {"_t_prev", "_zero_since", "_off_since", "_hold_clear_since", "_session_t0",
                "_phase_t0",
                "tick", "faults", "events", "_machine", "_model", "_sup", "_contact_back",
                "_handlers", "prescription", "device", "supervision"}
        mine = tuple(sorted((k, v) for k, v in vars(ctl).items() if k not in skip))
        sup_fields = tuple(sorted((k, v) for k, v in vars(sup).items()
                                  if k not in ("lim", "tracking", "short", "relay", "contact",
                                               "over", "unsettled")))
        return (ctl.state, mine, rel(ctl._zero_since), rel(ctl._off_since), rel(ctl._session_t0),
                rel(ctl._phase_t0),
                rel(ctl._hold_clear_since), ctl._t_prev - now if ctl._t_prev >= 0 else None,
                ctl.faults[ctl._pending].code if ctl._pending >= 0 else None,
                tuple(rel(d.since_ms) for d in (sup.tracking, sup.short, sup.relay, sup.contact,
                                                 sup.over, sup.unsettled, ctl._contact_back)),
                sup_fields, self.t - now,
                chk.prev, chk.exact_max_na, chk.last_sign, rel(chk.zero_since), chk.state, chk.quiet)


def initial() -> World:
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    return World(ctl, InvariantChecker(RX, DEVICE, SUP, TICK))


@dataclass
class Result:
    states: int = 0
    transitions: int = 0
    max_depth: int = 0
    seconds: float = 0.0
    exhausted: bool = False          # every reachable state within the bound was expanded
    counterexample: list[str] | None = None
    violation: str = ""
    reached: dict[str, int] = field(default_factory=dict)  # controller state -> first depth


def explore(depth_bound: int, alphabet: tuple[str, ...] = ALPHABET,
            state_budget: int = 200_000) -> Result:
    """Breadth-first exploration to `depth_bound` steps over `alphabet`. Stops at the first
    violation, or when `state_budget` distinct states have been seen."""
    start = time.perf_counter()
    res = Result()
    root = initial()
    seen = {root.key()}
    frontier: deque[tuple[World, list[str]]] = deque([(root, [])])
    res.reached[root.ctl.state] = 0
    while frontier:
        world, path = frontier.popleft()
        if len(path) >= depth_bound:
            continue
        image = pickle.dumps(world, pickle.HIGHEST_PROTOCOL)  # cloned once per child below
        for k, symbol in enumerate(alphabet):
            nxt = world if k == len(alphabet) - 1 else pickle.loads(image)
            trail = path + [symbol]
            try:
                nxt.apply(symbol)
            except Violation as exc:
                res.counterexample, res.violation = trail, str(exc)
                res.seconds = time.perf_counter() - start
                return res
            except Exception as exc:  # noqa: BLE001 - an exception escaped: also a violation
                res.counterexample, res.violation = trail, f"exception escaped: {exc!r}"
                res.seconds = time.perf_counter() - start
                return res
            res.transitions += 1
            key = nxt.key()
            if key in seen:
                continue
            seen.add(key)
            res.reached.setdefault(nxt.ctl.state, len(trail))
            res.max_depth = max(res.max_depth, len(trail))
            if len(seen) >= state_budget:
                res.states = len(seen)
                res.seconds = time.perf_counter() - start
                return res
            frontier.append((nxt, trail))
    res.states = len(seen)
    res.exhausted = True
    res.seconds = time.perf_counter() - start
    return res
