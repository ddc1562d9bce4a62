"""Device and supervision limits: validated from one table each, documented in
specs/limits.md (RX-001)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iontocore import DeviceLimits, InvalidSettings, SupervisionLimits
from iontocore.limits import DEVICE_RANGES, render_spec
from iontocore.supervision import SUPERVISION_RANGES

SPEC = Path(__file__).resolve().parents[1] / "specs" / "limits.md"


@pytest.mark.req("RX-001")
def test_limits_spec_matches_the_code() -> None:
    assert SPEC.read_text("utf-8") == render_spec(), "specs/limits.md is stale: ionto limits > specs/limits.md"


def _rejects(cls: type, field: str, value: object) -> str:
    with pytest.raises(InvalidSettings) as info:
        cls(**{field: value})
    problem = next(p for p in info.value.problems if p.field == field)
    return str(problem)


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("cls, table", [(DeviceLimits, DEVICE_RANGES),
                                        (SupervisionLimits, SUPERVISION_RANGES)],
                         ids=["device", "supervision"])
def test_every_range_is_enforced_with_its_unit(cls: type, table: dict[str, tuple[int, int, str, str]]) -> None:
    for field, (lo, hi, unit, _) in table.items():
        for bad in (lo - 1, hi + 1, float(lo), True, None):
            message = _rejects(cls, field, bad)
            assert f"an integer from {lo} to {hi} {unit}" in message, message


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("kw, field, allowed", [
    ({"max_current_ua": 40_000}, "trip_ua", "above max_current_ua (40000 uA)"),
    ({"trip_ua": 70_000}, "sensor_max_ua", "above trip_ua (70000 uA)"),
    ({"compliance_mv": 130_000}, "sensor_max_mv", "above compliance_mv (130000 mV)"),
    ({"pulse_hz_min": 30_000}, "pulse_hz_max", "at least pulse_hz_min (30000 Hz)"),
    ({"duty_permille_min": 950}, "duty_permille_max", "at least duty_permille_min (950)"),
    ({"reversal_allowed": 1}, "reversal_allowed", "true or false"),
    ({"waveforms": frozenset({"sine"})}, "waveforms", "a non-empty subset"),
    ({"waveforms": frozenset()}, "waveforms", "a non-empty subset"),
])
def test_device_cross_checks(kw: dict[str, object], field: str, allowed: str) -> None:
    with pytest.raises(InvalidSettings) as info:
        DeviceLimits(**kw)  # type: ignore[arg-type]
    assert [(p.field, allowed in p.allowed) for p in info.value.problems] == [(field, True)]


def test_defaults_are_valid_and_boundaries_accepted() -> None:
    assert DeviceLimits() and SupervisionLimits()
    assert DeviceLimits(zero_tolerance_ua=0, dead_time_ms=1)
    assert SupervisionLimits(trip_margin_permille=0, late_bucket_limit=10, contact_open_ohm=1_000)


@pytest.mark.req("RX-001")
def test_tick_period_must_fit_the_deadlines() -> None:
    with pytest.raises(InvalidSettings, match="at most a third of sample_deadline_ms"):
        SupervisionLimits().check_tick(34)
    with pytest.raises(InvalidSettings, match="at most half of clock_jump_ms"):
        SupervisionLimits(sample_deadline_ms=300, clock_jump_ms=100).check_tick(60)
    SupervisionLimits().check_tick(33)
    with pytest.raises(InvalidSettings, match="an integer from 1 to 100 ms"):
        SupervisionLimits().check_tick(0)
