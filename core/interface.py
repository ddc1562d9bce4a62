"""The values that cross the core boundary: one Sample in, one Command out, per tick.

Integer units only: microamps (uA), millivolts (mV), milliseconds (ms).
Both are immutable NamedTuples (cheap to build on the hot path).
"""

from __future__ import annotations

from typing import NamedTuple


class Sample(NamedTuple):
    """What the HAL measured at one instant.

    t_ms:       monotonic time of the measurement, from the HAL's clock (ms).
    current_ua: measured output current, signed: + flows from electrode A to B (uA).
                In pulsed mode the average over the tick, as a sense filter gives it.
    voltage_mv: measured output voltage, signed like the current (mV).
    relay:      polarity the output relay reports (+1 A->B, -1 B->A, 0 open), or None
                when the backend has no relay feedback.
    supply_mv:  the output stage's supply voltage (battery or adapter, mV), or None when
                the backend does not report it (mains-powered devices: the default, and
                what a four-field sample means). Judged only when the device limits set
                `supply_min_mv` (SUP-019, SUP-020).
    """

    t_ms: int
    current_ua: int
    voltage_mv: int
    relay: int | None = None
    supply_mv: int | None = None


class Command(NamedTuple):
    """What the controller asks of the output stage for the next tick.

    setpoint_ua:   signed current set-point (uA); the sign is the polarity.
    enabled:       False means output off (relay open, source disabled).
    duty_permille: pulse duty for pulsed DC (1000 = plain DC); the set-point is the
                   pulse amplitude, the average current is setpoint * duty / 1000.
    """

    setpoint_ua: int
    enabled: bool
    duty_permille: int = 1000


OFF = Command(0, False)
"""The safe command: output disabled, zero set-point."""
