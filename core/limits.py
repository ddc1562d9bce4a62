"""Device limits (set by the maker, frozen) and the layered current limit.

The effective limit is the minimum of every layer: the device maximum, the family's
maximum (core/envelope.py), the prescription maximum and the current-density limit times
the smaller electrode's contact area. The independent over-current trip sits above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .envelope import FAMILY_SLOTS, FamilyLimits
from .envelope import render_spec as render_envelope
from .errors import Checker

WAVEFORMS = frozenset({"dc", "pulsed"})


DEVICE_RANGES: dict[str, tuple[int, int, str, str]] = {
    "max_current_ua": (1, 100_000, "uA", "largest set-point the device will ever command"),
    "trip_ua": (1, 200_000, "uA", "independent over-current trip of the device; latches a fault; "
                "above max_current_ua"),
    "compliance_mv": (1_000, 200_000, "mV", "highest voltage the current source can drive"),
    "max_slew_ua_per_s": (1, 100_000, "uA/s", "fastest allowed change of the set-point"),
    "max_session_ms": (1_000, 14_400_000, "ms", "longest session, including any dose-driven "
                       "extension"),
    "min_reversal_session_ms": (0, 14_400_000, "ms", "shortest session for which a reversal at "
                                "half time is allowed"),
    "pulse_hz_min": (1, 100_000, "Hz", "lowest pulse frequency of pulsed DC"),
    "pulse_hz_max": (1, 100_000, "Hz", "highest pulse frequency of pulsed DC"),
    "duty_permille_min": (1, 1000, "permille", "lowest duty cycle of pulsed DC"),
    "duty_permille_max": (1, 1000, "permille", "highest duty cycle of pulsed DC"),
    "dead_time_ms": (1, 60_000, "ms", "time the command must sit at zero before the polarity "
                     "may change"),
    "zero_tolerance_ua": (0, 1_000, "uA", "measured current at or below this counts as zero"),
    "sensor_max_ua": (1, 1_000_000, "uA", "range of the current sensor; beyond it a reading is "
                      "implausible; above trip_ua"),
    "sensor_max_mv": (1, 1_000_000, "mV", "range of the voltage sensor; above compliance_mv"),
    "sensor_frozen_ms": (0, 60_000, "ms", "the sensor's noise changes a reading within this "
                         "time: current and voltage bit-identical this long at a non-zero "
                         "command is a stuck sensor (SUP-003); 0 for a sensor without such "
                         "noise (then only a moving command reveals it)"),
    "supply_min_mv": (0, 200_000, "mV", "lowest supply voltage (battery or adapter) at which the "
                      "output stage still drives max_current_ua at compliance_mv, as the maker "
                      "measured it; the HAL reports the supply in Sample.supply_mv (SUP-019, "
                      "SUP-020); 0: the supply is not monitored (mains powered, or not reported)"),
    "supply_max_mv": (1, 1_000_000, "mV", "range of the supply sensor: a reading above it is "
                      "implausible (SUP-019); above supply_min_mv"),
}
"""Every integer device limit: allowed range (inclusive), unit and meaning. The validator and
specs/limits.md both read this table."""


@dataclass(frozen=True)
class DeviceLimits:
    """What the output stage can and may do. Set by the device maker; validated on creation.
    Integer fields are described in DEVICE_RANGES (and specs/limits.md)."""

    max_current_ua: int = 30_000
    trip_ua: int = 35_000
    compliance_mv: int = 60_000
    max_slew_ua_per_s: int = 2_000
    max_session_ms: int = 2_400_000
    reversal_allowed: bool = True
    """Whether the device may reverse polarity within a session."""
    min_reversal_session_ms: int = 600_000
    waveforms: frozenset[str] = field(default_factory=lambda: WAVEFORMS)
    """Supported waveforms: 'dc' and/or 'pulsed'."""
    pulse_hz_min: int = 100
    pulse_hz_max: int = 20_000
    duty_permille_min: int = 100
    duty_permille_max: int = 900
    dead_time_ms: int = 500
    zero_tolerance_ua: int = 20
    sensor_max_ua: int = 60_000
    sensor_max_mv: int = 120_000
    sensor_frozen_ms: int = 1_000
    supply_min_mv: int = 0
    supply_max_mv: int = 60_000
    tap_water: FamilyLimits = field(default_factory=lambda: FamilyLimits.default("tap-water"))
    """The clinical envelope of each family (core/envelope.py): current, density, electrode
    rating and charge density, each at most its sourced ceiling."""
    drug: FamilyLimits = field(default_factory=lambda: FamilyLimits.default("drug"))
    research: FamilyLimits = field(default_factory=lambda: FamilyLimits.default("research"))

    def family_limits(self, family: str) -> FamilyLimits:
        """The envelope of `family` on this device (KeyError for an unknown family)."""
        return getattr(self, FAMILY_SLOTS[family])  # type: ignore[no-any-return]

    def __post_init__(self) -> None:
        c = Checker("device limits")
        for name, (lo, hi, unit, _) in DEVICE_RANGES.items():
            c.int_range(name, getattr(self, name), lo, hi, unit)
        bad = {p.field for p in c.problems}
        if not bad & {"trip_ua", "max_current_ua"}:
            c.check(self.trip_ua > self.max_current_ua, "trip_ua", self.trip_ua,
                    f"above max_current_ua ({self.max_current_ua} uA)")
        if not bad & {"sensor_max_ua", "trip_ua"}:
            c.check(self.sensor_max_ua > self.trip_ua, "sensor_max_ua", self.sensor_max_ua,
                    f"above trip_ua ({self.trip_ua} uA), or a trip could not be seen")
        if not bad & {"sensor_max_mv", "compliance_mv"}:
            c.check(self.sensor_max_mv > self.compliance_mv, "sensor_max_mv", self.sensor_max_mv,
                    f"above compliance_mv ({self.compliance_mv} mV)")
        if not bad & {"supply_min_mv", "supply_max_mv"}:
            c.check(self.supply_max_mv > self.supply_min_mv, "supply_max_mv", self.supply_max_mv,
                    f"above supply_min_mv ({self.supply_min_mv} mV)")
        if not bad & {"pulse_hz_min", "pulse_hz_max"}:
            c.check(self.pulse_hz_min <= self.pulse_hz_max, "pulse_hz_max", self.pulse_hz_max,
                    f"at least pulse_hz_min ({self.pulse_hz_min} Hz)")
        if not bad & {"duty_permille_min", "duty_permille_max"}:
            c.check(self.duty_permille_min <= self.duty_permille_max, "duty_permille_max",
                    self.duty_permille_max, f"at least duty_permille_min ({self.duty_permille_min})")
        c.check(type(self.reversal_allowed) is bool, "reversal_allowed", self.reversal_allowed,
                "true or false")
        c.check(isinstance(self.waveforms, frozenset) and bool(self.waveforms)
                and self.waveforms <= WAVEFORMS, "waveforms", self.waveforms,
                f"a non-empty subset of {sorted(WAVEFORMS)}")
        for family, slot in FAMILY_SLOTS.items():
            limits = getattr(self, slot)
            c.check(isinstance(limits, FamilyLimits) and limits.family == family, slot, limits,
                    f"FamilyLimits for '{family}' (FamilyLimits.default('{family}').adjusted(...))")
        c.raise_if_any()


def effective_limit_ua(device_max_ua: int, prescription_max_ua: int,
                       density_ua_per_cm2: int, area_mm2: int) -> int:
    """Layered current limit: min(device, prescription, density x area).

    A zero area means "no electrode area given": the density layer is then not used.
    Area is in mm2 (1 cm2 = 100 mm2); the density product is rounded down (safe side).

    pre: device_max_ua >= 0 and prescription_max_ua >= 0
    pre: density_ua_per_cm2 >= 0 and area_mm2 >= 0
    post: 0 <= __return__ <= device_max_ua
    post: __return__ <= prescription_max_ua
    post: area_mm2 == 0 or __return__ * 100 <= density_ua_per_cm2 * area_mm2
    """
    limit = min(device_max_ua, prescription_max_ua)
    if area_mm2 > 0:
        limit = min(limit, density_ua_per_cm2 * area_mm2 // 100)
    return limit


def trip_threshold_ua(limit_ua: int, device_trip_ua: int, margin_permille: int,
                      floor_ua: int) -> int:
    """Over-current trip for a session: `margin_permille` above the effective limit
    (at least `floor_ua` above it, so noise at microamp currents cannot trip it),
    never above the device's own trip.

    pre: limit_ua >= 0 and device_trip_ua > limit_ua
    pre: margin_permille >= 0 and floor_ua >= 1
    post: limit_ua < __return__ <= device_trip_ua
    """
    above = max(limit_ua * margin_permille // 1000, floor_ua)
    return min(limit_ua + above, device_trip_ua)


def render_spec() -> str:
    """specs/limits.md: every device and supervision limit with its default, unit and range."""
    from .supervision import SUPERVISION_RANGES, SupervisionLimits

    device, sup = DeviceLimits(), SupervisionLimits()
    lines = ["# Device and supervision limits", "",
             "Generated from `core/limits.py` and `core/supervision.py` by `ionto limits > "
             "specs/limits.md`; `tests/test_limits.py`",
             "fails when this file and the code disagree. The device maker sets these (frozen for "
             "the device's life);", "a prescription may only narrow them (specs/profile_format.md). "
             "Every value is validated when created:", "a value outside its range is rejected "
             "with the field, the value and the range, never clamped.", "",
             "## DeviceLimits", "",
             "| field | default | unit | allowed | meaning |", "|---|---|---|---|---|"]
    for name, (lo, hi, unit, doc) in DEVICE_RANGES.items():
        lines.append(f"| `{name}` | {getattr(device, name)} | {unit} | {lo} to {hi} | {doc} |")
    lines += [f"| `reversal_allowed` | {str(device.reversal_allowed).lower()} | - | true, false | "
              "whether the device may reverse polarity within a session |",
              f"| `waveforms` | {', '.join(sorted(device.waveforms))} | - | subset of dc, pulsed | "
              "supported waveforms |",
              "| `tap_water`, `drug`, `research` | see below | - | each value at most its ceiling | "
              "the clinical envelope of each family (core/envelope.py) |", ""]
    lines += render_envelope()
    lines += ["## SupervisionLimits", "",
              "| field | default | unit | allowed | meaning |", "|---|---|---|---|---|"]
    for name, (lo, hi, unit, doc) in SUPERVISION_RANGES.items():
        lines.append(f"| `{name}` | {getattr(sup, name)} | {unit} | {lo} to {hi} | {doc} |")
    lines += ["", "A tick period is accepted only if sample_deadline_ms >= 3 ticks, "
              "clock_jump_ms >= 2 ticks and impedance_window_ms >= 2 ticks (1 to 100 ms).",
              "On a device that monitors its supply (supply_min_mv > 0) the stop level, "
              "supply_min_mv raised by supply_margin_permille (rounded up), must lie below "
              "supply_max_mv.", ""]
    return "\n".join(lines)
