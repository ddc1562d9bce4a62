"""`ionto validate`'s margins (core/margins.py) judged by what a clinician reads in them.

ORACLE RULE: nothing is read from margins() to judge margins(). The quantities and their units
per family are written here from the envelope's specification (specs/envelope.md); each
limit must equal the setting its `source` names, looked up by that name on the device or the
prescription; values are whole numbers, densities rounded up (a margin never looks larger
than it is); and a narrower setting is named only when it is strictly narrower (at a tie the
broader, standing setting is named)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given

from iontocore import DeviceLimits, Prescription, profiles
from iontocore.envelope import FAMILY_SLOTS
from iontocore.margins import Margin, margins

from strategies import DEVICE, prescriptions

UNITS = {"current (peak)": "uA", "density (peak, over {area} mm2)": "uA/cm2", "slew": "uA/s",
         "planned session": "ms", "dose": "uA*ms", "electrode rating": "uA*ms",
         "charge density (plan bound, over {area} mm2)": "uA*ms/cm2"}
COMMON = ["current (peak)", "density (peak, over {area} mm2)", "slew", "planned session"]
BY_FAMILY = {"tap-water": COMMON, "drug": COMMON + ["dose", "electrode rating"],
             "research": COMMON + ["charge density (plan bound, over {area} mm2)"]}


def setting(source: str, rx: Prescription, device: DeviceLimits) -> int:
    """The value of the setting `source` names (KeyError when it names none)."""
    slot = FAMILY_SLOTS[rx.family]
    fam = device.family_limits(rx.family)
    if m := re.fullmatch(rf"device {slot}\.(\w+)", source):
        return int(getattr(fam, m[1]))
    if m := re.fullmatch(r"device (\w+)", source):
        return int(getattr(device, m[1]))
    if source == "prescription electrode_max (the electrode's rating)":
        return rx.electrode_max_uams
    if m := re.fullmatch(rf"prescription max_density \(device {slot}\.max_density_ua_per_cm2 "
                         r"(\d+)\)", source):
        assert int(m[1]) == fam.max_density_ua_per_cm2, source
        assert rx.max_density_ua_per_cm2 < fam.max_density_ua_per_cm2, "named only if narrower"
        return rx.max_density_ua_per_cm2
    if m := re.fullmatch(r"prescription charge\.max / charge\.max_density \(device research\."
                         r"max_charge_density_uams_per_cm2 (\d+)\)", source):
        assert rx.family == "research" and int(m[1]) == fam.max_charge_density_uams_per_cm2
        assert rx.max_charge_uams or rx.max_charge_density_uams_per_cm2, source
        return -1  # the prescription's own bound: judged by the caller (strictly narrower)
    raise KeyError(source)


def check(rx: Prescription, device: DeviceLimits) -> list[Margin]:
    got = margins(rx, device)
    area = rx.contact_area_mm2
    assert [m.quantity for m in got] == [q.format(area=area) for q in BY_FAMILY[rx.family]]
    fam = device.family_limits(rx.family)
    for m, q in zip(got, BY_FAMILY[rx.family]):
        assert m.unit == UNITS[q], m
        assert type(m.value) is int and type(m.limit) is int, m
        named = setting(m.source, rx, device)
        if named >= 0:
            assert m.limit == named, m
        else:
            assert m.limit < fam.max_charge_density_uams_per_cm2, m
    peak, density = got[0], got[1]
    assert peak.value == rx.ceiling_ua
    assert peak.limit == min(fam.max_current_ua, device.max_current_ua)
    # the family's own cap is named at a tie with the device's
    assert peak.source == (f"device {FAMILY_SLOTS[rx.family]}.max_current_ua"
                           if fam.max_current_ua <= device.max_current_ua else "device max_current_ua")
    assert (density.value - 1) * area < rx.ceiling_ua * 100 <= density.value * area  # rounded up
    assert got[2].value == rx.slew_ua_per_s and got[3].value == rx.planned_ms
    if rx.family == "drug":
        assert (got[4].value, got[5].value) == (rx.dose_uams, rx.electrode_max_uams)
    return got


@pytest.mark.parametrize("name", profiles.builtin_names())
def test_every_built_in_profile_s_margins_name_real_settings(name: str) -> None:
    check(profiles.load(name), DeviceLimits())


@given(prescriptions())
def test_any_prescription_s_margins_name_the_settings_that_hold_their_limits(rx: Prescription) -> None:
    check(rx, DEVICE)


@pytest.mark.parametrize("device_ua, family_ua, source", [
    (4_000, 4_000, "device tap_water.max_current_ua"),   # a tie: the family's cap is named
    (3_000, 4_000, "device max_current_ua"),
    (4_000, 3_000, "device tap_water.max_current_ua")])
def test_the_current_cap_is_named_where_it_comes_from(device_ua: int, family_ua: int,
                                                        source: str) -> None:
    base = DeviceLimits()
    device = replace(base, max_current_ua=device_ua,
                     tap_water=base.tap_water.adjusted(max_current_ua=family_ua))
    rx = replace(profiles.load("hyperhidrosis-palms"), target_ua=2_000, max_ua=0)
    assert check(rx, device)[0].source == source


def test_a_prescription_s_own_density_is_named_only_when_narrower() -> None:
    base = profiles.load("hyperhidrosis-palms")
    fam = DeviceLimits().tap_water.max_density_ua_per_cm2
    own = check(replace(base, max_density_ua_per_cm2=fam - 1), DeviceLimits())[1]
    assert own.source.startswith("prescription max_density") and own.limit == fam - 1
    assert check(base, DeviceLimits())[1].source == "device tap_water.max_density_ua_per_cm2"


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_research_plan_names_its_own_charge_bound_only_when_narrower(which: int) -> None:
    rx = profiles.load("acetylcholine-protocol")
    fam = DEVICE.family_limits("research")
    device_cap = fam.max_charge_density_uams_per_cm2 * rx.contact_area_mm2 // 100
    own = [0, device_cap, device_cap // 2][which]  # none, a tie, narrower
    rx = replace(rx, max_charge_uams=own)
    got = check(rx, DEVICE)[-1]
    assert got.source.startswith("prescription") is (which == 2), got
