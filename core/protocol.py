"""Research protocols: steps as data, and the plan that walks them during one session.

A `Protocol` is a list of steps (frozen, validated by `problems`):

- baseline: no current, for a duration (the recorder's baseline before the first pulse);
- pulse: a current (its own, or the prescription's set-point) given either for an on-time
  at the set current or until a charge is delivered, ramps included;
- gap: no current, for a duration, counted once the output is back at zero.

A step may repeat (a pulse with a gap between its repetitions), so a train of equal
pulses and a dose-response series (increasing charge per pulse) are both plain data.
`on_interrupt` says what follows a pulse interrupted by a pause: end the protocol (the
default: no current is given after an invalid pulse), repeat the pulse, or skip to the
next step.

`Plan` is the cursor the controller queries each tick: which step is in force, when a
pulse or a rest step is done, and what each step boundary emits (a `Marker`) and each
pulse leaves (a `PulseReport`). Pure integer arithmetic, no clock, no I/O; the
controller owns the state machine, the plan only answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dose import ramp_down_nominal_uams
from .errors import Checker, Problem
from .events import Marker, PulseReport

BASELINE, PULSE, GAP = "baseline", "pulse", "gap"
KINDS = (BASELINE, PULSE, GAP)
END, REPEAT, SKIP = "end", "repeat", "skip"
ON_INTERRUPT = (END, REPEAT, SKIP)
DEFAULT_ON_INTERRUPT = END
"""Safe default: after an invalid pulse no more current is given (repeat adds charge and
skip changes the dose sequence; a lab chooses either explicitly)."""
MAX_STEPS = 1_000
"""Steps after expanding the repeats."""

STEP_RANGES: dict[str, tuple[int, int, str]] = {
    "duration_ms": (0, 3_600_000, "ms"),
    "charge_uams": (0, 10**10, "uA*ms"),
    "current_ua": (0, 100_000, "uA"),
    "repeat": (1, MAX_STEPS, ""),
    "gap_ms": (0, 3_600_000, "ms"),
}
"""Allowed range of every integer field of a step (inclusive) and its unit."""


@dataclass(frozen=True)
class Step:
    """One entry of a protocol as written. Times in ms, charge in uA*ms, current in uA."""

    kind: str
    duration_ms: int = 0
    """baseline, gap: the time without current; pulse: the on-time at the set current (0
    when the pulse is given by charge)."""
    charge_uams: int = 0
    """pulse by charge: the charge of the whole pulse, ramps up and down included."""
    current_ua: int = 0
    """pulse: its current (0: the prescription's set-point, adjustments included)."""
    repeat: int = 1
    gap_ms: int = 0
    """pulse repeated: the current-free gap between two repetitions (not after the last)."""

    @property
    def has_current(self) -> bool:
        return self.kind == PULSE


@dataclass(frozen=True)
class Protocol:
    """The steps of a research session, in order, and what follows an interrupted pulse."""

    steps: tuple[Step, ...]
    on_interrupt: str = DEFAULT_ON_INTERRUPT

    def expanded(self) -> tuple[Step, ...]:
        """The steps one by one: each repetition a step, the gaps between them steps too."""
        out: list[Step] = []
        for s in self.steps:
            one = Step(s.kind, s.duration_ms, s.charge_uams, s.current_ua)
            for k in range(s.repeat):
                if k and s.gap_ms:
                    out.append(Step(GAP, s.gap_ms))
                out.append(one)
        return tuple(out)

    @property
    def pulse_count(self) -> int:
        return sum(s.repeat for s in self.steps if s.kind == PULSE)

    def problems(self, ceiling_ua: int, setpoint_ua: int, slew_ua_per_s: int) -> list[Problem]:
        """Every problem of this protocol for a prescription with that ceiling, set-point and
        slew. Fields are named `protocol.step[N].<field>` (N counted from 1, as written)."""
        c = Checker("protocol")
        c.check(self.on_interrupt in ON_INTERRUPT, "protocol.on_interrupt", self.on_interrupt,
                f"one of {list(ON_INTERRUPT)}")
        if not c.check(isinstance(self.steps, tuple) and 0 < len(self.steps) <= MAX_STEPS,
                       "protocol.step", len(self.steps) if isinstance(self.steps, tuple) else
                       self.steps, f"1 to {MAX_STEPS} steps"):
            return c.problems
        total = 0
        for n, s in enumerate(self.steps, start=1):
            at = f"protocol.step[{n}]"
            if not c.check(isinstance(s, Step), at, s, "a step"):
                continue
            if not c.check(s.kind in KINDS, f"{at}.kind", s.kind, f"one of {list(KINDS)}"):
                continue
            bad = False
            for name, (lo, hi, unit) in STEP_RANGES.items():
                bad |= not c.int_range(f"{at}.{name}", getattr(s, name), lo, hi, unit)
            if bad:
                continue
            total += 2 * s.repeat - 1 if s.gap_ms else s.repeat  # gaps between repeats only
            if s.kind != PULSE:
                c.check(s.duration_ms >= 1, f"{at}.duration_ms", s.duration_ms,
                        f">= 1 ms: a {s.kind} lasts a time")
                for name in ("charge_uams", "current_ua", "gap_ms"):
                    c.check(getattr(s, name) == 0, f"{at}.{name}", getattr(s, name),
                            f"not given for a {s.kind} (no current)")
                c.check(s.repeat == 1, f"{at}.repeat", s.repeat, f"1 for a {s.kind} (write "
                        "its whole duration)")
                continue
            c.check((s.duration_ms > 0) != (s.charge_uams > 0), f"{at}.duration_ms",
                    s.duration_ms, "either an on-time or a charge for a pulse (exactly one)")
            c.check(s.current_ua <= ceiling_ua, f"{at}.current_ua", s.current_ua,
                    f"at most the ceiling ({ceiling_ua} uA)")
            c.check(s.repeat == 1 or s.gap_ms > 0, f"{at}.gap_ms", s.gap_ms,
                    "> 0 between repetitions of a pulse (a pulse's charge includes its ramp "
                    "down to zero)")
            current = s.current_ua or setpoint_ua
            ramps = ramps_uams(current, slew_ua_per_s)
            c.check(s.charge_uams == 0 or s.charge_uams >= ramps, f"{at}.charge_uams",
                    s.charge_uams, f"at least the charge of the pulse's ramps up and down, "
                    f"{ramps} uA*ms at {current} uA and {slew_ua_per_s} uA/s")
            nxt = self.steps[n] if n < len(self.steps) else None
            c.check(nxt is None or not isinstance(nxt, Step) or nxt.kind != PULSE,
                    f"{at}.kind", s.kind, "a pulse followed by a gap or a baseline, or last "
                    "(its charge includes its ramp down to zero)")
        c.check(total <= MAX_STEPS, "protocol.step", total, f"at most {MAX_STEPS} steps with "
                "the repeats and their gaps expanded")
        c.check(any(isinstance(s, Step) and s.kind == PULSE for s in self.steps),
                "protocol.step", len(self.steps), "at least one pulse")
        return c.problems


def ramps_uams(current_ua: int, slew_ua_per_s: int) -> int:
    """The charge of a ramp up to `current_ua` and back down at the slew (rounded up):
    current x ramp time, the ramp time being current / slew.

    pre: current_ua >= 0 and slew_ua_per_s >= 1
    post: __return__ >= 0
    """
    return -(-current_ua * current_ua * 1000 // slew_ua_per_s)


def nominal_uams(step: Step, current_ua: int, slew_ua_per_s: int, duty_permille: int) -> int:
    """A pulse's nominal charge (average current): its charge, or current x (on-time + the
    ramp time), the ramps up and down together being one ramp time at the current."""
    if step.charge_uams:
        return step.charge_uams
    return (current_ua * step.duration_ms + ramps_uams(current_ua, slew_ua_per_s)) \
        * duty_permille // 1000


def time_pulse_slack_uams(nominal_uams: int, span_ms: int, current_ua: int, duty_permille: int,
                          tick_ms: int) -> int:
    """How far a pulse by time's measured charge may be from its nominal and still be the
    pulse prescribed (RX-009): 5 % of the nominal, the sensor's resolution (1 uA of average
    current) over the pulse's time `span_ms`, and two ticks at its average current (the
    on-time and the ramps end on ticks).

    pre: nominal_uams >= 0 and span_ms >= 0 and current_ua >= 0 and 1 <= duty_permille <= 1000 and tick_ms >= 1
    post: __return__ >= nominal_uams // 20 + span_ms
    """
    return nominal_uams // 20 + span_ms + 2 * tick_ms * current_ua * duty_permille // 1000


class Plan:
    """Walks a protocol during one session. The controller calls `begin` at the first tick
    of the session, `count` with the charge of every tick, `pulse_done` / `rest_done` in
    the pulse and rest states, `next` at a step boundary, `quiet` once the output is back
    at zero, `interrupt` on a pause in a pulse, `resume` when contact is back, `adjusted_to`
    on an accepted adjustment, and `abort` when the session is stopped or faults. Methods
    that emit return the events (Marker, PulseReport) for the controller's event list."""

    def __init__(self, protocol: Protocol, slew_ua_per_s: int, duty_permille: int,
                 tick_ms: int) -> None:
        self.steps = protocol.expanded()
        self.on_interrupt = protocol.on_interrupt
        self.pulses_planned = protocol.pulse_count
        self.slew = slew_ua_per_s
        self.duty = duty_permille
        self.tick_ms = tick_ms
        self.index = -1            # the step in force (-1: not begun; len(steps): done)
        self.t0 = 0                # session time origin (the first tick)
        self.pulse = 0             # the pulse number of the step in force or the last one
        self.attempt = 0
        self.completed = 0         # pulses whose step was done (not interrupted)
        self.pulse_step = 0        # the step of the open pulse (counted from 1)
        self.step_ms = 0           # on-time (pulse by time) or rest time counted so far
        self.charge = 0            # charge of the open pulse (uA*ms)
        self.samples = 0           # samples counted into it, the time they span (ms) and the
        self.sampled_ms = 0        # time a ramp moved in them (each interval capped at the
        self.moved_ms = 0          # tick): their means time what is still to come
        self.limited_ms = 0        # on-time of the open pulse counted under a compliance hold
        self.astray_ms = 0         # on-time of the open pulse counted with the output astray
        self.adjusted: tuple[int, int] | None = None  # the pulse's current was adjusted in
        # force: (from, to) uA, the first set-point and the last
        self.adjusted_ran: tuple[int, int] | None = None  # ... and the output went on at it
        self.open = False          # a pulse report is open (the pulse or its ramp down)
        self.in_force = False      # the open pulse's step is still in force (not yet done)
        self.start_ms = 0
        self.current_ua = 0        # the open pulse's current (its step's, or the set-point)
        self.nominal = 0
        self.interrupted = False   # the pulse in force was interrupted (awaiting resume)
        self.ended = False
        self.reports: list[PulseReport] = []
        self.markers: list[Marker] = []

    @property
    def step(self) -> Step | None:
        """The step in force, None before the start and after the last."""
        return self.steps[self.index] if 0 <= self.index < len(self.steps) else None

    @property
    def valid_pulses(self) -> int:
        return sum(1 for r in self.reports if r.valid)

    def begin(self, tick: int, t: int, setpoint_ua: int) -> list[Marker | PulseReport]:
        self.t0 = t
        self.index = 0
        return self._enter(tick, t, setpoint_ua)

    def current_for(self, setpoint_ua: int) -> int:
        """The set-point a pulse step asks for: its own current, or the set-point."""
        s = self.step
        return s.current_ua if s is not None and s.kind == PULSE and s.current_ua else setpoint_ua

    def count(self, charge_uams: int, dt_ms: int) -> None:
        """The charge of one tick of `dt_ms` (signed along the polarity, as the dose counts
        it)."""
        if self.open:
            self.charge += charge_uams
            self.samples += 1
            self.sampled_ms += dt_ms
            self.moved_ms += min(dt_ms, self.tick_ms)

    def _intervals(self) -> tuple[int, int, int]:
        """(samples, their time, the time a ramp moved in them; ms) of the open pulse, one
        nominal tick before any: a ramp moves the slew over each interval capped at the
        nominal tick, so uneven ticks (9/11 ms, not one late) stretch it in time by the
        ratio of the two times."""
        if not self.samples:
            return 1, self.tick_ms, self.tick_ms
        return self.samples, self.sampled_ms, max(1, self.moved_ms)

    def pulse_done(self, cmd_na: int, on_target_ms: int, limited: bool = False,
                   astray: bool = False) -> bool:
        """Whether the pulse in force is done: its on-time at the set current, or its charge
        with the nominal ramp down from the command `cmd_na` still to come (DOSE-003).
        `limited`: the load holds the current below the pulse's (the compliance hold,
        SUP-007); `astray`: the output did not do what it was told on this interval (the
        reading off the command beyond the tracking tolerance, or the contact found open:
        treatment time does not count it, DOSE-001). On-time counted so is on record, and a
        pulse by time with any is invalid."""
        s = self.step
        if s is None or s.kind != PULSE:
            return True
        if s.charge_uams:
            # the average current and its fall per tick in pA (nA x permille), exact: rounding
            # slew x duty to a whole uA/s first made 1 uA/s at 50 % on a 10 ms tick fall 1 nA
            # a tick instead of 5 and ended the pulse at a third of its charge
            # each sample of the ramp down moves the slew over the mean time a ramp moved and
            # lasts the mean interval (exact: cmd and step x n, the sum / n over n samples;
            # assumed 10 ms, 9/11 ms ticks overshot by 2.3 %, 10/12 ms by 2.5 %)
            n, sampled, moved = self._intervals()
            avg_pa = cmd_na * self.duty * n
            step_pa = max(1, self.slew * self.duty * moved)
            tail = ramp_down_nominal_uams(avg_pa, step_pa, sampled, per_na=1000 * n * n)
            return self.charge + tail >= s.charge_uams
        self.step_ms += on_target_ms
        if limited:
            self.limited_ms += on_target_ms
        if astray:
            self.astray_ms += on_target_ms
        done = self.step_ms >= s.duration_ms
        if not done:  # the output goes on, at an adjusted set-point if there is one
            self.adjusted_ran = self.adjusted
        return done

    def adjusted_to(self, before_ua: int, after_ua: int) -> None:
        """The set-point was adjusted from `before_ua` to `after_ua`: a pulse in force then
        no longer runs at its current once the output goes on at the new one (its next tick
        not the one that ends it), and a pulse by time so adjusted is invalid (RX-009)."""
        if self.in_force:
            first = before_ua if self.adjusted is None else self.adjusted[0]
            self.adjusted = (first, after_ua)

    def rest_done(self, quiet_ms: int) -> bool:
        """Whether the rest step in force has lasted its duration (counted at zero only)."""
        s = self.step
        if s is None or s.kind == PULSE:
            return True
        self.step_ms += quiet_ms
        return self.step_ms >= s.duration_ms

    def next(self, tick: int, t: int, setpoint_ua: int) -> list[Marker | PulseReport]:
        """The step in force is done: the next one begins (or the protocol ends)."""
        if self.in_force:
            self.in_force = False  # the pulse is done; its report closes at zero (quiet)
            self.completed += 1
        self.index += 1
        return self._enter(tick, t, setpoint_ua)

    def quiet(self, t: int) -> list[Marker | PulseReport]:
        """The output is back at zero: a done pulse's report closes (valid)."""
        if self.open and not self.in_force:
            return [self._close(t, True, "")]
        return []

    def interrupt(self, tick: int, t: int, reason: str) -> list[Marker | PulseReport]:
        """A pause in the pulse in force: the pulse is invalid; its report closes now."""
        if not self.in_force:
            return []
        self.in_force = False
        self.interrupted = True
        out: list[Marker | PulseReport] = [self._close(t, False, reason)]
        out.append(self._mark(tick, t, f"pulse {self.pulse} interrupted: {reason}"))
        return out

    def resume(self, tick: int, t: int, setpoint_ua: int) -> list[Marker | PulseReport]:
        """Contact is back after an interrupted pulse: repeat it, or skip to the next step."""
        if not self.interrupted:
            return []
        self.interrupted = False
        if self.on_interrupt == REPEAT:
            return self._enter(tick, t, setpoint_ua, repeat=True)
        self.index += 1
        return self._enter(tick, t, setpoint_ua)

    def abort(self, tick: int, t: int, reason: str, cut: bool) -> list[Marker | PulseReport]:
        """The session is stopped or faults: a pulse in force is invalid (`reason`); with a
        cut (fault) a pulse ramping down closes now, else at zero."""
        out: list[Marker | PulseReport] = []
        if self.in_force or (self.open and cut):
            valid = not self.in_force
            self.in_force = False
            out.append(self._close(t, valid, "" if valid else reason))
        if not self.ended and self.index >= 0:
            self.ended = True
            out.append(self._mark(tick, t, f"end: {reason}"))
        return out

    # ------------------------------------------------------------------ inside

    def _enter(self, tick: int, t: int, setpoint_ua: int, repeat: bool = False) -> list[Marker | PulseReport]:
        s = self.step
        self.step_ms = 0
        if s is None:
            self.ended = True
            return [self._mark(tick, t, "end")]
        if s.kind != PULSE:
            rests = sum(1 for x in self.steps[:self.index + 1] if x.kind == s.kind)
            return [self._mark(tick, t, f"{s.kind} {rests}")]
        if repeat:
            self.attempt += 1
        else:
            self.pulse += 1
            self.attempt = 1
        current = s.current_ua or setpoint_ua
        self.open = self.in_force = True
        self.pulse_step = self.index + 1
        self.charge = self.samples = self.sampled_ms = self.moved_ms = 0
        self.limited_ms = 0
        self.astray_ms = 0
        self.adjusted = self.adjusted_ran = None
        self.start_ms = t - self.t0
        self.current_ua = current
        self.nominal = nominal_uams(s, current, self.slew, self.duty)
        label = f"pulse {self.pulse}" + (f" (attempt {self.attempt})" if self.attempt > 1 else "")
        return [self._mark(tick, t, label)]

    def _close(self, t: int, valid: bool, reason: str) -> PulseReport:
        """Close the open pulse's report. A pulse by charge is valid only within 1 % of its
        charge (DOSE-003): one whose ramp down was cut short (a contact lost after its charge
        was judged reached, the current following the load down) says so. A pulse by time
        (RX-009) is valid only if none of its on-time was counted with the load holding the
        current below the pulse's (it ran its time but not at its current) or with the output
        off its command (astray), only if its current was not adjusted while it was in force
        (the output went on at the new one), and only if its measured charge is within its
        slack of the nominal, its ramps taken as they ran (time_pulse_slack_uams)."""
        self.open = False
        by_charge = self.steps[self.pulse_step - 1].charge_uams
        if valid and by_charge and abs(self.charge - self.nominal) * 100 > self.nominal:
            valid, reason = False, (f"delivered {self.charge} of {self.nominal} uA*ms: not "
                                    "within 1 % (DOSE-003)")
        elif valid and self.limited_ms:  # counted for pulses by time only
            valid, reason = False, (f"the load held the current below the pulse's for "
                                    f"{self.limited_ms} ms of its on-time (compliance hold): "
                                    f"delivered {self.charge} of {self.nominal} uA*ms")
        elif valid and self.astray_ms:  # counted for pulses by time only
            valid, reason = False, (f"the output was off its command for {self.astray_ms} ms "
                                    "of its on-time (the current read beyond the tracking "
                                    f"tolerance, or the contact open): delivered {self.charge} "
                                    f"of {self.nominal} uA*ms")
        elif valid and self.adjusted_ran is not None:  # set for pulses by time only
            valid, reason = False, (f"current adjusted from {self.adjusted_ran[0]} to "
                                    f"{self.adjusted_ran[1]} uA during its on-time: delivered "
                                    f"{self.charge} of {self.nominal} uA*ms")
        elif valid and not by_charge:
            span = t - self.t0 - self.start_ms
            slack = time_pulse_slack_uams(self.nominal, span, self.current_ua, self.duty,
                                          self.tick_ms)
            # uneven or late ticks stretch the ramps (sampled / moved): their charge with them
            _, sampled, moved = self._intervals()
            ramps = ramps_uams(self.current_ua, self.slew) * self.duty // 1000
            expected = self.nominal + ramps * (sampled - moved) // moved
            if abs(self.charge - expected) > slack:
                valid, reason = False, (
                    f"delivered {self.charge} of {self.nominal} uA*ms: off by more than "
                    f"{slack} uA*ms (5 %, the sensor's 1 uA over the pulse's {span} ms and "
                    "two ticks at its current)")
        report = PulseReport(self.pulse, self.attempt, self.pulse_step, self.start_ms,
                             t - self.t0, self.nominal, self.charge, valid, reason)
        self.reports.append(report)
        return report

    def _mark(self, tick: int, t: int, label: str) -> Marker:
        s = self.step
        kind = "end" if label.startswith("end") else (
            "interrupt" if "interrupted" in label else (s.kind if s is not None else "end"))
        marker = Marker(tick, t, t - self.t0, label, kind, self.index + 1, self.pulse)
        self.markers.append(marker)
        return marker


__all__ = ["BASELINE", "DEFAULT_ON_INTERRUPT", "END", "GAP", "KINDS", "ON_INTERRUPT", "PULSE",
           "Plan", "Protocol", "REPEAT", "SKIP", "STEP_RANGES", "Step", "nominal_uams",
           "ramps_uams"]
