"""The output stage's own obligations (specs/protocol.md, "Device obligations") as pure
logic: what a device does with each COMMAND and on each of its ticks, whatever the host
asks. The emulator runs it; a maker's firmware does the same (the conformance kit's
`device_checks` tests any device for it over a real port).

- Fields out of range (enabled not 0/1, duty not 1..1000, pulsed or reversed without the
  capability): the COMMAND is rejected: not applied, the watchdog not re-armed.
- A duplicate COMMAND (the seq of the previous one) is neither applied nor answered.
- |set-point| above the device maximum is clamped to it; a rise of |set-point| is limited
  to ceil(max_slew * tick / 1000) uA per device tick; a fall is carried out at once (the
  host follows a collapsing current down; a device lagging there would jolt on
  re-contact); the polarity changes only after `dead_time_ms` at zero. Each of these sets
  LIMITED in the answer.
- enabled = 0 turns the output off at once and clears the watchdog and ramp-down latches.
- RAMP_DOWN: down at the slew, then off, FAULT(RAMPED_DOWN) with the RAMP_DOWN's seq;
  latched (ON commands ignored) until a COMMAND with enabled = 0.
- Watchdog (wall time, whenever the output is on): no valid COMMAND for `watchdog_ms`
  turns it off, FAULT(WATCHDOG) with seq 0, latched until a COMMAND with enabled = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import protocol as p

APPLIED, REJECTED, DUPLICATE = "applied", "rejected", "duplicate"
NO_RAMP, RAMPING, RAMPED = 0, 1, 2


@dataclass(frozen=True)
class Output:
    """What the output stage carries out during the next tick."""

    setpoint_ua: int
    enabled: bool
    duty_permille: int


def field_problem(setpoint_ua: int, enabled: int, duty_permille: int, capabilities: int) -> str | None:
    """Why a COMMAND must be rejected ('field = value: allowed ...'), or None."""
    if enabled not in (0, 1):
        return f"enabled = {enabled}: allowed 0 or 1"
    if not 1 <= duty_permille <= 1000:
        return f"duty_permille = {duty_permille}: allowed 1..1000"
    if duty_permille < 1000 and not capabilities & p.CAP_PULSED:
        return f"duty_permille = {duty_permille}: allowed 1000 only (no pulsed capability)"
    if enabled and setpoint_ua < 0 and not capabilities & p.CAP_REVERSAL:
        return f"setpoint_ua = {setpoint_ua}: allowed >= 0 only (no reversal capability)"
    return None


class DeviceRules:
    """One output stage's state under the device obligations. Times are device ms."""

    def __init__(self, ident: p.Identity) -> None:
        self.ident = ident
        self.step_ua = -(-ident.max_slew_ua_per_s * ident.tick_ms // 1000)  # ceil
        self.level = 0                # signed set-point carried out (uA)
        self.target = 0
        self.enabled = False
        self.duty = 1000
        self.polarity = 0             # sign of the last non-zero level
        self.zero_since = -(10**9)    # device time the level last reached zero (or off)
        self.ramp = NO_RAMP
        self.ramp_seq = 0
        self.watchdog_tripped = False
        self.limited = False
        self.rejected = ""            # the reason the last COMMAND was rejected, or ""
        self.last_seq: int | None = None

    # ------------------------------------------------------------------ messages

    def hello(self) -> None:
        """A new connection: the host's seq counter starts again."""
        self.last_seq = None

    def command(self, seq: int, setpoint_ua: int, enabled: int, duty: int, t_ms: int) -> str:
        """APPLIED, REJECTED (not applied; watchdog not re-armed) or DUPLICATE (ignored)."""
        if seq == self.last_seq:
            return DUPLICATE
        self.last_seq = seq
        caps = self.ident.capabilities
        if not (enabled == 1 and 1 <= duty <= 1000 and (duty == 1000 or caps & p.CAP_PULSED)
                and (setpoint_ua >= 0 or caps & p.CAP_REVERSAL)):   # else: the usual command
            self.rejected = field_problem(setpoint_ua, enabled, duty, caps) or ""
            if self.rejected:
                return REJECTED
        self.rejected = ""
        if not enabled:
            self._off(t_ms)
            self.watchdog_tripped = False
            self.ramp = NO_RAMP
            self.limited = False
            return APPLIED
        if self.watchdog_tripped or self.ramp != NO_RAMP:
            return APPLIED            # latched off / ramping: the set-point is ignored
        cap = self.ident.max_current_ua
        target = self.target = max(-cap, min(cap, setpoint_ua))
        self.enabled, self.duty = True, duty
        # LIMITED says at once what the next ticks will do: clamp, a rise beyond one step,
        # or a reversal that must wait at zero
        reverses = target != 0 and self.polarity not in (0, 1 if target > 0 else -1) and (
            self.level != 0 or t_ms - self.zero_since < self.ident.dead_time_ms)
        self.limited = (target != setpoint_ua or reverses
                        or abs(target) > abs(self.level) + self.step_ua)
        return APPLIED

    def ramp_down(self, seq: int, t_ms: int) -> bool:
        """Start a requested ramp-down; True when it is already done (output was off)."""
        self.ramp, self.ramp_seq, self.target = RAMPING, seq, 0
        if not self.enabled or self.level == 0:
            self._off(t_ms)
            self.ramp = RAMPED
            return True
        return False

    def trip_watchdog(self, t_ms: int) -> bool:
        """The watchdog expired: True if it turned the output off (it was on)."""
        if not self.enabled:
            return False
        self._off(t_ms)
        self.watchdog_tripped = True
        return True

    # ------------------------------------------------------------------ time

    def tick(self, t_ms: int) -> bool:
        """Move the level one device tick towards the target; True when a requested ramp-down
        has just finished (send FAULT(RAMPED_DOWN) with `ramp_seq`)."""
        if not self.enabled or (self.level == self.target and self.ramp == NO_RAMP):
            return False
        if self.ramp == RAMPING:
            mag = max(0, abs(self.level) - self.step_ua)
            self._set(mag if self.level >= 0 else -mag, t_ms)
            if mag == 0:
                self._off(t_ms)
                self.ramp = RAMPED
                return True
            return False
        target, level = self.target, self.level
        want = target
        if level != 0 and target != 0 and (target > 0) != (level > 0):
            want = 0                                   # through zero first
        if level == 0 and want != 0 and self.polarity not in (0, 1 if want > 0 else -1) \
                and t_ms - self.zero_since < self.ident.dead_time_ms:
            want = 0                                   # dead time at zero
        if abs(want) > abs(level) and (level == 0 or (want > 0) == (level > 0)):
            mag = min(abs(want), abs(level) + self.step_ua)  # rise: at the slew
            want = mag if want > 0 else -mag
        self._set(want, t_ms)
        self.limited = self.limited or want != target
        return False

    def output(self) -> Output:
        return Output(self.level, self.enabled, self.duty)

    # ------------------------------------------------------------------ internals

    def _set(self, level: int, t_ms: int) -> None:
        if level == 0 and self.level != 0:
            self.zero_since = t_ms
        if level != 0:
            self.polarity = 1 if level > 0 else -1
        self.level = level

    def _off(self, t_ms: int) -> None:
        self._set(0, t_ms)
        self.target = 0
        self.enabled = False
