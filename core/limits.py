"""Device limits (set by the maker, frozen) and the layered current limit.

The effective limit is the minimum of every layer: the device maximum, the
prescription maximum and, where an electrode area is known, the current-density
limit times the area. The independent over-current trip sits above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Checker

WAVEFORMS = frozenset({"dc", "pulsed"})


@dataclass(frozen=True)
class DeviceLimits:
    """What the output stage can and may do. Set by the device maker; validated on creation.

    All values are integers in the unit their name ends with.
    """

    max_current_ua: int = 30_000
    """Largest set-point the device will ever command (uA)."""
    trip_ua: int = 35_000
    """Independent over-current trip of the device (uA); latches a fault."""
    compliance_mv: int = 60_000
    """Highest voltage the current source can drive (mV)."""
    max_slew_ua_per_s: int = 2_000
    """Fastest allowed change of the set-point (uA per second)."""
    max_session_ms: int = 2_400_000
    """Longest session the device allows, including any dose-driven extension (ms)."""
    reversal_allowed: bool = True
    """Whether the device may reverse polarity within a session."""
    min_reversal_session_ms: int = 600_000
    """Shortest session for which a reversal at half time is allowed (ms)."""
    waveforms: frozenset[str] = field(default_factory=lambda: WAVEFORMS)
    """Supported waveforms: 'dc' and/or 'pulsed'."""
    pulse_hz_min: int = 100
    pulse_hz_max: int = 20_000
    duty_permille_min: int = 100
    duty_permille_max: int = 900
    max_density_ua_per_cm2: int = 2_000
    """Highest current density any prescription may ask for (uA/cm2; IEC 60601-2-10)."""
    dead_time_ms: int = 500
    """Time the command must sit at zero before the polarity may change (ms)."""
    zero_tolerance_ua: int = 20
    """Measured current at or below this counts as zero (uA)."""
    sensor_max_ua: int = 60_000
    """Range of the current sensor; a reading beyond it is implausible (uA)."""
    sensor_max_mv: int = 120_000
    """Range of the voltage sensor; a reading beyond it is implausible (mV)."""

    def __post_init__(self) -> None:
        c = Checker("device limits")
        c.int_range("max_current_ua", self.max_current_ua, 1, 100_000, "uA")
        if c.int_range("trip_ua", self.trip_ua, 1, 200_000, "uA"):
            c.check(self.trip_ua > self.max_current_ua, "trip_ua", self.trip_ua,
                    f"above max_current_ua ({self.max_current_ua} uA)")
        c.int_range("compliance_mv", self.compliance_mv, 1_000, 200_000, "mV")
        c.int_range("max_slew_ua_per_s", self.max_slew_ua_per_s, 1, 100_000, "uA/s")
        c.int_range("max_session_ms", self.max_session_ms, 1_000, 14_400_000, "ms")
        c.check(type(self.reversal_allowed) is bool, "reversal_allowed", self.reversal_allowed,
                "true or false")
        c.int_range("min_reversal_session_ms", self.min_reversal_session_ms, 0, 14_400_000, "ms")
        c.check(isinstance(self.waveforms, frozenset) and bool(self.waveforms)
                and self.waveforms <= WAVEFORMS, "waveforms", self.waveforms,
                f"a non-empty subset of {sorted(WAVEFORMS)}")
        c.int_range("pulse_hz_min", self.pulse_hz_min, 1, 100_000, "Hz")
        c.int_range("pulse_hz_max", self.pulse_hz_max, 1, 100_000, "Hz")
        c.int_range("duty_permille_min", self.duty_permille_min, 1, 1000, "permille")
        c.int_range("duty_permille_max", self.duty_permille_max, 1, 1000, "permille")
        c.int_range("max_density_ua_per_cm2", self.max_density_ua_per_cm2, 1, 10_000, "uA/cm2")
        c.int_range("dead_time_ms", self.dead_time_ms, 1, 60_000, "ms")
        c.int_range("zero_tolerance_ua", self.zero_tolerance_ua, 0, 1_000, "uA")
        if c.int_range("sensor_max_ua", self.sensor_max_ua, 1, 1_000_000, "uA"):
            c.check(self.sensor_max_ua > self.trip_ua, "sensor_max_ua", self.sensor_max_ua,
                    f"above trip_ua ({self.trip_ua} uA), or a trip could not be seen")
        if c.int_range("sensor_max_mv", self.sensor_max_mv, 1, 1_000_000, "mV"):
            c.check(self.sensor_max_mv > self.compliance_mv, "sensor_max_mv", self.sensor_max_mv,
                    f"above compliance_mv ({self.compliance_mv} mV)")
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
