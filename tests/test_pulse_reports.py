"""DOSE-003: a pulse by charge is reported valid only within 1 % of its charge, at exactly
1 % still valid, one uA*ms beyond it not; a pulse by time is judged on its on-time alone.
The Plan is driven directly with the charge of each tick, as the controller counts it."""

from __future__ import annotations

import pytest

from iontocore.protocol import PULSE, Plan, Protocol, Step

CHARGE = 50_000  # uA*ms: 1 % of it is 500


def _closed(charge_uams: int, delivered: int) -> tuple[bool, str]:
    plan = Plan(Protocol((Step(PULSE, charge_uams=charge_uams),)), slew_ua_per_s=1_000,
                duty_permille=1_000, tick_ms=10)
    plan.begin(1, 0, 100)
    plan.count(delivered)
    plan.next(2, 10, 100)          # the pulse is done: its report closes at zero
    (report,) = plan.quiet(20)
    assert report.delivered_uams == delivered and report.nominal_uams == charge_uams  # type: ignore[union-attr]
    return report.valid, report.reason  # type: ignore[union-attr]


@pytest.mark.req("DOSE-003")
@pytest.mark.parametrize("delivered, valid", [
    (CHARGE, True), (CHARGE + CHARGE // 100, True), (CHARGE - CHARGE // 100, True),
    (CHARGE + CHARGE // 100 + 1, False), (CHARGE - CHARGE // 100 - 1, False)])
def test_a_charge_pulse_is_valid_within_one_percent_inclusive(delivered: int, valid: bool) -> None:
    got, reason = _closed(CHARGE, delivered)
    assert got is valid, (delivered, reason)
    assert (reason == f"delivered {delivered} of {CHARGE} uA*ms: not within 1 % (DOSE-003)") \
        is (not valid)


@pytest.mark.req("DOSE-003")
def test_a_pulse_by_time_is_not_judged_on_its_charge() -> None:
    plan = Plan(Protocol((Step(PULSE, duration_ms=1_000),)), slew_ua_per_s=1_000,
                duty_permille=1_000, tick_ms=10)
    plan.begin(1, 0, 100)
    plan.count(1)                  # far from its nominal charge
    plan.next(2, 10, 100)
    (report,) = plan.quiet(20)
    assert report.valid and report.reason == ""  # type: ignore[union-attr]
