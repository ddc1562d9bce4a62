"""The control core's invariants, checked on the stream a controller produces.

Written independently of the controller's code: it sees only what a HAL would see
(samples in, commands out) plus the controller's state and the replies to requests.

- CTL-001: |command| <= effective limit.
- CTL-002: per tick, |command| rises at most max_step_ua, and falls at most max_step_ua
  below min(previous |command|, current measured in the commanded direction); the cut
  on entering fault is the only other exception.
- CTL-003: the sign changes only after the command sat at zero for the dead time, with
  the measured current within the zero tolerance.
- SM-002: in fault the command is OFF; fault is left only through an accepted reset.
"""

from __future__ import annotations

import math
from typing import Any

from iontocore import OFF, Command, Controller

FAULT = "fault"


class Violation(AssertionError):
    pass


def _valid(sample: Any, max_ua: int, max_mv: int) -> bool:
    try:
        t, i, v, _relay = sample
    except (TypeError, ValueError):
        return False
    for x in (t, i, v):
        if type(x) is float:
            if not math.isfinite(x) or x != int(x):
                return False
        elif type(x) is not int:
            return False
    return -max_ua <= i <= max_ua and -max_mv <= v <= max_mv and t >= 0


class InvariantChecker:
    def __init__(self, ctl: Controller) -> None:
        # CTL-001's limit, computed here from the layers, not taken from the controller
        rx, dev = ctl.prescription, ctl.device
        layers = [dev.max_current_ua, rx.max_ua or rx.target_ua]
        if rx.area_mm2:
            layers.append(rx.max_density_ua_per_cm2 * rx.area_mm2 // 100)
        self.limit = min(layers)
        self.max_step = ctl.max_step_ua
        self.dead = ctl.dead_time_ms
        self.tol = ctl.zero_tolerance_ua
        self.duty = ctl.prescription.duty_permille
        self.max_ua = ctl.device.sensor_max_ua
        self.max_mv = ctl.device.sensor_max_mv
        self.prev: Command = OFF
        self.last_sign = 0
        self.zero_since: int | None = None
        self.t: int | None = None
        self.state = ctl.state
        self.ticks = 0
        self.last_valid = True
        self.quiet: int | None = None  # in fault: quiet time shown by punctual fresh samples
        # SUP-013's "punctual": from the tick and the supervision limits, not the controller
        self.punctual = ctl.tick_ms * (1000 + ctl.supervision.late_tolerance_permille) // 1000

    def request(self, name: str, accepted: bool, state_after: str) -> None:
        """Record a request's outcome (start, stop, reset, ...)."""
        if self.state == FAULT and state_after != FAULT and not (name == "reset" and accepted):
            raise Violation(f"SM-002: left fault through {name!r} (accepted={accepted})")
        if state_after == FAULT and self.state != FAULT:
            self.quiet = None
        self.state = state_after

    def quiet_ms(self) -> int:
        """How long, by fresh samples seen in fault, the current has been near zero (-1: not)."""
        return -1 if self.quiet is None else self.quiet

    def step(self, sample: Any, cmd: Command, state_after: str) -> None:
        self.ticks += 1
        valid = _valid(sample, self.max_ua, self.max_mv)
        self.last_valid = valid
        fresh = valid and (self.t is None or int(sample[0]) > self.t)
        if self.state == FAULT and state_after == FAULT:  # SUP-013: the reset's quiet time
            if fresh and abs(int(sample[1])) <= self.tol:
                dt = -1 if self.t is None else int(sample[0]) - self.t
                if self.quiet is not None and 0 < dt <= self.punctual:
                    self.quiet += dt
                else:
                    self.quiet = 0
            else:
                self.quiet = None
        elif state_after == FAULT:
            self.quiet = None
        if fresh:
            self.t = int(sample[0])
        t = self.t if self.t is not None else 0
        mag, pmag = abs(cmd.setpoint_ua), abs(self.prev.setpoint_ua)
        where = f"tick {self.ticks}, t={t} ms, {self.state}->{state_after}, prev {self.prev}, now {cmd}, sample {sample}"
        # CTL-001
        if mag > self.limit:
            raise Violation(f"CTL-001: |command| {mag} uA above the limit {self.limit} uA; {where}")
        if not cmd.enabled and cmd.setpoint_ua != 0:
            raise Violation(f"SM-002: disabled command with a set-point; {where}")
        # SM-002
        if self.state == FAULT and state_after != FAULT:
            raise Violation(f"SM-002: fault left during a tick; {where}")
        if state_after == FAULT and cmd != OFF:
            raise Violation(f"SM-002: in fault the command is not OFF; {where}")
        # CTL-002
        if state_after != FAULT:
            if mag > pmag and mag - pmag > self.max_step:
                raise Violation(f"CTL-002: rise of {mag - pmag} uA > max step {self.max_step} uA; {where}")
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
                                    f"flowing {flowing}) - step {self.max_step}; {where}")
        # CTL-003
        s = (cmd.setpoint_ua > 0) - (cmd.setpoint_ua < 0)
        if s != 0 and self.last_sign != 0 and s != self.last_sign:
            if self.zero_since is None or t - self.zero_since < self.dead:
                raise Violation(f"CTL-003: polarity flipped after {None if self.zero_since is None else t - self.zero_since} ms "
                                f"at zero (dead time {self.dead} ms); {where}")
            if not valid or abs(int(sample[1])) > self.tol:
                raise Violation(f"CTL-003: polarity flipped with measured current not near zero; {where}")
        if s != 0:
            self.last_sign = s
            self.zero_since = None
        elif self.zero_since is None:
            self.zero_since = t
        self.prev = cmd
        self.state = state_after
