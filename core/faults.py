"""Fault catalogue: every condition the core detects, its requirement ID and its reaction.

Declared once, as data: SAFETY.md, the fault matrix and the CLI's --help read it.

Reactions
- HARD_CUT: output off at once, latched `fault`. For hazards where the control path
  itself cannot be trusted (the current is already wrong, or we cannot see or time it).
- RAMP_THEN_FAULT: controlled ramp-down on the command alone (open loop, at the slew),
  then latched `fault`. For a sensor we cannot trust while the output stage still
  follows commands, and for a load or supply that must not carry the session on (an
  impedance fall, a low supply) while the stage still follows: a ramp avoids the shock
  of a cut.
- PAUSE: command follows the collapsing current to the probe level; time and dose stop.
- HOLD: the command is held at the highest current the load allows; no fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Reaction(str, Enum):
    HARD_CUT = "hard-cut"
    RAMP_THEN_FAULT = "ramp-down-then-fault"
    PAUSE = "pause"
    HOLD = "hold"


class FaultCode(str, Enum):
    OVERCURRENT = "overcurrent"
    TRACKING = "tracking"
    SENSOR_STUCK = "sensor_stuck"
    IMPLAUSIBLE_SAMPLE = "implausible_sample"
    SHORT_CIRCUIT = "short_circuit"
    SAMPLE_LOSS = "sample_loss"
    CLOCK_BACKWARDS = "clock_backwards"
    CLOCK_JUMP = "clock_jump"
    LATE_TICKS = "late_ticks"
    RELAY_MISMATCH = "relay_mismatch"
    LEAK = "leak"
    INTERNAL_ERROR = "internal_error"
    EMERGENCY_STOP = "emergency_stop"
    UNCOMMANDED_CURRENT = "uncommanded_current"
    UNSETTLED = "unsettled"
    DOSE_LIMIT = "dose_limit"
    LINK_LOST = "link_lost"
    DEVICE_FAULT = "device_fault"
    IMPEDANCE_FALL = "impedance_fall"
    SUPPLY_LOW = "supply_low"
    SUPPLY_LOST = "supply_lost"


@dataclass(frozen=True)
class FaultClass:
    code: FaultCode
    requirement: str
    reaction: Reaction
    detection: str
    why: str


CATALOGUE: tuple[FaultClass, ...] = (
    FaultClass(FaultCode.OVERCURRENT, "SUP-001", Reaction.HARD_CUT,
               "|measured| above the session trip (effective limit + trip margin, capped at "
               "the device trip), on the first sample",
               "the current is already too high: the control path failed; any ramp would "
               "prolong the excess. Latched; reset needs an explicit acknowledgement."),
    FaultClass(FaultCode.TRACKING, "SUP-002", Reaction.HARD_CUT,
               "|measured - expected| above the tracking tolerance for the tracking debounce, "
               "output enabled, not at compliance",
               "the output stage does not follow commands, so a ramp-down command cannot be "
               "trusted to lower the current either"),
    FaultClass(FaultCode.UNCOMMANDED_CURRENT, "SUP-014", Reaction.HARD_CUT,
               "measured current above the command (or against its polarity) by more than the "
               "tracking tolerance for the tracking debounce, output enabled, in every state "
               "and at compliance too",
               "current nobody commanded flows: the output stage does not obey, so a ramp "
               "command would not lower it either"),
    FaultClass(FaultCode.UNSETTLED, "SUP-015", Reaction.HARD_CUT,
               "commanded zero yet more than the zero tolerance flowing for settle_ms; or a "
               "ramp-down or polarity swap still running past its deadline (from the slew, "
               "the dead time and settle_ms)",
               "the output cannot be brought to zero by commands: open it"),
    FaultClass(FaultCode.DOSE_LIMIT, "DOSE-002", Reaction.HARD_CUT,
               "the next tick could carry the delivered charge past the electrode's rated "
               "dose (drug) or the research charge ceiling (ENV-005) (ticks slower than the "
               "projection assumed)",
               "the electrode rating and the charge ceiling are hard ceilings: a cut is the "
               "last resort when the planned ramp-down can no longer land below them"),
    FaultClass(FaultCode.SENSOR_STUCK, "SUP-003", Reaction.RAMP_THEN_FAULT,
               "current and voltage readings bit-identical for the stuck time while the "
               "command moved by at least the stuck move, or for the device's "
               "sensor_frozen_ms at any non-zero command",
               "the output stage still follows commands; only the feedback is lost, so an "
               "open-loop ramp at the slew is the gentler safe stop"),
    FaultClass(FaultCode.IMPLAUSIBLE_SAMPLE, "SUP-004", Reaction.RAMP_THEN_FAULT,
               "a field missing, not an integer (or a non-finite float), or beyond the "
               "sensor's range, for the implausible debounce; single bad samples hold the command",
               "as for a stuck sensor: feedback lost, actuator trusted; the command never rises "
               "on a bad sample"),
    FaultClass(FaultCode.SHORT_CIRCUIT, "SUP-006", Reaction.HARD_CUT,
               "impedance below the short threshold at a current of at least the short sense "
               "current, for the short debounce",
               "the current bypasses the intended path (both electrodes in one tray, bridged "
               "patches): stop it at once; alarm"),
    FaultClass(FaultCode.SAMPLE_LOSS, "SUP-008", Reaction.HARD_CUT,
               "no fresh sample (none, or a time stamp not advancing) for the sample deadline",
               "without samples the core is blind and its commands may not arrive; the "
               "device-side watchdog cuts too"),
    FaultClass(FaultCode.CLOCK_BACKWARDS, "SUP-009", Reaction.HARD_CUT,
               "sample time earlier than the previous sample",
               "slew, dead time, treatment time and dose all depend on time"),
    FaultClass(FaultCode.CLOCK_JUMP, "SUP-009", Reaction.HARD_CUT,
               "sample time more than the jump bound after the previous sample",
               "a jump means lost control for that long, or a broken clock"),
    FaultClass(FaultCode.LATE_TICKS, "SUP-009", Reaction.RAMP_THEN_FAULT,
               "ticks later than the tolerance fill a leaky bucket (late +10, on time -1) "
               "up to its limit",
               "the loop still works but is not keeping time; ramp down while it still can"),
    FaultClass(FaultCode.RELAY_MISMATCH, "SUP-010", Reaction.HARD_CUT,
               "the relay reports a polarity other than the command's (or closed while the "
               "output is off) for the relay debounce",
               "current may flow in the wrong direction: stop it"),
    FaultClass(FaultCode.LEAK, "SUP-010", Reaction.HARD_CUT,
               "|measured| above the zero tolerance while the output has been commanded off "
               "for the leak settle time",
               "current flows that nobody commands: cut and latch"),
    FaultClass(FaultCode.INTERNAL_ERROR, "CTL-005", Reaction.HARD_CUT,
               "any exception while handling a tick or a request",
               "the software itself cannot be trusted"),
    FaultClass(FaultCode.EMERGENCY_STOP, "SUP-012", Reaction.HARD_CUT,
               "emergency stop requested",
               "an operator asked for the output off now, not in 30 s"),
    FaultClass(FaultCode.LINK_LOST, "LINK-002", Reaction.HARD_CUT,
               "the HAL reports the link to the output stage lost (reported through "
               "Controller.report_fault)",
               "commands may not arrive and samples cannot be trusted: off at once; the "
               "device's own watchdog cuts on its side"),
    FaultClass(FaultCode.DEVICE_FAULT, "LINK-005", Reaction.HARD_CUT,
               "the output stage reports a fault of its own (watchdog, hardware trip, status "
               "contradicting the command), reported through Controller.report_fault",
               "the second, independent layer says something is wrong: believe it and stop"),
    FaultClass(FaultCode.IMPEDANCE_FALL, "SUP-018", Reaction.RAMP_THEN_FAULT,
               "load impedance |V| / |I| at most (1 - impedance_fall_permille) of its highest "
               "value within the last impedance_window_ms, for impedance_debounce_ms, in treat "
               "with the command unchanged for the window and at least impedance_sense_ua, "
               "off compliance and with no compliance hold",
               "the current found a low-resistance path (broken skin, a wound, a wet bridge "
               "past a lifted edge) and concentrates: end the session; the output stage still "
               "follows, so a ramp spares the patient a cut"),
    FaultClass(FaultCode.SUPPLY_LOW, "SUP-019", Reaction.RAMP_THEN_FAULT,
               "supply below supply_min_mv plus supply_margin_permille, or its reading missing "
               "or implausible, for supply_debounce_ms, output enabled, on a device that "
               "monitors its supply (supply_min_mv > 0)",
               "the supply will soon no longer hold the compliance voltage: ramp down while "
               "the output still follows, before it sags (and surges back)"),
    FaultClass(FaultCode.SUPPLY_LOST, "SUP-020", Reaction.HARD_CUT,
               "supply below supply_min_mv (0 and negative readings included: it vanished) for "
               "supply_debounce_ms, output enabled",
               "the output stage can no longer follow any command, a ramp included: off at "
               "once before the supply comes back with a surge"),
)

EXTERNAL_CODES: frozenset[FaultCode] = frozenset({FaultCode.LINK_LOST, FaultCode.DEVICE_FAULT})
"""Faults a HAL (not the core's own monitors) detects and reports with `report_fault`."""

BY_CODE: dict[FaultCode, FaultClass] = {f.code: f for f in CATALOGUE}


@dataclass(frozen=True)
class FaultRecord:
    """One detected fault. `zero_tick` is the tick on which the command reached zero."""

    code: FaultCode
    reason: str
    tick: int
    t_ms: int
    reaction: Reaction
    zero_tick: int | None = None

    def __post_init__(self) -> None:
        """A record the session file can be trusted with: a catalogued code and reaction, a
        reason given, whole non-negative ticks and times, the zero tick never before the fault."""
        ok = (type(self.code) is FaultCode and type(self.reaction) is Reaction
              and type(self.reason) is str and self.reason != ""
              and type(self.tick) is int and self.tick >= 0
              and type(self.t_ms) is int and self.t_ms >= 0
              and (self.zero_tick is None
                   or (type(self.zero_tick) is int and self.zero_tick >= self.tick)))
        if not ok:
            raise ValueError(f"malformed fault record: {self!r}")

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code.value, "reason": self.reason, "tick": self.tick,
                "t_ms": self.t_ms, "reaction": self.reaction.value, "zero_tick": self.zero_tick}
