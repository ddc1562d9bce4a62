"""The cross-field rules of the device and supervision limits, at their boundaries: the
boundary itself is accepted, one step past it is refused with exactly one problem naming
the field, the value and the limit (with the other setting's value and unit). Written from
the rules as specs/limits.md states them; nothing is read from the code under test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from iontocore import Controller, DeviceLimits, Prescription
from iontocore.coordinator import ChannelLimits, Coordinator
from iontocore.envelope import FamilyLimits
from iontocore.errors import InvalidSettings
from iontocore.supervision import SupervisionLimits

S = SupervisionLimits(impedance_window_ms=2_000, sample_deadline_ms=90, clock_jump_ms=80,
                      supply_margin_permille=100)
D = DeviceLimits(max_current_ua=30_000, trip_ua=35_000, sensor_max_ua=60_000,
                 compliance_mv=60_000, sensor_max_mv=120_000, supply_min_mv=0,
                 supply_max_mv=60_000, pulse_hz_min=100, pulse_hz_max=20_000,
                 duty_permille_min=100, duty_permille_max=900)

RX = Prescription(name="ch", family="research", target_ua=100, ramp_ms=100, area_mm2=100,
                  return_area_mm2=400, pulse_count=1, pulse_on_ms=1_000)


def channels(n: int, tick_ms: int = 10, same: bool = False) -> list[Controller]:
    """n controllers of 100 uA each (`same`: one controller n times; the last on `tick_ms`)."""
    one = Controller(RX, D, S, tick_ms=10)
    out = [one if same else Controller(RX, D, S, tick_ms=10) for _ in range(n - 1)]
    return out + [one if same and n > 1 else Controller(RX, D, S, tick_ms=tick_ms)]


Case = tuple[Callable[[], object], Callable[[], object], str, tuple[str, object, str]]

CASES: dict[str, Case] = {
    # (accepted at the boundary, refused one past it, context, the one problem)
    "horizon at least the window": (
        lambda: replace(S, impedance_horizon_ms=2_000),
        lambda: replace(S, impedance_horizon_ms=1_999),
        "supervision limits", ("impedance_horizon_ms", 1_999, "at least impedance_window_ms (2000 ms)")),
    "tick a third of the sample deadline": (
        lambda: S.check_tick(30), lambda: S.check_tick(31),
        "tick period", ("tick_ms", 31, "at most a third of sample_deadline_ms (90 ms)")),
    "tick half the clock jump": (
        lambda: replace(S, sample_deadline_ms=300).check_tick(40),
        lambda: replace(S, sample_deadline_ms=300).check_tick(41),
        "tick period", ("tick_ms", 41, "at most half of clock_jump_ms (80 ms)")),
    "tick half the impedance window": (
        lambda: replace(S, sample_deadline_ms=300, clock_jump_ms=300, impedance_window_ms=100,
                        impedance_horizon_ms=100).check_tick(50),
        lambda: replace(S, sample_deadline_ms=300, clock_jump_ms=300, impedance_window_ms=100,
                        impedance_horizon_ms=100).check_tick(51),
        "tick period", ("tick_ms", 51, "at most half of impedance_window_ms (100 ms)")),
    "supply stop level below the sensor's top": (  # 10 % above 50000 mV is 55000 mV
        lambda: S.check_supply(50_000, 55_001), lambda: S.check_supply(50_000, 55_000),
        "supply monitor", ("supply_margin_permille", 100, "a stop level (supply_min_mv 50000 mV "
                           "raised by it: 55000 mV) below supply_max_mv (55000 mV)")),
    "supply stop level rounded up": (  # 10 % above 50001 mV is 55001.1 mV: 55002 mV
        lambda: S.check_supply(50_001, 55_003), lambda: S.check_supply(50_001, 55_002),
        "supply monitor", ("supply_margin_permille", 100, "a stop level (supply_min_mv 50001 mV "
                           "raised by it: 55002 mV) below supply_max_mv (55002 mV)")),
    "trip above the maximum": (
        lambda: replace(D, trip_ua=30_001), lambda: replace(D, trip_ua=30_000),
        "device limits", ("trip_ua", 30_000, "above max_current_ua (30000 uA)")),
    "sensor above the trip": (
        lambda: replace(D, sensor_max_ua=35_001), lambda: replace(D, sensor_max_ua=35_000),
        "device limits", ("sensor_max_ua", 35_000, "above trip_ua (35000 uA), or a trip could "
                          "not be seen")),
    "voltage sensor above compliance": (
        lambda: replace(D, sensor_max_mv=60_001), lambda: replace(D, sensor_max_mv=60_000),
        "device limits", ("sensor_max_mv", 60_000, "above compliance_mv (60000 mV)")),
    "supply sensor above the minimum": (
        lambda: replace(D, supply_min_mv=59_999), lambda: replace(D, supply_min_mv=60_000),
        "device limits", ("supply_max_mv", 60_000, "above supply_min_mv (60000 mV)")),
    "pulse range ordered": (
        lambda: replace(D, pulse_hz_max=100), lambda: replace(D, pulse_hz_max=99),
        "device limits", ("pulse_hz_max", 99, "at least pulse_hz_min (100 Hz)")),
    "duty range ordered": (
        lambda: replace(D, duty_permille_max=100), lambda: replace(D, duty_permille_max=99),
        "device limits", ("duty_permille_max", 99, "at least duty_permille_min (100)")),
    "reversal a bool": (
        lambda: replace(D, reversal_allowed=False), lambda: replace(D, reversal_allowed=0),
        "device limits", ("reversal_allowed", 0, "true or false")),
    "waveforms known": (
        lambda: replace(D, waveforms=frozenset({"dc"})),
        lambda: replace(D, waveforms=frozenset({"dc", "sine"})),
        "device limits", ("waveforms", frozenset({"dc", "sine"}),
                          "a non-empty subset of ['dc', 'pulsed']")),
    "waveforms not empty": (
        lambda: replace(D, waveforms=frozenset({"pulsed"})),
        lambda: replace(D, waveforms=frozenset()),
        "device limits", ("waveforms", frozenset(), "a non-empty subset of ['dc', 'pulsed']")),
    "a family's limits in its own slot": (
        lambda: replace(D, drug=FamilyLimits.default("drug")),
        lambda: replace(D, drug=FamilyLimits.default("research")),
        "device limits", ("drug", FamilyLimits.default("research"), "FamilyLimits for 'drug' "
                          "(FamilyLimits.default('drug').adjusted(...))")),
    "a known family": (
        lambda: FamilyLimits.default("drug"), lambda: FamilyLimits.default("homeopathy"),
        "device limits", ("family", "homeopathy", "one of ['tap-water', 'drug', 'research']")),
    "channel total at least 1 uA": (
        lambda: ChannelLimits(total_max_ua=1, total_trip_ua=1),
        lambda: ChannelLimits(total_max_ua=0, total_trip_ua=1),
        "channel limits", ("total_max_ua", 0, "an integer from 1 to 1000000 uA")),
    "channel total at most 1 A": (
        lambda: ChannelLimits(total_max_ua=1_000_000, total_trip_ua=1_000_000),
        lambda: ChannelLimits(total_max_ua=1_000_001, total_trip_ua=2_000_000),
        "channel limits", ("total_max_ua", 1_000_001, "an integer from 1 to 1000000 uA")),
    "channel trip at least the total": (
        lambda: ChannelLimits(total_max_ua=500, total_trip_ua=500),
        lambda: ChannelLimits(total_max_ua=500, total_trip_ua=499),
        "channel limits", ("total_trip_ua", 499, "an integer from 500 to 2000000 uA")),
    "channel trip at most 2 A": (
        lambda: ChannelLimits(total_max_ua=500, total_trip_ua=2_000_000),
        lambda: ChannelLimits(total_max_ua=500, total_trip_ua=2_000_001),
        "channel limits", ("total_trip_ua", 2_000_001, "an integer from 500 to 2000000 uA")),
    "at most 16 channels": (
        lambda: Coordinator(channels(16), ChannelLimits(1_600, 1_600)),
        lambda: Coordinator(channels(17), ChannelLimits(1_700, 1_700)),
        "channels", ("channels", 17, "from 1 to 16 controllers")),
    "at least one channel": (
        lambda: Coordinator(channels(1), ChannelLimits(100, 100)),
        lambda: Coordinator([], ChannelLimits(100, 100)),
        "channels", ("channels", 0, "from 1 to 16 controllers")),
    "one controller per channel": (
        lambda: Coordinator(channels(2), ChannelLimits(200, 200)),
        lambda: Coordinator(channels(2, same=True), ChannelLimits(200, 200)),
        "channels", ("channels", 2, "distinct controllers (one per channel)")),
    "one tick for all channels": (
        lambda: Coordinator(channels(2, tick_ms=10), ChannelLimits(200, 200)),
        lambda: Coordinator(channels(2, tick_ms=20), ChannelLimits(200, 200)),
        "channels", ("tick_ms", [10, 20], "the same tick on every channel")),
    "the channels' limits within the total": (
        lambda: Coordinator(channels(2), ChannelLimits(200, 200)),
        lambda: Coordinator(channels(2), ChannelLimits(199, 199)),
        "channels", ("effective limits (sum)", 200, "at most total_max_ua (199 uA); "
                     "channel 1: 100 uA, channel 2: 100 uA")),
}


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("case", list(CASES))
def test_a_cross_field_rule_accepts_its_boundary_and_refuses_one_past_it(case: str) -> None:
    accept, refuse, context, problem = CASES[case]
    accept()
    with pytest.raises(InvalidSettings) as info:
        refuse()
    assert info.value.context == context
    assert [(p.field, p.value, p.allowed) for p in info.value.problems] == [problem]
    assert str(info.value).startswith(f"invalid {context}: {problem[0]} = ")


def test_a_prescription_s_refusal_names_the_prescription() -> None:
    with pytest.raises(InvalidSettings) as info:
        Prescription(name="palms-x", family="tap-water", target_ua=0, ramp_ms=30_000,
                     duration_ms=600_000, site="palms")
    assert info.value.context == "prescription 'palms-x'"
    rx = Prescription(name="palms-y", family="tap-water", target_ua=10_000, ramp_ms=30_000,
                      duration_ms=600_000, site="palms")
    with pytest.raises(InvalidSettings) as info:
        rx.check_against(replace(D, max_current_ua=5_000, trip_ua=6_000))
    assert info.value.context == "prescription 'palms-y' on this device"
