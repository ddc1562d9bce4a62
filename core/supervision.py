"""Supervision: the monitors that judge each sample, with named thresholds and debounces.

Pure integer predicates (CrossHair-checked) decide each condition; `Debounce` turns a
condition into a detection once it has held for its debounce time; `Supervisor`
runs every monitor on one admitted sample and returns the first fault found, in the
order of the catalogue's severity (over-current first). It also reports the load
status the controller needs: at compliance, contact open (debounced), and
compliance-limited (the load cannot take the commanded current). Two monitors live in
modules of their own and run from here: the impedance trend (`trend`, SUP-018) and the
supply (`supply`, SUP-019, SUP-020).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import Checker
from .faults import FaultCode
from .interface import Command, Sample
from .persistence import Debounce as Debounce, Persistence as Persistence  # re-exported
from .persistence import persistence_window_ms
from .supply import SUPPLY_UNREADABLE, SupplyMonitor, supply_stop_mv
from .trend import ImpedanceTrend


SUPERVISION_RANGES: dict[str, tuple[int, int, str, str]] = {
    "trip_margin_permille": (0, 1_000, "permille", "session over-current trip this far above the "
                             "effective limit (SUP-001)"),
    "trip_floor_ua": (1, 10_000, "uA", "...but at least this far above it, so noise at microamp "
                      "currents cannot trip"),
    "tracking_tolerance_ua": (1, 10_000, "uA", "tracking error floor, at most tracking_tolerance_"
                              "permille of the effective limit (SUP-002)"),
    "tracking_tolerance_permille": (1, 1_000, "permille", "tracking error: |measured - expected| "
                                    "above max(floor, this x expected) (SUP-002)"),
    "tracking_debounce_ms": (0, 10_000, "ms", "a tracking error must last this long (SUP-002)"),
    "stuck_ms": (1, 60_000, "ms", "bit-identical readings this long while the command moved: "
                 "stuck sensor (SUP-003)"),
    "stuck_move_ua": (1, 100_000, "uA", "...and the command moved at least this much"),
    "settle_ms": (10, 60_000, "ms", "commanded zero (enabled) with more than the zero tolerance "
                  "flowing this long: the output does not settle (SUP-015); also the settle "
                  "allowance in the ramp-down and polarity-swap deadlines"),
    "implausible_max_consecutive": (1, 100, "samples", "consecutive implausible samples before "
                                    "the fault; counted, not timed (SUP-004)"),
    "compliance_margin_mv": (0, 100_000, "mV", "|voltage| within this of the compliance voltage "
                             "counts as at compliance"),
    "contact_open_ohm": (1_000, 100_000_000, "ohm", "at compliance with an impedance above this: "
                         "contact lost (SUP-005)"),
    "contact_sense_ua": (1, 10_000, "uA", "contact is judged only while at least this much "
                         "current is commanded"),
    "contact_loss_debounce_ms": (0, 10_000, "ms", "an open contact must last this long (SUP-005)"),
    "short_ohm": (1, 100_000, "ohm", "impedance below this at the short sense current: short "
                  "circuit (SUP-006)"),
    "short_sense_ua": (1, 100_000, "uA", "shorts are judged at or above this current"),
    "short_debounce_ms": (0, 10_000, "ms", "a short must last this long (SUP-006)"),
    "hold_release_ms": (0, 600_000, "ms", "compliance hold released after this long off "
                        "compliance (SUP-007)"),
    "compliance_short_permille": (0, 500, "permille", "at compliance the current counts as "
                                  "limited (a hold starts) when short of the command by more "
                                  "than max(tracking floor, this x command): beyond the sensor's "
                                  "noise, which at 15 mA put a few % of samples 50 uA short and "
                                  "ratcheted the hold down (SUP-007)"),
    "sample_deadline_ms": (1, 10_000, "ms", "no fresh sample for this long: sample loss (SUP-008)"),
    "clock_jump_ms": (1, 10_000, "ms", "a sample more than this after the previous one: clock "
                      "jump (SUP-009)"),
    "late_tolerance_permille": (0, 10_000, "permille", "a tick later than tick x (1 + this) is "
                                "late (SUP-009)"),
    "late_bucket_limit": (10, 100_000, "points", "leaky bucket, +10 per late tick, -1 per "
                          "punctual tick: fault at this level (SUP-009)"),
    "relay_debounce_ms": (0, 10_000, "ms", "relay disagreeing with the command this long: relay "
                          "fault (SUP-010)"),
    "leak_settle_ms": (0, 10_000, "ms", "current above the zero tolerance this long after the "
                       "output was commanded off: leak (SUP-010)"),
    "reset_quiet_ms": (0, 600_000, "ms", "a reset needs the measured current near zero this long "
                       "(SUP-013)"),
    "impedance_fall_permille": (100, 900, "permille", "impedance fall: the load impedance at most "
                                "(1000 - this) / 1000 of its highest value within the window, in "
                                "treat at a steady command (SUP-018); skin hydration falls tens "
                                "of percent over minutes, far below this in any window"),
    "impedance_window_ms": (100, 60_000, "ms", "the command must have been unchanged this long "
                            "before a fall is judged (SUP-018)"),
    "impedance_horizon_ms": (100, 600_000, "ms", "...and the fall is measured from the highest "
                             "impedance at that command within this long (inclusive): a staircase "
                             "of smaller falls adds up within it (SUP-018)"),
    "impedance_debounce_ms": (0, 10_000, "ms", "...and the fallen impedance must persist this long "
                              "(SUP-018)"),
    "impedance_sense_ua": (1, 100_000, "uA", "the impedance trend is judged only at a command "
                           "amplitude of at least this (not microamp research sessions, where "
                           "noise is a large part of the reading)"),
    "impedance_sense_mv": (1, 100_000, "mV", "...and a sample is a reference only with |V| at least "
                           "this (a tiny voltage says little about the ratio)"),
    "supply_margin_permille": (20, 500, "permille", "a session ramps down (SUP-019) when the supply "
                               "falls below the device's supply_min_mv raised by this: it must hold "
                               "the supply's fall during the debounce and the longest ramp-down, "
                               "the supply sensor's error and the dip under load"),
    "supply_debounce_ms": (0, 10_000, "ms", "a low, lost, missing or implausible supply reading "
                           "must persist this long (SUP-019, SUP-020)"),
    "intermittent_share_permille": (10, 1_000, "permille", "every debounce above also detects an "
                                    "intermittent condition: one shown on at least this share of "
                                    "the samples within a window of (debounce + tick) x 1000 / "
                                    "this (SUP-021)"),
    "tracking_share_permille": (10, 1_000, "permille", "...but for tracking and uncommanded current "
                                "this share: they compare a noisy reading with a tolerance that "
                                "at microamp currents is a few uA, near the sensor's noise, so a "
                                "tenth of the samples beyond it is noise there (SUP-021)"),
}
"""Every supervision threshold: allowed range (inclusive), unit and meaning. The validator and
specs/limits.md both read this table."""


@dataclass(frozen=True)
class SupervisionLimits:
    """Thresholds and debounces of every monitor, described in SUPERVISION_RANGES (and
    specs/limits.md). Integers in the unit their name ends with."""

    trip_margin_permille: int = 100
    trip_floor_ua: int = 100
    tracking_tolerance_ua: int = 50
    tracking_tolerance_permille: int = 100
    tracking_debounce_ms: int = 200
    stuck_ms: int = 300
    stuck_move_ua: int = 50
    settle_ms: int = 1_000
    implausible_max_consecutive: int = 3
    compliance_margin_mv: int = 1_500
    contact_open_ohm: int = 200_000
    contact_sense_ua: int = 10
    contact_loss_debounce_ms: int = 30
    short_ohm: int = 300
    short_sense_ua: int = 500
    short_debounce_ms: int = 30
    hold_release_ms: int = 2_000
    compliance_short_permille: int = 20
    sample_deadline_ms: int = 100
    clock_jump_ms: int = 100
    late_tolerance_permille: int = 500
    late_bucket_limit: int = 100
    relay_debounce_ms: int = 30
    leak_settle_ms: int = 100
    reset_quiet_ms: int = 1_000
    impedance_fall_permille: int = 500
    impedance_window_ms: int = 2_000
    impedance_horizon_ms: int = 10_000
    impedance_debounce_ms: int = 100
    impedance_sense_ua: int = 500
    impedance_sense_mv: int = 500
    supply_margin_permille: int = 100
    supply_debounce_ms: int = 200
    intermittent_share_permille: int = 100
    tracking_share_permille: int = 334

    def __post_init__(self) -> None:
        c = Checker("supervision limits")
        for name, (lo, hi, unit, _) in SUPERVISION_RANGES.items():
            c.int_range(name, getattr(self, name), lo, hi, unit)
        if not c.problems:
            c.check(self.impedance_horizon_ms >= self.impedance_window_ms, "impedance_horizon_ms",
                    self.impedance_horizon_ms,
                    f"at least impedance_window_ms ({self.impedance_window_ms} ms)")
        c.raise_if_any()

    def persistence(self, limit_ms: int, tick_ms: int, share_permille: int | None = None) -> Persistence:
        """A debounce of `limit_ms` that also catches intermittent conditions shown on
        `share_permille` of the samples (default: intermittent_share_permille; SUP-021)."""
        share = self.intermittent_share_permille if share_permille is None else share_permille
        return Persistence(limit_ms, tick_ms, persistence_window_ms(limit_ms, tick_ms, share))

    def check_tick(self, tick_ms: int) -> None:
        """Reject a tick period these deadlines cannot supervise."""
        c = Checker("tick period")
        if c.int_range("tick_ms", tick_ms, 1, 100, "ms"):
            c.check(self.sample_deadline_ms >= 3 * tick_ms, "tick_ms", tick_ms,
                    f"at most a third of sample_deadline_ms ({self.sample_deadline_ms} ms)")
            c.check(self.clock_jump_ms >= 2 * tick_ms, "tick_ms", tick_ms,
                    f"at most half of clock_jump_ms ({self.clock_jump_ms} ms)")
            c.check(self.impedance_window_ms >= 2 * tick_ms, "tick_ms", tick_ms,
                    f"at most half of impedance_window_ms ({self.impedance_window_ms} ms)")
        c.raise_if_any()

    def check_contact(self, compliance_mv: int) -> None:
        """Reject a contact sense current above the least current a contact present at
        compliance carries (SUP-005, SUP-007): there its impedance is at most contact_open_ohm
        at a voltage of at least compliance - margin. A compliance hold is taken at what such
        a load lets flow; below the sense current it would keep the command where a later
        lift cannot be seen (a 10 MOhm open threshold held 9 uA, a lift never found)."""
        least = (compliance_mv - self.compliance_margin_mv) * 1000 // self.contact_open_ohm
        c = Checker("contact supervision")
        c.check(self.contact_sense_ua <= least, "contact_sense_ua", self.contact_sense_ua,
                f"at most {least} uA, the least current a contact present at compliance "
                f"carries ((compliance_mv {compliance_mv} - compliance_margin_mv "
                f"{self.compliance_margin_mv}) / contact_open_ohm {self.contact_open_ohm}): "
                "a compliance hold below the sense current would hide a later lift")
        c.raise_if_any()

    def check_supply(self, supply_min_mv: int, supply_max_mv: int) -> None:
        """Reject a supply margin whose stop level the supply sensor cannot show (SUP-019)."""
        if supply_min_mv:
            stop = supply_stop_mv(supply_min_mv, self.supply_margin_permille)
            c = Checker("supply monitor")
            c.check(stop < supply_max_mv, "supply_margin_permille", self.supply_margin_permille,
                    f"a stop level (supply_min_mv {supply_min_mv} mV raised by it: {stop} mV) "
                    f"below supply_max_mv ({supply_max_mv} mV)")
            c.raise_if_any()


# --- pure predicates (integer; CrossHair contracts) --------------------------------------


def over_current(measured_ua: int, trip_ua: int) -> bool:
    """|measured| above the trip (SUP-001). Its properties (symmetric, monotone, exact at the
    trip) are proved in tests/support/symbolic_properties.py."""
    return measured_ua > trip_ua or -measured_ua > trip_ua


def at_compliance(voltage_mv: int, compliance_mv: int, margin_mv: int) -> bool:
    """|V| within `margin_mv` of the compliance voltage, or beyond it (SUP-007); properties
    in tests/support/symbolic_properties.py."""
    return (voltage_mv if voltage_mv >= 0 else -voltage_mv) >= compliance_mv - margin_mv


def impedance_above(voltage_mv: int, current_ua: int, ohm: int) -> bool:
    """|V| / |I| > ohm, without dividing (an open circuit, I = 0, is above any threshold
    as soon as any voltage shows). mV / uA = kOhm, so |V| * 1000 > ohm * |I|.

    Properties in tests/support/symbolic_properties.py."""
    return abs(voltage_mv) * 1000 > ohm * abs(current_ua)


def impedance_below(voltage_mv: int, current_ua: int, ohm: int) -> bool:
    """|V| / |I| < ohm (false at I = 0).

    Properties in tests/support/symbolic_properties.py."""
    return abs(voltage_mv) * 1000 < ohm * abs(current_ua)


def tracking_error(measured_ua: int, expected_ua: int, tolerance_ua: int,
                   tolerance_permille: int) -> bool:
    """|measured - expected| > max(tolerance_ua, |expected| * permille / 1000).

    Properties in tests/support/symbolic_properties.py."""
    return abs(measured_ua - expected_ua) * 1000 > max(tolerance_ua * 1000,
                                                        abs(expected_ua) * tolerance_permille)


def tracking_floor_ua(tolerance_ua: int, tolerance_permille: int, limit_ua: int) -> int:
    """The absolute floor of the tracking tolerance for a session: tolerance_ua, but at most
    tolerance_permille of the effective limit (at least 1 uA).

    pre: tolerance_ua >= 0 and tolerance_permille >= 0 and limit_ua >= 0
    post: 1 <= __return__ <= max(tolerance_ua, 1)
    post: __return__ <= max(limit_ua * tolerance_permille // 1000, 1)
    """
    return max(1, min(tolerance_ua, limit_ua * tolerance_permille // 1000))


def short_of(measured_ua: int, expected_ua: int, floor_ua: int, permille: int) -> bool:
    """|measured| short of |expected| by more than max(floor_ua, permille of |expected|), in
    exact integers (SUP-007: at compliance, the load limits the current).

    pre: floor_ua >= 0 and 0 <= permille <= 1000
    post: not __return__ or abs(measured_ua) < abs(expected_ua)
    post: not __return__ or abs(expected_ua) - abs(measured_ua) > floor_ua
    post: not __return__ or 1000 * (abs(expected_ua) - abs(measured_ua)) > permille * abs(expected_ua)
    post: __return__ or abs(expected_ua) - abs(measured_ua) <= floor_ua + abs(expected_ua) * permille // 1000 + 1
    """
    gap = abs(expected_ua) - abs(measured_ua)
    return 1000 * gap > max(1000 * floor_ua, permille * abs(expected_ua))


def uncommanded(measured_ua: int, expected_ua: int, tolerance_ua: int,
                tolerance_permille: int) -> bool:
    """More current than commanded, or current against the commanded polarity, beyond the
    tracking tolerance (SUP-014): along the command's direction, measured above
    |expected| + max(tolerance_ua, |expected| x permille), or below -tolerance_ua. At a zero
    command, any current beyond tolerance_ua, either way.

    pre: tolerance_ua >= 0 and tolerance_permille >= 0
    post: expected_ua != 0 or __return__ == (abs(measured_ua) > tolerance_ua)
    post: not __return__ or abs(measured_ua) > tolerance_ua
    post: not (expected_ua > 0 and 0 <= measured_ua <= expected_ua) or not __return__
    post: not (expected_ua < 0 and expected_ua <= measured_ua <= 0) or not __return__
    post: not (expected_ua > 0 and measured_ua * 1000 > expected_ua * (1000 + tolerance_permille) + tolerance_ua * 1000) or __return__
    post: not (expected_ua < 0 and -measured_ua * 1000 > -expected_ua * (1000 + tolerance_permille) + tolerance_ua * 1000) or __return__
    post: not (expected_ua != 0 and measured_ua * expected_ua < 0 and abs(measured_ua) > tolerance_ua) or __return__
    """
    if expected_ua == 0:
        return measured_ua > tolerance_ua or -measured_ua > tolerance_ua
    along = measured_ua if expected_ua > 0 else -measured_ua
    mag = expected_ua if expected_ua > 0 else -expected_ua
    return (along - mag) * 1000 > max(tolerance_ua * 1000, mag * tolerance_permille) \
        or -along > tolerance_ua


def amplitude_ua(average_ua: int, duty_permille: int) -> int:
    """The pulse amplitude behind a sensed average (SUP-017); DC (duty 1000) as it is.

    pre: 1 <= duty_permille <= 1000
    post: duty_permille < 1000 or __return__ == average_ua
    post: average_ua < 0 or __return__ >= average_ua
    """
    return average_ua * 1000 // duty_permille if duty_permille < 1000 else average_ua


def trip_average_ua(trip_ua: int, duty_permille: int) -> int:
    """The session trip as the average the sensor shows at this duty (SUP-001, SUP-017).

    pre: trip_ua >= 0 and 1 <= duty_permille <= 1000
    post: 0 <= __return__ <= trip_ua
    """
    return trip_ua * duty_permille // 1000 if duty_permille < 1000 else trip_ua


def late(dt_ms: int, tick_ms: int, tolerance_permille: int) -> bool:
    """A tick is late when dt > tick * (1 + tolerance).

    Properties in tests/support/symbolic_properties.py."""
    return dt_ms * 1000 > tick_ms * (1000 + tolerance_permille)


def admit(sample: object, max_ua: int, max_mv: int) -> tuple[int, int, int, int | None] | None:
    """The sample's first four fields (t, current, voltage, relay) as integers, or None when
    it is implausible: not a tuple or a list (a Sample is a tuple) of four or five fields,
    a field missing, not a number, a non-finite
    or non-integral float, a bool, or beyond the sensor range. The fifth field, the supply
    voltage, is read by `supply_reading` (an unreadable supply does not make the current
    and voltage implausible)."""
    t: Any
    i: Any
    v: Any
    relay: Any
    if not isinstance(sample, (tuple, list)):  # bytes, a dict's keys, a string: no sample
        return None
    try:
        if len(sample) == 5:
            t, i, v, relay, _ = sample
        else:
            t, i, v, relay = sample
    except (TypeError, ValueError):
        return None
    clean = type(t) is int and type(i) is int and type(v) is int
    if not clean:
        t, i, v = _as_int(t), _as_int(i), _as_int(v)
        if t is None or i is None or v is None:
            return None
    if relay is not None and (type(relay) is not int or relay not in (-1, 0, 1)):
        return None
    if not (-max_ua <= i <= max_ua and -max_mv <= v <= max_mv and t >= 0):
        return None
    if clean and type(sample) is tuple and len(sample) == 4:
        return sample  # already four clean integer fields
    return t, i, v, relay


def supply_reading(sample: object) -> int | None:
    """The supply voltage an admitted sample reports (mV): None when it reports none (four
    fields, or the fifth None), SUPPLY_UNREADABLE when the field is not an integer (an
    integral float counts as one). Its range is judged by the supply monitor."""
    if len(sample) != 5:  # type: ignore[arg-type]
        return None
    s = sample[4]  # type: ignore[index]
    if s is None:
        return None
    s = _as_int(s)
    if s is None:
        return SUPPLY_UNREADABLE
    # readings are clipped to a range no sensor reaches, so a huge one cannot fill a reason
    # and a real reading never equals the sentinel (-2**63 read as vanished, like any negative)
    return max(-(10**12), min(s, 10**12))


def _as_int(x: object) -> int | None:
    if type(x) is int:
        return x
    if type(x) is float and math.isfinite(x) and x == int(x):
        return int(x)
    return None


class Supervisor:
    """Runs every per-sample monitor. One instance per controller; not thread-safe.

    After `observe`, the load status fields describe the sample just judged.
    """

    def __init__(self, limits: SupervisionLimits, compliance_mv: int, zero_tolerance_ua: int,
                 tick_ms: int, limit_ua: int, frozen_ms: int = 0, supply_min_mv: int = 0,
                 supply_max_mv: int = 0) -> None:
        self.lim = limits
        self.tracking_floor_ua = tracking_floor_ua(limits.tracking_tolerance_ua,
                                                   limits.tracking_tolerance_permille, limit_ua)
        self.compliance_mv = compliance_mv
        self.zero_tolerance_ua = zero_tolerance_ua
        self.tick_ms = tick_ms
        track = limits.tracking_share_permille
        self.tracking = limits.persistence(limits.tracking_debounce_ms, tick_ms, track)
        self.short = limits.persistence(limits.short_debounce_ms, tick_ms)
        self.relay = limits.persistence(limits.relay_debounce_ms, tick_ms)
        self.contact = limits.persistence(limits.contact_loss_debounce_ms, tick_ms)
        self.over = limits.persistence(limits.tracking_debounce_ms, tick_ms, track)
        # either way off the command (above or below): a fault split between the two
        # monitors (a quarter of the samples each) is still half of them
        self.off = limits.persistence(limits.tracking_debounce_ms, tick_ms, track)
        self.unsettled = limits.persistence(limits.settle_ms, tick_ms)
        self.trend = ImpedanceTrend(limits.impedance_fall_permille, limits.impedance_window_ms,
                                    limits.impedance_horizon_ms, limits.impedance_sense_ua,
                                    limits.impedance_sense_mv,
                                    limits.persistence(limits.impedance_debounce_ms, tick_ms))
        self.supply = (SupplyMonitor(supply_min_mv, supply_max_mv, limits.supply_margin_permille,
                                     limits.persistence(limits.supply_debounce_ms, tick_ms),
                                     limits.persistence(limits.supply_debounce_ms, tick_ms))
                       if supply_min_mv else None)
        self.frozen_limit_ms = frozen_ms
        self.frozen_ms = 0
        self.off_command = False
        self.late_bucket = 0
        self.late_ticks = 0
        self.stuck_ms = 0
        self.stuck_moved_ua = 0
        self._last_i: int | None = None  # last reading, for the stuck monitor
        self._last_v: int | None = None
        self._stuck_cmd = 0
        # load status of the last observed sample
        self.at_compliance = False
        self.contact_open = False
        self.compliance_limited = False
        self.detail = ""

    def check_time(self, dt_ms: int) -> FaultCode | None:
        """Clock monitors on the interval since the previous fresh sample (dt > 0)."""
        lim = self.lim
        if dt_ms < 0:
            self.detail = f"sample time went back by {-dt_ms} ms"
            return FaultCode.CLOCK_BACKWARDS
        if dt_ms > lim.clock_jump_ms:
            self.detail = f"sample time jumped {dt_ms} ms (bound {lim.clock_jump_ms} ms)"
            return FaultCode.CLOCK_JUMP
        if late(dt_ms, self.tick_ms, lim.late_tolerance_permille):
            self.late_ticks += 1
            self.late_bucket += 10
            if self.late_bucket >= lim.late_bucket_limit:
                self.detail = (f"{self.late_ticks} late ticks; bucket {self.late_bucket} "
                               f">= {lim.late_bucket_limit}")
                return FaultCode.LATE_TICKS
        elif self.late_bucket:
            self.late_bucket -= 1
        return None

    @property
    def contact_suspected(self) -> bool:
        """SUP-005: the last sample found the contact open (while its debounce decides, the
        controller keeps the command where contact can be judged)."""
        return self.contact.showing

    def contact_restored(self) -> None:
        """The controller saw contact back, stable for the prescription's time: the suspicion
        that paused the session is settled, and the open-contact debounce starts afresh (its
        memory of the pause would otherwise run on through a later current-free gap and
        pause the next ramp at once)."""
        self.contact.clear()
        self.contact_open = False

    def observe(self, t: int, i: int, v: int, relay: int | None, dt: int, cmd: Command,
                duty_permille: int, trip_ua: int, off_for_ms: int, supply_mv: int | None = None,
                steady: bool = False) -> FaultCode | None:
        """Judge one admitted sample against the command that governed the tick before it.

        `off_for_ms` is how long the output has been commanded off (-1 when on).
        `supply_mv` is the sample's supply reading (`supply_reading`), judged when the device
        monitors its supply. `steady`: the controller holds its command steady on purpose
        (treat, no compliance hold), so the impedance trend may be judged (SUP-018).

        Pulsed waveforms (SUP-017): the sensor reports the average current and the peak
        voltage. Every comparison with a command amplitude, a current threshold or an
        impedance uses the pulse amplitude (average x 1000 / duty); tracking compares
        average with expected average (the same ratio, in the unit the sensor measures).
        After the call, `off_command` says whether the output failed to do what it was
        told on this sample (treatment time does not count then, DOSE-001).
        """
        lim = self.lim
        command, enabled = cmd.setpoint_ua, cmd.enabled
        pulsed = duty_permille < 1000
        # SUP-001 over-current: no debounce; the amplitude against the trip.
        if over_current(i, trip_average_ua(trip_ua, duty_permille)):
            self.detail = (f"measured {i} uA beyond the trip at {trip_ua} uA" if not pulsed else
                           f"measured {i} uA average, {amplitude_ua(i, duty_permille)} uA amplitude, "
                           f"beyond the trip at {trip_ua} uA")
            return FaultCode.OVERCURRENT
        # SUP-020 / SUP-019 supply: judged while enabled; remembered while off (start refusal)
        supply = self.supply
        if supply is not None:
            code = supply.update(t, supply_mv, enabled)
            if code is not None:
                self.detail = supply.detail
                return code
        if not enabled:
            self.trend.reset()  # a session resumed at the same command starts a new window
            self.at_compliance = self.contact_open = self.compliance_limited = False
            self.off_command = False
            self.tracking.clear()
            self.over.clear()
            self.off.clear()
            self.unsettled.clear()
            self.short.clear()
            self.contact.clear()
            self._last_i = self._last_v = None  # (the next reading then restarts frozen_ms)
            # SUP-010 leak: current while commanded off, once the output had time to settle.
            if off_for_ms >= lim.leak_settle_ms and abs(i) > self.zero_tolerance_ua:
                self.detail = f"{i} uA flowing with the output off for {off_for_ms} ms"
                return FaultCode.LEAK
            if relay is not None and self.relay.update(relay != 0, t):
                self.detail = f"relay reports {relay} with the output off"
                return FaultCode.RELAY_MISMATCH
            return None
        expected = command * duty_permille // 1000 if pulsed else command
        # the pulse amplitude (at a zero command nothing pulses: what flows is what is read)
        amp = amplitude_ua(i, duty_permille) if command else i
        ai = i if i >= 0 else -i
        aamp = amp if amp >= 0 else -amp
        comp = at_compliance(v, self.compliance_mv, lim.compliance_margin_mv)
        self.at_compliance = comp
        # SUP-010 relay: while current is commanded, the relay must show its polarity.
        if relay is not None:
            want = (command > 0) - (command < 0)
            bad_relay = want != 0 and relay != want
            if self.relay.update(bad_relay, t):
                self.detail = f"relay reports {relay}, command polarity {want}"
                return FaultCode.RELAY_MISMATCH
        # SUP-006 short circuit, on the amplitude (the current that flows during a pulse).
        shorted = aamp >= lim.short_sense_ua and impedance_below(v, amp, lim.short_ohm)
        if self.short.update(shorted, t):
            self.detail = (f"impedance {abs(v) * 1000 // max(aamp, 1)} ohm below "
                           f"{lim.short_ohm} ohm")
            return FaultCode.SHORT_CIRCUIT
        # SUP-014 uncommanded current: more than commanded (or against the commanded
        # polarity), beyond the tracking tolerance, debounced; judged in every enabled state
        # and at compliance too (the load can only limit a current, never raise it).
        # Pulsed: judged on the amplitude, so the floor is not diluted by the duty; but one
        # whole uA of the sensed average is 1000 / duty uA of amplitude, which the floor must
        # allow (10 uA at 50 % read 6 uA on average, one LSB of noise, looked like 12 uA).
        floor = max(self.tracking_floor_ua, -(-1000 // duty_permille)) if command else \
            self.tracking_floor_ua  # at a zero command the reading itself is judged
        over = uncommanded(amp, command, floor, lim.tracking_tolerance_permille)
        if self.over.update(over, t):
            self.detail = (f"measured {amp} uA, commanded {command} uA" if not pulsed else
                           f"measured {amp} uA amplitude ({i} uA average), commanded {command} uA")
            return FaultCode.UNCOMMANDED_CURRENT
        # SUP-015 the output does not settle: commanded zero, yet more than the zero tolerance
        # flows, continuously for settle_ms.
        unsettled = expected == 0 and ai > self.zero_tolerance_ua
        if self.unsettled.update(unsettled, t):
            self.detail = (f"{i} uA still flowing with the command at zero (for "
                           f"{self.unsettled.acc_ms} ms of the last {self.unsettled.span_ms(t)} ms)")
            return FaultCode.UNSETTLED
        # SUP-005 contact: open load = at compliance with a very high impedance, judged from
        # the sense current up. A sample below it is no evidence either way: it does not
        # show the condition (a single lifted sample before a ramp-down or a gap must not
        # grow into a contact loss there), and the next ramp finds a lift that remains.
        judged = abs(command) >= lim.contact_sense_ua
        open_now = judged and comp and impedance_above(v, amp, lim.contact_open_ohm)
        self.contact_open = self.contact.update(open_now, t)
        # SUP-007 compliance-limited: at compliance, contact judged present, current short of
        # the command. Below the sense current a lift looks the same: a hold there would keep
        # the command from ever reaching the sense current, and the lift from being found.
        self.compliance_limited = (judged and comp and not open_now
                                   and short_of(ai, abs(expected), self.tracking_floor_ua,
                                                lim.compliance_short_permille))
        # SUP-002 tracking (short of the command), not judged at compliance (the load
        # limits the current there).
        off_track = not comp and not over and tracking_error(i, expected, self.tracking_floor_ua,
                                                 lim.tracking_tolerance_permille)
        # at compliance below the sense current: a lift, or a load of compliance / sense
        # (6 MOhm) and more, open by any measure; not treatment either way (DOSE-001)
        self.off_command = over or unsettled or off_track or open_now or (comp and not judged)
        if self.tracking.update(off_track, t):
            self.detail = f"measured {i} uA, expected {expected} uA"
            return FaultCode.TRACKING
        off = over or off_track
        if self.off.update(off, t):
            self.detail = (f"measured {i} uA, expected {expected} uA; off the command, above or "
                           f"below, on {self.off.acc_ms} ms of the last {self.off.span_ms(t)} ms")
            return FaultCode.TRACKING
        # SUP-003 stuck sensor: bit-identical readings while the command moves (not at
        # compliance, where the load, not the command, sets the current), or, with a sensor
        # whose noise must change the reading (device setting sensor_frozen_ms), for that
        # long at any non-zero command.
        if i == self._last_i and v == self._last_v:
            if not comp:
                self.stuck_ms += dt
                self.stuck_moved_ua += abs(command - self._stuck_cmd)
                self._stuck_cmd = command
                if self.stuck_ms >= lim.stuck_ms and self.stuck_moved_ua >= lim.stuck_move_ua:
                    self.detail = (f"reading {i} uA / {v} mV unchanged for {self.stuck_ms} ms "
                                   f"while the command moved {self.stuck_moved_ua} uA")
                    return FaultCode.SENSOR_STUCK
            if command != 0 and self.frozen_limit_ms:
                self.frozen_ms += dt
                if self.frozen_ms >= self.frozen_limit_ms:
                    self.detail = (f"reading {i} uA / {v} mV bit-identical for {self.frozen_ms} "
                                   f"ms at a command of {command} uA (a live sensor's noise "
                                   f"changes it within {self.frozen_limit_ms} ms)")
                    return FaultCode.SENSOR_STUCK
            else:
                self.frozen_ms = 0
        else:
            self._last_i, self._last_v, self._stuck_cmd = i, v, command
            if self.stuck_ms:
                self.stuck_ms = self.stuck_moved_ua = 0
            self.frozen_ms = 0
        # SUP-018 impedance trend: a sudden fall at a steady command, on the pulse amplitude.
        # Reset while the compliance voltage limits the current (the load sets it there). A
        # sample whose current does not follow the command (beyond the tracking tolerance: a
        # sagging supply, an open stage) says nothing about the load: skipped, neither judged
        # nor a reference, and the steady command is kept.
        steady = steady and not self.compliance_limited
        trend = self.trend
        if steady and self.off_command:
            pass
        elif (steady or trend.command is not None) and trend.update(t, amp, v, cmd, steady):
            self.detail = trend.detail
            return FaultCode.IMPEDANCE_FALL
        return None
