"""The control core's invariants, checked on the stream a controller produces.

ORACLE RULE: everything this checker allows is derived from the prescription, the device
limits, the supervision limits and the tick the test chose, never from the controller's
attributes (tests/test_oracles.py hands it a controller whose attributes lie). It sees
only what a HAL would see (samples in, commands out), the state and the replies to
requests, and, when given, the dose the controller reports, judged against its own
integral of the samples.

- CTL-001: |command| <= the effective limit (device maximum, the family's maximum,
  prescription maximum, and density x the smaller electrode's contact area, ENV-001/002).
- CTL-002: the command's magnitude never rises faster than the slew, min(target / ramp,
  the device's maximum slew), allows for the time elapsed, a late tick counting as one
  nominal tick: the controller's exact magnitude (nA) rises at most slew x min(dt, tick)
  per tick and the command shown is it rounded down to whole uA, so the checker keeps an
  upper bound of that exact magnitude. Per tick it also rises at most max_step (the slew
  over one tick, rounded up to whole uA) and falls at most max_step below the smaller of
  the previous command and the current measured in the commanded direction (as a pulse
  amplitude when pulsed); the cut on entering fault is the only other exception.
- CTL-003: the sign changes only after the command sat at zero for the device's dead
  time, with the measured current within the device's zero tolerance on that tick.
- SM-002: in fault the command is OFF; fault is left only through an accepted reset.
- DOSE-001 (when the caller passes the controller's delivered charge): the charge is the
  integral of the measured current along the polarity in force (the prescription's, then
  the sign of the last non-zero command; either one at zero inside a reversal, which may
  have flipped before the new sign shows) over every interval
  that began in ramp_up, treat, polarity_swap, pulse_gap, ramp_down or fault, and nothing
  else; an interval longer than a punctual tick may count or not (a clock fault may end
  the tick before it is counted), so the checker keeps a lower and an upper bound.
- SUP-019 / SUP-020 (devices with supply_min_mv > 0): once the samples have shown the supply
  below the stop level (the device's supply_min_mv raised by supply_margin_permille, rounded
  up), missing or implausible, continuously for supply_debounce_ms while the output was
  commanded on, the command never rises again.
"""

from __future__ import annotations

import math
from typing import Any

from iontocore import OFF, Command, DeviceLimits, Prescription, SupervisionLimits

FAULT = "fault"
DOSE_STATES = frozenset({"ramp_up", "treat", "polarity_swap", "pulse_gap", "ramp_down", FAULT})
"""Where current may flow and is counted (DOSE-001's list, restated from the requirement)."""


class Violation(AssertionError):
    pass


def _valid(sample: Any, max_ua: int, max_mv: int) -> bool:
    """Plausible current and voltage: four fields, or five (the fifth, the supply voltage,
    is judged by its own monitor, never makes the sample implausible)."""
    try:
        t, i, v, _relay = sample if len(sample) != 5 else sample[:4]
    except (TypeError, ValueError):
        return False
    for x in (t, i, v):
        if type(x) is float:
            if not math.isfinite(x) or x != int(x):
                return False
        elif type(x) is not int:
            return False
    return bool(-max_ua <= i <= max_ua and -max_mv <= v <= max_mv and t >= 0)


SITE_AREA_MM2 = {"palms": 12_000, "soles": 15_000, "underarms": 4_000, "child-hands": 6_000}
"""ENV-003's assumed contact areas, restated from specs/limits.md (a test holds them equal)."""


def contact_area_mm2(rx: Prescription) -> int:
    """The area the density is judged on: the smaller electrode, or the site's area (narrowed
    by a given area) for tap-water."""
    if rx.family == "tap-water":
        site = SITE_AREA_MM2[rx.site]
        return min(site, rx.area_mm2) if rx.area_mm2 else site
    return min(rx.area_mm2, rx.return_area_mm2)


def effective_limit_ua(rx: Prescription, device: DeviceLimits) -> int:
    """CTL-001's limit from the layers: device, family (ENV-001), prescription, and the
    density (the family's, or the prescription's own if narrower) x the contact area."""
    family = {"tap-water": device.tap_water, "drug": device.drug, "research": device.research}[
        rx.family]
    density = family.max_density_ua_per_cm2
    if rx.max_density_ua_per_cm2:
        density = min(density, rx.max_density_ua_per_cm2)
    return min(device.max_current_ua, family.max_current_ua, rx.max_ua or rx.target_ua,
               density * contact_area_mm2(rx) // 100)


def slew_ua_per_s(rx: Prescription, device: DeviceLimits) -> int:
    """The slew: the target reached over the ramp time (never faster), capped by the device."""
    return min(max(1, rx.target_ua * 1000 // rx.ramp_ms), device.max_slew_ua_per_s)


class InvariantChecker:
    def __init__(self, rx: Prescription, device: DeviceLimits,
                 supervision: SupervisionLimits | None, tick_ms: int) -> None:
        sup = supervision or SupervisionLimits()
        self.limit = effective_limit_ua(rx, device)
        self.slew = slew_ua_per_s(rx, device)
        self.tick_ms = tick_ms
        self.max_step = max_step_ua(rx, device, tick_ms)
        self.dead = device.dead_time_ms
        self.tol = device.zero_tolerance_ua
        self.duty = rx.duty_permille
        self.polarity = 1 if rx.electrode_a == "anode" else -1
        self.max_ua = device.sensor_max_ua
        self.max_mv = device.sensor_max_mv
        self.prev: Command = OFF
        self.exact_max_na = 999    # upper bound of the controller's exact magnitude (nA)
        self.last_sign = 0
        self.zero_since: int | None = None
        self.t: int | None = None
        self.state = "idle"
        self.ticks = 0
        self.last_valid = True
        self.quiet: int | None = None  # in fault: quiet time shown by punctual fresh samples
        # SUP-013's "punctual": from the tick and the supervision limits, not the controller
        self.punctual = tick_ms * (1000 + sup.late_tolerance_permille) // 1000
        self.trip = trip_ua(rx, device, sup)  # SUP-001's session trip
        self.dose_lo = self.dose_hi = 0  # DOSE-001: bounds of the charge (uA*ms)
        self.swapping = False  # at zero inside a reversal: the polarity in force is either
        # SUP-019/020, from the device and supervision limits alone
        self.supply_floor = device.supply_min_mv
        self.supply_stop = -(-device.supply_min_mv * (1000 + sup.supply_margin_permille) // 1000)
        self.supply_max = device.supply_max_mv
        self.supply_debounce = sup.supply_debounce_ms
        self.low_since: int | None = None  # first sample of a run of bad supply readings
        self.no_rise = False               # a bad supply persisted: the command may not rise

    def request(self, name: str, accepted: bool, state_after: str) -> None:
        """Record a request's outcome (start, stop, reset, ...)."""
        if self.state == FAULT and state_after != FAULT and not (name == "reset" and accepted):
            raise Violation(f"SM-002: left fault through {name!r} (accepted={accepted})")
        if state_after == FAULT and self.state != FAULT:
            self.quiet = None
        self.state = state_after

    def last_valid_sample(self, sample: Any) -> bool:
        """Whether `sample` is plausible (the same rule the checker applies on a tick)."""
        return _valid(sample, self.max_ua, self.max_mv)

    def quiet_ms(self) -> int:
        """How long, by fresh samples seen in fault, the current has been near zero (-1: not)."""
        return -1 if self.quiet is None else self.quiet

    def step(self, sample: Any, cmd: Command, state_after: str,
             delivered_uams: int | None = None) -> None:
        self.ticks += 1
        valid = _valid(sample, self.max_ua, self.max_mv)
        self.last_valid = valid
        fresh = valid and (self.t is None or int(sample[0]) > self.t)
        dt = int(sample[0]) - self.t if fresh and self.t is not None else 0
        if self.state == FAULT and state_after == FAULT:  # SUP-013: the reset's quiet time
            if fresh and abs(int(sample[1])) <= self.tol:
                if self.quiet is not None and 0 < dt <= self.punctual:
                    self.quiet += dt
                else:
                    self.quiet = 0
            else:
                self.quiet = None
        elif state_after == FAULT:
            self.quiet = None
        if dt > 0 and self.state in DOSE_STATES:
            q = int(sample[1]) * self.polarity * dt
            if self.state == "polarity_swap" and self.prev.setpoint_ua == 0:
                self.swapping = True
            if self.swapping:  # at zero in a reversal: either polarity may be in force
                self.dose_lo -= abs(q)
                self.dose_hi += abs(q)
            elif dt <= self.punctual:
                self.dose_lo += q
                self.dose_hi += q
            else:
                self.dose_lo += min(q, 0)
                self.dose_hi += max(q, 0)
        if fresh:
            self.t = int(sample[0])
            if self.supply_floor and state_after != FAULT:
                self._supply(sample, int(sample[0]))
        t = self.t if self.t is not None else 0
        mag, pmag = abs(cmd.setpoint_ua), abs(self.prev.setpoint_ua)
        def where() -> str:  # formatted only for a violation (three reprs cost a model check ~10 %)
            return (f"tick {self.ticks}, t={t} ms, {self.state}->{state_after}, prev {self.prev}, "
                    f"now {cmd}, sample {sample}")

        if self.no_rise and mag > pmag:
            raise Violation(f"SUP-019: the command rose after the supply was bad for "
                            f"{self.supply_debounce} ms; {where()}")
        # CTL-001
        if mag > self.limit:
            raise Violation(f"CTL-001: |command| {mag} uA above the limit {self.limit} uA; {where()}")
        if not cmd.enabled and cmd.setpoint_ua != 0:
            raise Violation(f"SM-002: disabled command with a set-point; {where()}")
        # SM-002
        if self.state == FAULT and state_after != FAULT:
            raise Violation(f"SM-002: fault left during a tick; {where()}")
        if state_after == FAULT and cmd != OFF:
            raise Violation(f"SM-002: in fault the command is not OFF; {where()}")
        # CTL-002
        allowed_na = self.exact_max_na + self.slew * min(dt, self.tick_ms)
        if state_after != FAULT:
            if mag > pmag and mag - pmag > self.max_step:
                raise Violation(f"CTL-002: rise of {mag - pmag} uA > max step {self.max_step} uA; {where()}")
            if mag * 1000 > allowed_na:
                raise Violation(f"CTL-002: rose to {mag} uA, beyond the slew {self.slew} uA/s "
                                f"over {dt} ms (at most {allowed_na // 1000} uA); {where()}")
            if mag < pmag:
                flowing = pmag
                if valid:
                    along = int(sample[1]) * (1 if self.prev.setpoint_ua > 0 else -1)
                    if self.duty < 1000:
                        along = along * 1000 // self.duty
                    flowing = max(along, 0)
                floor = min(pmag, flowing) - self.max_step
                if mag < floor:
                    raise Violation(f"CTL-002: fell to {mag} uA, below min(previous {pmag}, "
                                    f"flowing {flowing}) - step {self.max_step}; {where()}")
        self.exact_max_na = min(allowed_na, mag * 1000 + 999)
        # CTL-003
        s = (cmd.setpoint_ua > 0) - (cmd.setpoint_ua < 0)
        if s != 0 and self.last_sign != 0 and s != self.last_sign:
            if self.zero_since is None or t - self.zero_since < self.dead:
                raise Violation(f"CTL-003: polarity flipped after {None if self.zero_since is None else t - self.zero_since} ms "
                                f"at zero (dead time {self.dead} ms); {where()}")
            if not valid or abs(int(sample[1])) > self.tol:
                raise Violation(f"CTL-003: polarity flipped with measured current not near zero; {where()}")
        if s != 0:
            self.polarity, self.swapping = s, False
            self.last_sign = s
            self.zero_since = None
        elif self.zero_since is None:
            self.zero_since = t
        # DOSE-001
        if delivered_uams is not None and not self.dose_lo <= delivered_uams <= self.dose_hi:
            raise Violation(f"DOSE-001: delivered {delivered_uams} uA*ms, but the samples "
                            f"integrate to {self.dose_lo}..{self.dose_hi} uA*ms; {where()}")
        self.prev = cmd
        self.state = state_after


    def _supply(self, sample: Any, t: int) -> None:
        """SUP-019: a run of bad supply readings while commanded on (the command in force
        when the sample was taken is the previous one)."""
        s = sample[4] if len(sample) == 5 else None
        bad = (type(s) is not int or not self.supply_stop <= s <= self.supply_max)
        if not (bad and self.prev.enabled):
            self.low_since = None
            return
        if self.low_since is None:
            self.low_since = t
        if t - self.low_since >= self.supply_debounce:
            self.no_rise = True


def max_step_ua(rx: Prescription, device: DeviceLimits, tick_ms: int) -> int:
    """The largest change of the command shown in one nominal tick: the slew over a tick,
    rounded up to whole uA (for tests that check ramps by hand)."""
    return -(-slew_ua_per_s(rx, device) * tick_ms // 1000)


def trip_ua(rx: Prescription, device: DeviceLimits, sup: SupervisionLimits) -> int:
    """SUP-001's session trip: a margin above the effective limit (at least the floor),
    never above the device's own trip."""
    limit = effective_limit_ua(rx, device)
    return min(limit + max(limit * sup.trip_margin_permille // 1000, sup.trip_floor_ua),
               device.trip_ua)
