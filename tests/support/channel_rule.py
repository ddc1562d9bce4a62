"""The multi-channel fault rule as SAFETY.md and CH-002 / CH-003 state it, restated for the
tests (never read from core/coordinator.py): a fault ends every channel when it may come from
what the channels share (supply, clock and tick, link, host, the common current source, an
operator's emergency stop); otherwise it ends its own channel only."""

from __future__ import annotations

from iontocore.faults import CATALOGUE, FaultCode

SHARED = frozenset({FaultCode.OVERCURRENT, FaultCode.UNCOMMANDED_CURRENT, FaultCode.LEAK,
                    FaultCode.SAMPLE_LOSS, FaultCode.CLOCK_BACKWARDS, FaultCode.CLOCK_JUMP,
                    FaultCode.LATE_TICKS, FaultCode.INTERNAL_ERROR, FaultCode.LINK_LOST,
                    FaultCode.DEVICE_FAULT, FaultCode.SUPPLY_LOW, FaultCode.SUPPLY_LOST,
                    FaultCode.EMERGENCY_STOP})
LOCAL = frozenset(f.code for f in CATALOGUE) - SHARED
UNTRUSTED_SENSOR = frozenset({FaultCode.SENSOR_STUCK, FaultCode.IMPLAUSIBLE_SAMPLE})
"""A channel that ended on its own sensor's fault: its readings say nothing (no leak watch)."""
