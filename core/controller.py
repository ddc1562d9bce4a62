"""The controller: one Sample in, one Command out, per tick. Sans-I/O.

    cmd = controller.step(sample)        # sample from the HAL, or None if none arrived

No clock reads, sleeps, files or serial: time arrives inside each sample, so the same
inputs always give the same outputs. Requests (start, stop, emergency_stop, reset,
adjust) return a Reply and never raise; a refused request changes nothing.

Safety contract (requirement IDs in specs/requirements.toml):
- CTL-001 the command never exceeds the effective limit;
- CTL-002 no abrupt step (see core/shaping.py);
- CTL-003 polarity changes only after the dead time at zero with measured current near zero;
- SM-002 `fault` is absorbing and commands the output off;
- CTL-005 any exception while handling a tick or request ends in `fault`, output off;
  nothing escapes to the caller;
- CTL-007 every session ends within the device's maximum session time, its pause bounds
  and a bounded ramp-down (SUP-015), without help from the caller;
- DOSE-002 the counted dose never passes the electrode rating (drug) nor, ENV-005, the
  family's charge density times the smaller electrode (research);
- CTL-008 one session per controller: an ended session stays ended.

A research session follows its protocol (core/protocol.py): the plan says when a step is
done; the controller fires the transitions and carries the plan's markers and pulse
reports in its events (DOSE-003, RX-009, RX-010).
"""

from __future__ import annotations

from typing import Callable, Final, Literal

from . import machine as sm
from .machine import (FAULT, IDLE, PAUSED, POLARITY_SWAP, PULSE_GAP, RAMP_DOWN, RAMP_UP, TREAT,
                      State)
from .dose import ramp_down_bound_uams
from .errors import Checker, InvalidSettings, described, quoted, shown
from .events import Marker, PulseReport, Reply, StateChanged
from .faults import BY_CODE, EXTERNAL_CODES, FaultCode, FaultRecord, Reaction
from .interface import OFF, Command, Sample
from .limits import DeviceLimits, trip_threshold_ua
from .prescription import Prescription
from .protocol import END, PULSE, Plan, Step, ramps_uams
from .shaping import NA_PER_UA, max_step_ua, next_magnitude_na, polarity_may_change, step_na
from .persistence import Debounce
from .supervision import (SupervisionLimits, Supervisor, admit, amplitude_ua,
                          impedance_above, over_current, supply_reading, trip_average_ua)


TIME_STATES = frozenset({RAMP_UP, TREAT, POLARITY_SWAP, PULSE_GAP})
"""Treatment time counts here (not while paused, not in the final ramp-down)."""
DOSE_STATES = frozenset({RAMP_UP, TREAT, POLARITY_SWAP, PULSE_GAP, RAMP_DOWN, FAULT})
"""Delivered charge is integrated from the measured current here (frozen while paused),
signed along the commanded polarity: zero-mean sensor noise at zero current cancels
instead of adding up as dose (it did: +3.4 % on a research pulse train with gaps)."""
ENABLED_STATES = frozenset({RAMP_UP, TREAT, POLARITY_SWAP, PAUSED, PULSE_GAP, RAMP_DOWN})
HOLD_STATES = ENABLED_STATES - {RAMP_DOWN}
CONTACT_STATES = frozenset({RAMP_UP, TREAT, POLARITY_SWAP})
"""A contact loss pauses the session here (SUP-005)."""
"""The compliance hold (SUP-007) applies here."""

SENSOR_FAULTS = frozenset({FaultCode.SENSOR_STUCK, FaultCode.IMPLAUSIBLE_SAMPLE})
"""While ramping down towards one of these, the sensor is not believed: open-loop ramp,
no sensor-based monitors."""

Event = StateChanged | FaultRecord | Marker | PulseReport
"""What `Controller.events` holds (markers and pulse reports in research sessions only)."""

Outcome = Literal["completed", "stopped", "fault"]
"""How a session ended (`Controller.outcome`; None while it runs)."""
COMPLETED: Final = "completed"
STOPPED: Final = "stopped"
FAULTED: Final = "fault"


class _Model:
    """The object `transitions` drives; kept apart so triggers never shadow controller names."""

    state: State


class Controller:
    """Runs one session of one prescription on one device."""

    def __init__(self, prescription: Prescription, device: DeviceLimits | None = None,
                 supervision: SupervisionLimits | None = None, *, tick_ms: int = 10) -> None:
        device = device if device is not None else DeviceLimits()
        supervision = supervision if supervision is not None else SupervisionLimits()
        c = Checker("controller")
        c.check(isinstance(prescription, Prescription), "prescription", type(prescription).__name__,
                "a Prescription")
        c.check(isinstance(device, DeviceLimits), "device", type(device).__name__, "DeviceLimits")
        c.check(isinstance(supervision, SupervisionLimits), "supervision",
                type(supervision).__name__, "SupervisionLimits")
        c.raise_if_any()
        # Everything again, the prescription's own rules too: an unvalidated draft (or an
        # object changed after validation) must not reach the output without its contact
        # area, its electrode rating or its envelope (ENV-003..005); only the clinical
        # minimums (ramp >= 1 s, session >= 10 s) are not relied on here.
        problems = prescription.problems(device, clinical_minimums=False)
        if problems:
            raise InvalidSettings(problems, f"prescription {quoted(prescription.name)} on this device")
        supervision.check_tick(tick_ms)
        supervision.check_supply(device.supply_min_mv, device.supply_max_mv)
        supervision.check_contact(device.compliance_mv)
        self._check_currents(prescription, tick_ms, supervision.contact_sense_ua)

        self.prescription = prescription
        self.device = device
        self.supervision = supervision
        self.tick_ms = tick_ms
        self.limit_ua = prescription.limit_ua(device)
        self.charge_cap_uams = prescription.charge_cap_uams(device)
        """The charge a session never passes (DOSE-002, ENV-005); 0: none (tap-water)."""
        self._cap_name = ("electrode rating" if prescription.family == "drug"
                          else "research charge ceiling")
        self.trip_ua = trip_threshold_ua(self.limit_ua, device.trip_ua,
                                         supervision.trip_margin_permille, supervision.trip_floor_ua)
        self.slew_ua_per_s = min(prescription.slew_ua_per_s, device.max_slew_ua_per_s)
        self.max_step_ua = max_step_ua(self.slew_ua_per_s, tick_ms)
        proto = prescription.research_protocol()
        self._plan = None if proto is None else Plan(proto, self.slew_ua_per_s,
                                                     prescription.duty_permille, tick_ms)
        self.dead_time_ms = device.dead_time_ms
        self._sensor_ua, self._sensor_mv = device.sensor_max_ua, device.sensor_max_mv
        self.zero_tolerance_ua = device.zero_tolerance_ua

        self._model = _Model()
        self._machine = sm.build_machine(self._model)
        self._sup = self._new_supervisor()
        self._contact_back = Debounce(prescription.contact_stable_ms)
        self._handlers: dict[str, Callable[[int, int, int], int]] = {
            IDLE: self._h_idle, RAMP_UP: self._h_ramp_up, TREAT: self._h_treat,
            POLARITY_SWAP: self._h_swap, PAUSED: self._h_paused, PULSE_GAP: self._h_gap,
            RAMP_DOWN: self._h_ramp_down,
        }
        self._duty = prescription.duty_permille
        self._last_v = 0
        self._sent_sign = 0        # sign of the last non-zero command sent (0: none yet)
        # The command follows a falling measured current only beyond the tracking tolerance.
        self._follow_margin_ua = self._sup.tracking_floor_ua
        self._follow_margin_permille = supervision.tracking_tolerance_permille
        self._polarity = prescription.polarity

        # Output and shaping state
        self._cmd_na = 0
        self._command = OFF
        self._t_prev = -1          # time of the last fresh sample (-1: none yet)
        self._zero_since = -1      # time the command first sat at zero (-1: not at zero)
        self._off_since = -1       # time the output was first commanded off (-1: on)
        self._blind_ms = 0         # time without a fresh sample
        self._bad_samples = 0      # consecutive implausible samples
        self._hold_ua = -1         # compliance hold (-1: none)
        self._hold_clear_since = -1
        self._flipped = False      # polarity already flipped in this polarity_swap
        self._reversed = False     # the half-time reversal has happened
        self._pause_ms = 0
        self._ending: tuple[Outcome, str] | None = None  # outcome and reason of a ramp-down
        self._pending: int = -1    # index in faults of a ramp-then-fault in progress
        self._ack_needed = False   # an over-current trip awaits acknowledgement
        self._quiet_ms = -1        # in fault: quiet time shown by punctual fresh samples (-1: none)
        self._punctual_ms = tick_ms * (1000 + supervision.late_tolerance_permille) // 1000
        self._dt_proj = tick_ms    # longest punctual tick seen: the dose projection's tick
        self._session_t0 = -1      # time of the first sample after start (-1: not started)
        self._ran = False          # a session has been started on this controller
        self._phase_t0 = -1        # ramp-down / polarity swap: when it began (-1: not timed)
        self._phase_ticks = 0
        self._phase_bound_ms = 0
        self._phase_bound_ticks = 0

        # Public record of the session
        self.tick = 0
        self.setpoint_ua = prescription.target_ua
        self._base_ua = prescription.target_ua  # the target with the patient's adjustments:
        # a protocol step without a current of its own runs at it (RX-011), not at the
        # previous step's current
        self.delivered_uams = 0
        self.probe_uams = 0
        self.bound_uams = 0  # all that flowed through the electrodes, bounded from above
        """Charge of the probe current while paused: not dose, but it counts against the
        electrode rating and the research charge ceiling (DOSE-002, ENV-005)."""
        self.treatment_ms = 0
        self.paused_ms = 0
        self.compliance_limited_ms = 0
        self.pauses = 0
        self.outcome: Outcome | None = None
        self.end_reason = ""
        self.faults: list[FaultRecord] = []
        self.events: list[Event] = []

    def _new_supervisor(self) -> Supervisor:
        return Supervisor(self.supervision, self.device.compliance_mv,
                          self.device.zero_tolerance_ua, self.tick_ms, self.limit_ua,
                          self.device.sensor_frozen_ms, self.device.supply_min_mv,
                          self.device.supply_max_mv)

    # ------------------------------------------------------------------ read-only views

    @property
    def state(self) -> State:
        """The state machine's state, one of the constants of `iontocore.machine` (IDLE: "idle",
        RAMP_UP, TREAT, POLARITY_SWAP, PAUSED, PULSE_GAP, RAMP_DOWN, FAULT). A session has
        ended when the state is fault, or idle with an `outcome`."""
        return self._model.state

    @property
    def finished(self) -> bool:
        """Whether the session has ended: in fault, or back in idle with an outcome. A loop
        `while not ctl.finished` ends; the Runner then still watches the output off."""
        return self._model.state == FAULT or (self._model.state == IDLE and self.outcome is not None)

    @property
    def t_ms(self) -> int:
        """Time of the last fresh sample (0 before the first)."""
        return max(self._t_prev, 0)

    @property
    def command(self) -> Command:
        """The last command returned."""
        return self._command

    @property
    def polarity(self) -> int:
        """+1 when electrode A is the anode, -1 when it is the cathode: the prescription's,
        flipped by a half-time reversal."""
        return self._polarity

    @property
    def late_ticks(self) -> int:
        """How many samples arrived later than the tick and its tolerance (SUP-009)."""
        return self._sup.late_ticks

    @property
    def compliance_limited(self) -> bool:
        """Whether the command is held at what the load allows at the compliance voltage."""
        return self._hold_ua >= 0

    @property
    def remaining_ms(self) -> int:
        """Planned treatment time still to run (time-based sessions), never negative."""
        return max(0, self.prescription.planned_ms - self.treatment_ms)

    @property
    def pulses_done(self) -> int:
        """research: pulses whose step was done (on-time or charge reached, not interrupted)."""
        return 0 if self._plan is None else self._plan.completed

    @property
    def pulses(self) -> tuple[PulseReport, ...]:
        """research: every pulse closed so far, valid or not (RX-009)."""
        return () if self._plan is None else tuple(self._plan.reports)

    @property
    def markers(self) -> tuple[Marker, ...]:
        """research: every step boundary so far (RX-010)."""
        return () if self._plan is None else tuple(self._plan.markers)

    def drain_events(self) -> list[Event]:
        """Events since the last drain, oldest first."""
        ev, self.events = self.events, []
        return ev

    # ------------------------------------------------------------------ the tick

    def step(self, sample: Sample | None) -> Command:
        """Handle one tick. `sample` is None when the HAL had no fresh sample.

        Never raises: an exception ends in `fault` with the output off (CTL-005).
        """
        try:
            self.tick += 1
            state = self._model.state
            got = None if sample is None else admit(sample, self._sensor_ua, self._sensor_mv)
            if state == FAULT:
                return self._in_fault(got)
            if got is None:
                return self._blind(sample is None, state)
            t, i, v, relay = got
            self._last_v = v
            began = state
            tp = self._t_prev
            dt = 0 if tp < 0 else t - tp
            sup = self._sup
            if tp >= 0:
                if dt == 0:  # stale: the same time stamp again is not a fresh sample
                    return self._blind(True, state)
                code = sup.check_time(dt) if dt != self.tick_ms or sup.late_bucket else None
                if code is not None:
                    if dt > 0:  # the newest time seen stays the time base: never step back
                        self._t_prev = t
                    out = self._react(code, t, state)
                    if out is not None:
                        return out
                    state = self._model.state
            self._t_prev = t
            if self._blind_ms or self._bad_samples:
                self._blind_ms = self._bad_samples = 0
            # DOSE-001: signed, along the polarity (noise cancels), and in the state the
            # interval was spent in (a clock fault's ramp-down does not un-pause the past)
            if began in DOSE_STATES:
                q = i * self._polarity * dt
                self.delivered_uams += q
                self.bound_uams += self._at_least(q, dt)
                if self._plan is not None:
                    self._plan.count(q, dt)
            elif began == PAUSED:  # not dose (DOSE-001), but it flows through the electrodes
                q = i * self._polarity * dt
                self.probe_uams += q
                self.bound_uams += self._at_least(q, dt)
            if 0 < dt <= self._punctual_ms and dt > self._dt_proj:
                self._dt_proj = dt
            sup.off_command = False
            if self._pending >= 0 and self.faults[self._pending].code in SENSOR_FAULTS:
                # the sensor is not believed, but a reading beyond the trip is never ignored
                # (SUP-001): a recovered sensor showing over-current cuts at once
                if over_current(i, trip_average_ua(self.trip_ua, self._duty)):
                    sup.detail = (f"measured {i} uA beyond the trip at {self.trip_ua} uA "
                                  "during the ramp-down of a sensor fault")
                    return self._cut(FaultCode.OVERCURRENT, sup.detail, t)
            else:
                code = sup.observe(t, i, v, relay, dt, self._command, self._duty, self.trip_ua,
                                   t - self._off_since if self._off_since >= 0 else -1,
                                   None if sup.supply is None else supply_reading(sample),
                                   state == TREAT and self._hold_ua < 0)
                if code is not None:
                    out = self._react(code, t, state)
                    if out is not None:
                        return out
                    state = self._model.state
            # DOSE-001: treatment time counts only while the output does what it was told
            if began in TIME_STATES and not sup.off_command:
                self.treatment_ms += dt
            if (sup.compliance_limited or self._hold_ua >= 0) and state in HOLD_STATES:
                self._update_hold(t, i, dt)
            out = self._bounds(t, i, state)
            if out is not None:
                return out
            state = self._model.state
            return self._shape(self._handlers[state](t, i, dt), t, i, dt)
        except Exception as exc:  # noqa: BLE001 - every exception is a fault here
            return self._crash(exc)

    def _shape(self, target_ua: int, t: int, i: int, dt: int) -> Command:
        """Slew-limit towards `target_ua` and build the command (CTL-001..003)."""
        if target_ua > self.limit_ua:  # CTL-001 at the output, whatever a handler asked for
            target_ua = self.limit_ua
        supply = self._sup.supply
        if supply is not None and supply.last_bad and target_ua * NA_PER_UA > self._cmd_na:
            # SUP-019: never rise on a bad supply reading, before its debounce too (a session
            # started before any reading must not ramp up on a dead supply)
            target_ua = self._cmd_na // NA_PER_UA
        pol = self._polarity
        if self._pending >= 0 or not self._sup.at_compliance:
            # Follow the measured current down only when the load limits it (at compliance:
            # the load opened or its resistance rose). Elsewhere a low reading means a
            # broken output stage or sensor: fall at the slew and let supervision judge.
            along = self._cmd_na // NA_PER_UA
        else:
            along = amplitude_ua(i * pol, self._duty)
        margin = 0
        if target_ua * NA_PER_UA < self._cmd_na:  # falling: noise margin for following down
            margin = max(self._follow_margin_ua,
                         self._cmd_na // NA_PER_UA * self._follow_margin_permille // 1000)
        new_na = next_magnitude_na(self._cmd_na, along, target_ua,
                                   step_na(self.slew_ua_per_s, dt, self.tick_ms), margin)
        state = self._model.state
        if state not in ENABLED_STATES:
            new_na = 0
        elif state in CONTACT_STATES and self._sup.contact_suspected:
            # SUP-005: a suspected open contact is judged on samples that can show it: the
            # command does not fall below the sense current until the debounce decides (a
            # lift on a swap's way down paused there; a lifted sample cleared by the next)
            sense_na = self.supervision.contact_sense_ua * NA_PER_UA
            if new_na < sense_na <= self._cmd_na:
                new_na = sense_na
        ua = new_na // NA_PER_UA
        if ua and pol != self._sent_sign and self._sent_sign:
            # CTL-003 at the output: the sign a command shows may change only after the dead
            # time at zero with the measured current near zero *on this tick*; until then the
            # command stays at zero (the swap's flip may have happened ticks earlier)
            zero_for = t - self._zero_since if self._zero_since >= 0 else -1
            if not polarity_may_change(zero_for, self.dead_time_ms, i, self.zero_tolerance_ua):
                new_na = ua = 0
        self._cmd_na = new_na
        if ua == 0:
            if self._zero_since < 0:
                self._zero_since = t
            if self._pending >= 0:
                return self._finish_pending(t)
        else:
            self._zero_since = -1
        if state not in ENABLED_STATES:
            if self._off_since < 0:
                self._off_since = t
            cmd = OFF
        else:
            self._off_since = -1
            prev = self._command
            setpoint = ua * pol
            if ua:
                self._sent_sign = pol
            cmd = prev if prev.enabled and prev.setpoint_ua == setpoint else \
                Command(setpoint, True, self._duty)
        self._command = cmd
        return cmd

    # ------------------------------------------------------------------ state handlers
    # Each returns the target magnitude (uA) for this tick, after firing any trigger.

    def _h_idle(self, t: int, i: int, dt: int) -> int:
        return 0

    def _h_ramp_up(self, t: int, i: int, dt: int) -> int:
        plan = self._plan
        if plan is not None and plan.index < 0:
            self.events.extend(plan.begin(self.tick, t, self._base_ua))
            self.setpoint_ua = plan.current_for(self._base_ua)
        if self._sup.contact_open:
            return self._enter_pause()
        if self._goal_reached():
            return 0
        target = self._load_target()
        # the interval just ended counts as on-time when the command was already at the
        # target (the tick that fires at_target below): a pulse by time lasts its duration
        on_ms = dt if self._cmd_na >= target * NA_PER_UA else 0
        if plan is not None and self._protocol_step(plan, t, on_ms):
            return 0
        if self._cmd_na >= target * NA_PER_UA:
            self._fire("at_target", f"command at {target} uA")
        return target

    def _h_treat(self, t: int, i: int, dt: int) -> int:
        if self._sup.contact_open:
            return self._enter_pause()
        if self._goal_reached():
            return 0
        rx = self.prescription
        if self._plan is not None:
            return 0 if self._protocol_step(self._plan, t, dt) else self._load_target()
        if rx.reverse_at_half and not self._reversed and self.treatment_ms * 2 >= rx.duration_ms:
            self._flipped = False
            self._fire("reverse", f"half time ({self.treatment_ms} ms)")
            return 0
        return self._load_target()

    def _h_swap(self, t: int, i: int, dt: int) -> int:
        if self._sup.contact_open:
            return self._enter_pause()
        if self._goal_reached():
            return 0
        if not self._flipped:
            zero_for = t - self._zero_since if self._zero_since >= 0 else -1
            if self._cmd_na == 0 and polarity_may_change(zero_for, self.dead_time_ms, i,
                                                         self.zero_tolerance_ua):
                self._polarity = -self._polarity
                self._flipped = self._reversed = True
                return self._load_target()
            return 0
        target = self._load_target()
        if self._cmd_na >= target * NA_PER_UA:
            self._fire("reversed", f"command at {target} uA, polarity {self._polarity:+d}")
        return target

    def _h_paused(self, t: int, i: int, dt: int) -> int:
        rx = self.prescription
        self._pause_ms += dt
        self.paused_ms += dt
        if self._pause_ms > rx.max_pause_ms:
            self._end("stop", STOPPED, f"contact lost for more than {rx.max_pause_ms} ms")
            return 0
        if self.paused_ms > rx.max_paused_total_ms:
            self._end("stop", STOPPED, f"paused {self.paused_ms} ms in all: at most "
                                       f"{rx.max_paused_total_ms} ms")
            return 0
        probe = self._probe_ua()
        cmd_ua = self._cmd_na // NA_PER_UA
        # SUP-017: judge the pulse amplitude, and the same impedance that called it open
        amp = amplitude_ua(abs(i), self._duty)
        v = self._last_v
        present = (cmd_ua > 0 and not self._sup.at_compliance and 2 * amp >= cmd_ua
                   and not impedance_above(v, amp, self.supervision.contact_open_ohm))
        if self._contact_back.update(present, t):
            self._contact_back.clear()
            self._sup.contact_restored()
            self._fire("contact_back", f"contact stable for {rx.contact_stable_ms} ms")
            if self._plan is not None and self._plan.interrupted:  # RX-009: repeat or skip
                self.events.extend(self._plan.resume(self.tick, t, self._base_ua))
                return self._after_step(self._plan)
            return self._load_target()
        return probe

    def _h_gap(self, t: int, i: int, dt: int) -> int:
        """A step without current (gap, baseline): its time counts once the output is at
        zero, where the pulse before it closes (its ramp down included)."""
        plan = self._plan
        if plan is None:  # unreachable: only a protocol leads here
            return 0
        quiet = self._cmd_na == 0 and abs(i) <= self.zero_tolerance_ua
        if quiet:
            self.events.extend(plan.quiet(t))
        if not plan.rest_done(dt if quiet else 0):
            return 0
        self.events.extend(plan.next(self.tick, t, self._base_ua))
        return self._after_step(plan)

    def _h_ramp_down(self, t: int, i: int, dt: int) -> int:
        if self._cmd_na == 0 and abs(i) <= self.zero_tolerance_ua and self._pending < 0:
            outcome, reason = self._ending or (STOPPED, "ramp-down")
            self.outcome, self.end_reason = outcome, reason
            if self._plan is not None:
                self.events.extend(self._plan.quiet(t))
            self._fire("settled", reason)
        return 0

    # ------------------------------------------------------------------ helpers

    def _protocol_step(self, plan: Plan, t: int, on_target_ms: int) -> bool:
        """research (`plan` is the session's), in ramp_up and treat: whether the output is to
        go to zero now, because the step in force has no current (a baseline first, the step
        after a skipped pulse) or its pulse is done (its on-time at the target, or its charge
        with the ramp down still to come, DOSE-003). The transition has been fired then."""
        step = plan.step
        if step is not None and step.kind == PULSE:
            if not plan.pulse_done(self._cmd_na, on_target_ms,
                                   self._load_target() < self.setpoint_ua, self._sup.off_command):
                return False
            self.events.extend(plan.next(self.tick, t, self._base_ua))
        self._after_step(plan)
        return True

    def _after_step(self, plan: Plan) -> int:
        """Fire what the protocol's step now in force asks for; the target for this tick."""
        step = plan.step
        state = self._model.state
        if step is None:
            self._end("finish", COMPLETED, f"protocol done: {plan.completed} of "
                                           f"{plan.pulses_planned} pulses delivered")
            return 0
        if step.kind == PULSE:
            self.setpoint_ua = plan.current_for(self._base_ua)
            if state == PULSE_GAP:
                self._fire("next_pulse", f"pulse {plan.pulse} begins")
            return self._load_target()
        if state != PULSE_GAP:
            self._fire("end_pulse", f"{step.kind} begins: no current")
        return 0

    def _load_target(self) -> int:
        """The target the load allows: the set-point, or the compliance hold below it."""
        hold = self._hold_ua
        return self.setpoint_ua if hold < 0 or hold > self.setpoint_ua else hold

    def _update_hold(self, t: int, i: int, dt: int) -> None:
        """SUP-007: at compliance with contact present, hold the current the load allows;
        release the hold after the load has been off compliance for the release time."""
        sup = self._sup
        if sup.compliance_limited:
            amp = amplitude_ua(abs(i), self._duty)
            self._hold_ua = amp
            self._hold_clear_since = -1
        elif self._hold_ua >= 0:
            if sup.at_compliance:
                self._hold_clear_since = -1
            elif self._hold_clear_since < 0:
                self._hold_clear_since = t
            elif t - self._hold_clear_since >= self.supervision.hold_release_ms:
                self._hold_ua = -1
        if self._hold_ua >= 0:
            self.compliance_limited_ms += dt

    def _goal_reached(self) -> bool:
        """Check the session's end conditions; fire finish/stop and return True when met."""
        rx = self.prescription
        if rx.family == "drug":
            # DOSE-002: start the ramp-down while what it will still deliver (bounded from
            # above) lands at or below the dose, one tick ahead
            if self.delivered_uams + self._projection() >= rx.dose_uams:
                self._end("finish", COMPLETED, f"dose of {rx.dose_uams} uA*ms reached")
                return True
            if self.treatment_ms >= rx.duration_ms:
                self._end("stop", STOPPED,
                          f"dose not reached within {rx.duration_ms} ms: "
                          f"{self.delivered_uams} of {rx.dose_uams} uA*ms delivered when the "
                          "ramp-down began")
                return True
        elif rx.family == "tap-water" and self.treatment_ms >= rx.duration_ms:
            self._end("finish", COMPLETED, f"treatment time of {rx.duration_ms} ms reached")
            return True
        return False

    def _bounds(self, t: int, i: int, state: str) -> Command | None:
        """Bounds every session keeps whatever its goal (CTL-007, DOSE-002, SUP-015): the
        device's maximum session time, the electrode's rated dose, and the deadlines of a
        ramp-down and of a polarity swap. Returns a command when the output was cut."""
        if state == IDLE:
            return None
        rx = self.prescription
        rating, what = self.charge_cap_uams, self._cap_name
        # all that flowed through the electrodes, bounded from above (a reading low does
        # not let the true charge pass the rating or the ceiling)
        charge = max(self.bound_uams, self.delivered_uams + self.probe_uams)
        if rating:
            if charge > rating:  # a sample beyond every bound carried it past
                return self._cut(FaultCode.DOSE_LIMIT,
                                 f"{charge} uA*ms through the electrodes, past the {what} of "
                                 f"{rating} uA*ms", t)
            # DOSE-002 hard guard: the next tick, at the clock-jump bound, must not pass it
            avg = self._cmd_na // NA_PER_UA * self._duty // 1000
            floor = self._follow_margin_ua
            upper = max(avg * (1000 + self._follow_margin_permille) // 1000 + floor, abs(i))
            nxt = upper * self.supervision.clock_jump_ms
            if charge + nxt > rating:
                return self._cut(FaultCode.DOSE_LIMIT,
                                 f"{charge} uA*ms through the electrodes; the next tick could "
                                 f"add {nxt} uA*ms, past the {what} of {rating} uA*ms", t)
        if state in sm.ACTIVE_STATES:
            if self._session_t0 < 0:
                self._session_t0 = t
            limit = self.device.max_session_ms
            if t - self._session_t0 >= limit:
                self._end("stop", STOPPED, f"device maximum session time of {limit} ms reached "
                                           f"({t - self._session_t0} ms since start)")
                return None
            ahead = self._projection() if rating else 0
            landing = charge + ahead
            if rating and landing >= rating:
                if rx.dose_uams and self.delivered_uams + ahead >= rx.dose_uams and state in (
                        RAMP_UP, TREAT, POLARITY_SWAP):
                    self._end("finish", COMPLETED, f"dose of {rx.dose_uams} uA*ms reached")
                else:
                    self._end("stop", STOPPED, f"{what} of {rating} uA*ms reached: "
                                               f"{charge} uA*ms through the electrodes when "
                                               "the ramp-down began")
                return None
        if state == RAMP_DOWN or (state == POLARITY_SWAP and not self._flipped):
            self._phase_ticks += 1
            took = t - self._phase_t0
            if self._phase_ticks > self._phase_bound_ticks and took > self._phase_bound_ms:
                what = "ramp-down" if state == RAMP_DOWN else "polarity swap"
                return self._cut(FaultCode.UNSETTLED,
                                 f"{what} did not settle: command {self._cmd_na // NA_PER_UA} uA, "
                                 f"measured {i} uA after {took} ms and {self._phase_ticks} ticks "
                                 f"(bound {self._phase_bound_ms} ms, {self._phase_bound_ticks} "
                                 "ticks)", t)
        return None

    @staticmethod
    def _check_currents(rx: Prescription, tick_ms: int, sense_ua: int, base_ua: int | None = None,
                        in_force: tuple[int, Step, int] | None = None) -> None:
        """Every current the session can run at is supervised, refused by name otherwise.
        Tap-water and drug: the set-point `base_ua` (the target when None) is at least the
        contact sense current `sense_ua` (SUP-005: below it a lift cannot be seen, so a whole
        session there could run with the electrodes lifted). Research: every pulse of the
        protocol at its current passes `_check_pulse`, naming the step; `base_ua` is the
        current of the steps without one of their own (the target, or the target with the
        patient's adjustments: `adjust` asks this again); `in_force`: (number, step, current)
        of a pulse in force at a current other than its step's (`adjust` in a pulse of its own
        current), named "set-point (pulse N in force)"."""
        proto = rx.research_protocol()
        base = rx.target_ua if base_ua is None else base_ua
        if proto is None:
            c = Checker("currents on this controller")
            c.check(base >= sense_ua, "target_ua" if base_ua is None else "set-point", base,
                    f"at least the contact sense current {sense_ua} uA (supervision "
                    "contact_sense_ua): below it an electrode lifted off the skin cannot be seen")
            c.raise_if_any()
            return
        c = Checker("pulses on this controller")
        for n, step in enumerate(proto.steps, start=1):
            if step.kind == PULSE:
                named = f"protocol.step[{n}]"
                fields = (f"{named}.current_ua" if rx.protocol is not None else "target_ua",
                          f"{named}.charge_uams")
                Controller._check_pulse(c, fields, step, step.current_ua or base, rx, tick_ms,
                                        sense_ua)
        if in_force is not None:
            pulse, step, current = in_force
            fields = (f"set-point (pulse {pulse} in force)", f"charge_uams (pulse {pulse} in force)")
            Controller._check_pulse(c, fields, step, current, rx, tick_ms, sense_ua)
        c.raise_if_any()

    @staticmethod
    def _check_pulse(c: Checker, fields: tuple[str, str], step: Step, current: int,
                     rx: Prescription, tick_ms: int, sense_ua: int) -> None:
        """RX-009: a pulse's current is at least the contact sense current `sense_ua`: below
        it contact is not judged and an electrode lifted off the skin cannot be told from
        skin, so a pulse there could not be verified; and its average current (current x
        duty) is at least 3 uA, three of the sensor's whole uA.
        DOSE-003: a pulse by charge is counted from the sensor's whole uA, so its average
        current must be a whole uA (a fraction is read rounded:
        1.75 uA read as 1 ran the pulse 75 % long, reported valid); it ends on a tick, so it
        overshoots by up to one tick's charge: within 1 % only when its charge is at least
        100 ticks of its current, and at least the charge of its ramps (RX-011: asked of the
        protocol as written, asked here again at an adjusted current). Each problem goes to
        `c`, named by `fields` (the current's name, the charge's)."""
        field, duty = fields[0], rx.duty_permille
        # RX-009: the least average current (current x duty) of a pulse: three of the sensor's
        # whole uA, so that a pulse that delivered nothing (a reading of noise, a uA at most)
        # is off its nominal by more than its slack
        least_avg_ua = 3
        if not c.check(current >= sense_ua, field, current, f"at least the contact sense "
                       f"current {sense_ua} uA (supervision contact_sense_ua): below it an "
                       "electrode lifted off the skin cannot be seen, and the pulse could "
                       "not be verified"):
            return
        least_ua = -(-least_avg_ua * 1000 // duty)
        if not c.check(current >= least_ua, field, current, f"at least {least_ua} uA at "
                       f"{duty} permille (an average of {least_avg_ua} uA, three "
                       "of the sensor's whole uA): nearer its resolution a pulse that "
                       "delivered nothing could not be told from one that did"):
            return
        if step.charge_uams:
            avg = current * duty
            if not c.check(avg % 1000 == 0, field,
                           current, f"an average (x {duty} permille) of a whole "
                           "uA (a pulse by charge is counted from the sensor's whole uA)"):
                return
            least = 100 * avg * tick_ms // 1000
            c.check(step.charge_uams >= least, fields[1],
                    step.charge_uams, f"at least 100 ticks of its current ({least} uA*ms at "
                    f"{current} uA and {tick_ms} ms a tick): a pulse ends on a tick, so "
                    "its charge is within 1 % only from there")
            slew = rx.slew_ua_per_s
            ramps = ramps_uams(current, slew)
            c.check(step.charge_uams >= ramps, fields[1], step.charge_uams,
                    f"at least the charge of the pulse's ramps up and down, {ramps} uA*ms at "
                    f"{current} uA and {slew} uA/s (it would end before reaching its current)")

    def _at_least(self, q: int, dt: int) -> int:
        """DOSE-002, ENV-005: the charge `q` measured over `dt`, or, when the reading is
        below the command that governed the interval by more than the tracking tolerance,
        what that command delivers: a sensor reading low (a glitch on one sample in seven,
        too rare for the tracking monitor) must not let the true charge pass a rating or a
        ceiling. Within the tolerance the measurement counts; for the research charge
        ceiling, while the commanded average is not a whole uA (pulsed: current x duty), plus
        the sensor's resolution (it reads whole uA, so such an average is read rounded: the
        true current is below the reading + 1 uA; 6.7 uA read as 6 let a research session
        pass its ceiling by 8 % in true charge). A whole-uA average is read as it is (a real
        sensor's noise is bounded by the tolerance above); a drug's milliamps make the
        resolution 0.1 % of the rating or less (SAFETY.md, residual risks). A reading against
        the polarity beyond the tolerance counts as nothing, whatever the command (OFF, in
        fault or before the start, included: it used to lower the bound there)."""
        cmd = self._command  # OFF (in fault, before the start) is a command of 0 uA here
        if self.prescription.family == "research" and abs(cmd.setpoint_ua) * cmd.duty_permille % 1000:
            q += dt  # one uA of resolution over the interval
        expected = abs(cmd.setpoint_ua) * cmd.duty_permille // 1000
        low = expected - max(self._follow_margin_ua, expected * self._follow_margin_permille // 1000)
        return q if q >= low * dt else max(q, expected * dt)

    def _projection(self) -> int:
        """DOSE-002: charge still counted if the ramp-down starts on the tick after this one
        (one tick of look-ahead), from the tick and tolerances in force."""
        # the average current and its fall per tick in pA (nA x permille), exact: a slow slew
        # at a low duty falls a fraction of a nA a tick (as Plan.pulse_done)
        avg_pa = self._cmd_na * self._duty
        step_pa = max(1, self.slew_ua_per_s * self._duty * self.tick_ms)
        avg_na = -(-avg_pa // 1000)
        floor, pm = self._follow_margin_ua, self._follow_margin_permille
        sup = self.supervision
        bound = ramp_down_bound_uams(avg_pa, step_pa, self._dt_proj, floor, pm, sup.clock_jump_ms,
                                     sup.settle_ms + sup.clock_jump_ms, per_na=1000)
        return bound + -(-(avg_na * (1000 + pm) // 1000 + floor * NA_PER_UA) * self._dt_proj
                         // NA_PER_UA)

    def _phase_bounds(self, swap: bool) -> None:
        """Deadline of a ramp-down or of a polarity swap's way down (SUP-015), from the
        command now, the slew, the dead time and settle_ms. In time the ramp is allowed the
        late tolerance too: a tick up to it late moves the slew over the nominal tick only,
        so ticks within it (5/15 ms on 10) stretch a ramp by up to that much, on an ideal
        load (it was cut as unsettled)."""
        slew, tick = self.slew_ua_per_s, self.tick_ms
        ramp_ticks = -(-self._cmd_na // (slew * tick))
        late = 1000 + self.supervision.late_tolerance_permille
        ramp_ms = -(-self._cmd_na * late // (slew * 1000))
        extra = self.supervision.settle_ms + (self.dead_time_ms if swap else 0)
        self._phase_t0 = self.t_ms
        self._phase_ticks = 0
        self._phase_bound_ms = ramp_ms + extra + 2 * tick
        self._phase_bound_ticks = ramp_ticks + -(-extra // tick) + 2

    def _end(self, trigger: str, outcome: Outcome, reason: str) -> None:
        self._ending = (outcome, reason)
        self._fire(trigger, reason)

    def _enter_pause(self) -> int:
        rx = self.prescription
        plan = self._plan
        if plan is not None and plan.in_force:  # RX-009: the pulse is invalid
            self.events.extend(plan.interrupt(self.tick, self.t_ms, "contact loss"))
            if plan.on_interrupt == END:
                self._end("stop", STOPPED, f"pulse {plan.pulse} interrupted by contact loss: "
                                           "protocol ended (on_interrupt = end)")
                return 0
        if self.pauses >= rx.max_pauses:
            self._end("stop", STOPPED, f"contact lost {self.pauses + 1} times: at most "
                                       f"{rx.max_pauses} pauses allowed")
            return 0
        self._pause_ms = 0
        self.pauses += 1
        self._contact_back.clear()
        self._fire("contact_lost", self._sup.detail or "load open")
        return self._probe_ua()

    def _probe_ua(self) -> int:
        """The probe amplitude while paused: the prescribed probe is an average current, so
        a pulsed probe is probe / duty (SUP-017: at 10 % duty a 50 uA amplitude would
        average 5 uA, lost in the sensor's noise), never above the set-point."""
        probe = self.prescription.probe_ua
        if self._duty < 1000:
            probe = probe * 1000 // self._duty
        return min(probe, self.setpoint_ua)

    def _fire(self, trigger: str, reason: str) -> None:
        source = self._model.state
        self._machine.events[trigger].trigger(self._model)
        dest = self._model.state
        if dest == RAMP_DOWN or dest == POLARITY_SWAP:
            self._phase_bounds(dest == POLARITY_SWAP)
        self.events.append(StateChanged(self.tick, self.t_ms, trigger, source,
                                        self._model.state, reason))
        if self._plan is not None and trigger in ("stop", "fault"):  # RX-009, RX-010
            self.events.extend(self._plan.abort(self.tick, self.t_ms,
                                                reason, trigger == "fault"))

    # ------------------------------------------------------------------ faults

    def _react(self, code: FaultCode, t: int, state: str) -> Command | None:
        """Apply the catalogue's reaction. Returns the command to send now, or None when the
        tick goes on (a ramp-down towards the fault was started)."""
        fc = BY_CODE[code]
        detail = self._sup.detail or fc.detection
        if fc.reaction is Reaction.HARD_CUT:
            return self._cut(code, detail, t)
        if self._pending >= 0:
            return None  # already ramping down towards a fault
        record = FaultRecord(code, detail, self.tick, t, Reaction.RAMP_THEN_FAULT)
        self.faults.append(record)
        self.events.append(record)
        if state in (IDLE, FAULT) or self._cmd_na == 0:
            self._pending = len(self.faults) - 1
            return self._finish_pending(t)
        self._pending = len(self.faults) - 1
        if state != RAMP_DOWN:
            self._fire("stop", f"{code.value}: ramping down before fault")
        return None

    def _finish_pending(self, t: int) -> Command:
        idx, self._pending = self._pending, -1
        rec = self.faults[idx]
        done = FaultRecord(rec.code, rec.reason, rec.tick, rec.t_ms, rec.reaction, self.tick)
        self.faults[idx] = done
        return self._to_fault(f"{rec.code.value}: output at zero", t)

    def _cut(self, code: FaultCode, reason: str, t: int) -> Command:
        """Hard cut: output off at once, latched fault."""
        record = FaultRecord(code, reason, self.tick, t, Reaction.HARD_CUT, self.tick)
        self.faults.append(record)
        self.events.append(record)
        if code is FaultCode.OVERCURRENT:
            self._ack_needed = True
        if self._pending >= 0:  # a ramp towards a fault was running: it ends now
            idx, self._pending = self._pending, -1
            rec = self.faults[idx]
            self.faults[idx] = FaultRecord(rec.code, rec.reason, rec.tick, rec.t_ms, rec.reaction,
                                           self.tick)
        return self._to_fault(f"{code.value}: {reason}", t)

    def _to_fault(self, reason: str, t: int) -> Command:
        if self._model.state != FAULT:
            self._fire("fault", reason)
        self._cmd_na = 0
        self._command = OFF
        if self._off_since < 0:
            self._off_since = t
        self._zero_since = t if self._zero_since < 0 else self._zero_since
        self._quiet_ms = -1
        self.outcome, self.end_reason = FAULTED, reason
        return OFF

    def _in_fault(self, got: tuple[int, int, int, int | None] | None) -> Command:
        """In fault the output stays off. Charge still flowing is counted (a leak is real
        delivery, DOSE-001); the quiet period a reset needs is watched on fresh samples only."""
        self._command = OFF
        self._cmd_na = 0
        if got is None:
            self._quiet_ms = -1  # no evidence that the output is quiet
            return OFF
        t, i = got[0], got[1]
        dt = -1
        if self._t_prev >= 0:
            dt = t - self._t_prev
            if dt <= 0:  # stale or backwards: no evidence either
                self._quiet_ms = -1
                return OFF
            self.delivered_uams += i * self._polarity * dt
            self.bound_uams += i * self._polarity * dt
        self._t_prev = t
        # SUP-013: quiet time is evidenced by a run of punctual fresh samples only; a time
        # jump or a late sample starts the run again
        if abs(i) <= self.zero_tolerance_ua:
            if self._quiet_ms >= 0 and 0 < dt <= self._punctual_ms:
                self._quiet_ms += dt
            else:
                self._quiet_ms = 0
        else:
            self._quiet_ms = -1
        return OFF

    def _blind(self, missing: bool, state: str) -> Command:
        """A tick without a usable sample: hold (never rise); keep a ramp-down going open-loop."""
        if missing:
            self._blind_ms += self.tick_ms
            if self._blind_ms >= self.supervision.sample_deadline_ms:
                return self._cut(FaultCode.SAMPLE_LOSS,
                                 f"no fresh sample for {self._blind_ms} ms", self.t_ms)
        else:
            self._bad_samples += 1
            if self._bad_samples >= self.supervision.implausible_max_consecutive:
                self._sup.detail = f"{self._bad_samples} implausible samples in a row"
                out = self._react(FaultCode.IMPLAUSIBLE_SAMPLE, self.t_ms, state)
                if out is not None:
                    return out
                state = self._model.state
        if state == RAMP_DOWN and self._cmd_na > 0:
            # open loop: trust the command, not the sensor
            return self._shape(0, self.t_ms, self._command.setpoint_ua, self.tick_ms)
        return self._command

    def _crash(self, exc: BaseException) -> Command:
        """CTL-005: an exception anywhere ends in fault with the output off."""
        try:
            return self._cut(FaultCode.INTERNAL_ERROR, described(exc),
                             self.t_ms)
        except Exception:  # noqa: BLE001 - even the fault path failed: force the safe state
            self._model.state = FAULT
            self._cmd_na = 0
            self._command = OFF
            self.outcome = FAULTED
            return OFF

    # ------------------------------------------------------------------ requests

    def start(self) -> Reply:
        """Start the session: idle -> ramp_up. A controller runs one session: once started,
        a later start is refused whatever ended it (CTL-008); a reset after a fault that
        happened before any start leaves it startable."""
        return self._request(self._start)

    def stop(self) -> Reply:
        """Controlled stop: ramp down to zero at the slew, then idle."""
        return self._request(self._stop)

    def emergency_stop(self) -> Reply:
        """Cut the output at once; latched fault (SUP-012)."""
        return self._request(self._estop)

    def report_fault(self, code: FaultCode, reason: str) -> Reply:
        """A fault the HAL detected (link lost, the device's own fault report): cut the
        output at once, latched, with `reason` recorded. Only the codes in
        `faults.EXTERNAL_CODES` are accepted; in fault already it changes nothing."""
        return self._request(lambda: self._report(code, reason))

    def reset(self, *, acknowledge_overcurrent: bool = False) -> Reply:
        """Leave fault for idle. Accepted only with the output off and the measured current
        near zero for the reset quiet time; an over-current trip also needs
        `acknowledge_overcurrent=True` (SUP-013)."""
        return self._request(lambda: self._reset(acknowledge_overcurrent))

    def adjust(self, delta_ua: int) -> Reply:
        """Patient adjustment: move the set-point by whole steps within the prescription's
        floor and ceiling. The change is ramped at the slew (RX-005)."""
        return self._request(lambda: self._adjust(delta_ua))

    def _request(self, fn: Callable[[], Reply]) -> Reply:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            self._crash(exc)
            return Reply(False, f"internal error, output off: {described(exc)}")

    def _start(self) -> Reply:
        state = self._model.state
        if state != IDLE:
            return Reply(False, f"cannot start in state '{state}'")
        if self._ran:  # CTL-008: an ended session stays ended
            return Reply(False, f"session already ran ({self.outcome or 'ended'}); a new "
                                "session needs a new Controller")
        supply = self._sup.supply
        refusal = "" if supply is None else supply.start_refusal()
        if refusal:  # SUP-019: not on a supply that would end the session at once
            return Reply(False, f"cannot start: {refusal}")
        self._ran = True
        self._session_t0 = self._t_prev
        self.outcome, self.end_reason, self._ending = None, "", None
        self._fire("start", "start requested")
        return Reply(True)

    def _stop(self) -> Reply:
        state = self._model.state
        if state == RAMP_DOWN:
            return Reply(True, "already ramping down")
        if state not in sm.ACTIVE_STATES:
            return Reply(False, f"nothing to stop in state '{state}'")
        self._end("stop", STOPPED, "stop requested")
        return Reply(True)

    def _estop(self) -> Reply:
        if self._model.state == FAULT:
            return Reply(True, "already in fault, output off")
        self._cut(FaultCode.EMERGENCY_STOP, "emergency stop requested", self.t_ms)
        return Reply(True)

    def _report(self, code: FaultCode, reason: str) -> Reply:
        if type(code) is not FaultCode or code not in EXTERNAL_CODES:  # not its string value
            return Reply(False, f"code = {shown(code)}: allowed one of "
                                f"{sorted(c.value for c in EXTERNAL_CODES)}")
        if self._model.state == FAULT:
            return Reply(True, "already in fault, output off")
        # the HAL's reason as it is when it is text, else as a message shows a value: a reason
        # that cannot be made into text must not turn the reported fault into another one
        text = reason if type(reason) is str else shown(reason)
        self._cut(code, text[:200] or code.value, self.t_ms)
        return Reply(True)

    def _reset(self, acknowledge_overcurrent: bool) -> Reply:
        state = self._model.state
        if state != FAULT:
            return Reply(False, f"reset only leaves fault; state is '{state}'")
        if self._command.enabled or self._cmd_na != 0:
            return Reply(False, "output is not off")
        need = self.supervision.reset_quiet_ms
        quiet = self._quiet_ms
        if quiet < need:
            return Reply(False, f"measured current not near zero (<= {self.zero_tolerance_ua} uA) "
                                f"for {need} ms yet (quiet for {max(quiet, 0)} ms)")
        if self._ack_needed and acknowledge_overcurrent is not True:
            return Reply(False, "an over-current trip needs acknowledge_overcurrent=True")
        self._ack_needed = False
        self._pending = -1
        self._hold_ua = -1
        self._bad_samples = self._blind_ms = 0
        self._sup = self._new_supervisor()
        self.outcome, self.end_reason = None, ""
        self._fire("reset", f"reset accepted after {quiet} ms quiet")
        return Reply(True)

    def _adjust(self, delta_ua: int) -> Reply:
        rx = self.prescription
        state = self._model.state
        if state == FAULT or state == RAMP_DOWN:
            return Reply(False, f"no adjustment in state '{state}'")
        step = rx.adjust_step_ua
        if type(delta_ua) is not int or delta_ua == 0 or delta_ua % step:
            return Reply(False, f"delta_ua = {shown(delta_ua)}: allowed a non-zero multiple of the "
                                f"step {step} uA")
        new = self.setpoint_ua + delta_ua
        high = min(rx.ceiling_ua, self.limit_ua)
        if not rx.floor_ua <= new <= high:
            return Reply(False, f"set-point {shown(new)} uA: allowed {rx.floor_ua} to {high} uA")
        base = self._base_ua + delta_ua
        if not rx.floor_ua <= base <= high:  # research: in a pulse with a current of its own
            return Reply(False, f"set-point {shown(new)} uA: the steps without a current of "
                                f"their own would run at {base} uA; allowed {rx.floor_ua} to "
                                f"{high} uA")
        plan = self._plan
        now = None  # a pulse of its own current in force runs at the new set-point now
        if plan is not None and plan.step is not None and plan.step.current_ua:
            now = (plan.pulse, plan.step, new)
        try:  # RX-009, DOSE-003: the pulses still to run must stay verifiable at the new current
            self._check_currents(rx, self.tick_ms, self.supervision.contact_sense_ua, base, now)
        except InvalidSettings as exc:
            return Reply(False, f"set-point {shown(new)} uA: {exc}")
        if plan is not None:  # RX-009: a pulse by time so adjusted is not the one prescribed
            plan.adjusted_to(self.setpoint_ua, new)
        self.setpoint_ua = new
        self._base_ua = base
        return Reply(True)
