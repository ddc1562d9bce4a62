"""Every way a Prescription is refused, at each rule's boundary: the boundary itself is
accepted, one step past it is refused with exactly the listed problems, each naming the field,
the value and what is allowed (the limit, with the other setting's value and unit). Rules
that involve a field already found bad are skipped (`target-str`, `ramp-none`: nothing is
reported twice, no rule trips over a wrong type). The expected problems are the catalogue a
clinician or researcher reads; each was reviewed against the rules in SAFETY.md, specs/limits.md
and specs/profile_format.md, not read from the code under test."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from iontocore import DeviceLimits, Prescription
from iontocore.errors import InvalidSettings
from iontocore.protocol import PULSE, Protocol, Step

TW: dict[str, Any] = dict(name="tw", family="tap-water", target_ua=10_000, ramp_ms=30_000,
                          duration_ms=1_200_000, site="palms")
DRUG: dict[str, Any] = dict(name="dex", family="drug", target_ua=4_000, ramp_ms=30_000,
                            duration_ms=1_200_000, dose_uams=2_400_000_000,
                            electrode_max_uams=4_800_000_000, area_mm2=1_000, return_area_mm2=2_000)
RES: dict[str, Any] = dict(name="ach", family="research", target_ua=100, ramp_ms=100,
                           area_mm2=100, return_area_mm2=400, pulse_count=1, pulse_on_ms=1_000)
D = DeviceLimits()
P1 = Protocol((Step(PULSE, duration_ms=1_000),))

Row = tuple[dict[str, Any], dict[str, Any], dict[str, Any], DeviceLimits | None,
            list[tuple[str, object, str]]]
# name: (base, accepted changes, refused changes, the device (None: on its own), the problems)
CASES: dict[str, Row] = {
    # --- each field on its own
    "name-64": (TW, {"name": "a" * 64}, {"name": "a" * 65}, None, [
        ('name', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '1 to 64 letters, digits and dashes')]),
    "name-empty": (TW, {"name": "a-1"}, {"name": ""}, None, [
        ('name', '', '1 to 64 letters, digits and dashes')]),
    "name-underscore": (TW, {"name": "A-9"}, {"name": "a_b"}, None, [
        ('name', 'a_b', '1 to 64 letters, digits and dashes')]),
    "name-not-ascii": (TW, {"name": "e"}, {"name": "\u00e9"}, None, [
        ('name', 'é', '1 to 64 letters, digits and dashes')]),
    "name-not-str": (TW, {"name": "x"}, {"name": 5}, None, [
        ('name', 5, '1 to 64 letters, digits and dashes')]),
    "family": (TW, {}, {"family": "tapwater"}, None, [
        ('family', 'tapwater', "one of ['tap-water', 'drug', 'research']")]),
    "target-low": (TW, {"target_ua": 1, "ramp_ms": 1_000, "probe_ua": 1}, {"target_ua": 0, "ramp_ms": 1_000, "probe_ua": 1}, None, [
        ('target_ua', 0, 'an integer from 1 to 100000 uA')]),
    "target-high": (TW, {"target_ua": 24_000}, {"target_ua": 100_001}, None, [
        ('target_ua', 100001, 'an integer from 1 to 100000 uA')]),
    "target-bool": (TW, {}, {"target_ua": True}, None, [
        ('target_ua', True, 'an integer from 1 to 100000 uA')]),
    "target-str": (TW, {}, {"target_ua": "10000", "max_ua": 5, "min_ua": 20_000, "step_ua": 30_000, "probe_ua": 1_000}, D, [
        ('target_ua', '10000', 'an integer from 1 to 100000 uA')]),
    "ramp-high": (RES, {"ramp_ms": 600_000}, {"ramp_ms": 600_001}, None, [
        ('ramp_ms', 600001, 'an integer from 1 to 600000 ms')]),
    "ramp-none": (TW, {}, {"ramp_ms": None}, D, [
        ('ramp_ms', None, 'an integer from 1 to 600000 ms')]),
    "max-pause": (TW, {"max_pause_ms": 1_000}, {"max_pause_ms": 999}, None, [
        ('max_pause_ms', 999, 'an integer from 1000 to 3600000 ms')]),
    "paused-total": (TW, {"max_paused_total_ms": 1_000}, {"max_paused_total_ms": 999}, None, [
        ('max_paused_total_ms', 999, 'an integer from 1000 to 14400000 ms')]),
    "probe-range": (RES, {"probe_ua": 1}, {"probe_ua": 0}, None, [
        ('probe_ua', 0, 'an integer from 1 to 1000 uA')]),
    "max-pauses": (TW, {"max_pauses": 1_000}, {"max_pauses": 1_001}, None, [
        ('max_pauses', 1001, 'an integer from 0 to 1000')]),
    "contact-stable": (TW, {"contact_stable_ms": 60_000}, {"contact_stable_ms": 60_001}, None, [
        ('contact_stable_ms', 60001, 'an integer from 0 to 60000 ms')]),
    "electrode-a": (TW, {"electrode_a": "cathode"}, {"electrode_a": "anodes"}, None, [
        ('electrode_a', 'anodes', "'anode' or 'cathode'")]),
    "reverse-int": (TW, {"reverse_at_half": False}, {"reverse_at_half": 1}, None, [
        ('reverse_at_half', 1, 'true or false')]),
    "waveform": (TW, {"waveform": "dc"}, {"waveform": "ac"}, None, [
        ('waveform', 'ac', "one of ['dc', 'pulsed']")]),
    "description": (TW, {"description": "hands"}, {"description": 5}, None, [
        ('description', 5, 'a string')]),
    "site-unknown": (TW, {"site": "soles"}, {"site": "moon"}, None, [
        ('site', 'moon', "one of ['palms', 'soles', 'underarms', 'child-hands'] (or not given)")]),
    # --- relations
    "max-at-least-target": (TW, {"max_ua": 10_000}, {"max_ua": 9_999}, None, [
        ('max_ua', 9999, "at least the target (10000 uA), or 0 for 'the target'")]),
    "min-at-most-target": (TW, {"min_ua": 10_000}, {"min_ua": 10_001}, None, [
        ('min_ua', 10001, 'at most the target (10000 uA)')]),
    "step-at-most-ceiling": (TW, {"max_ua": 20_000, "min_ua": 1_000, "step_ua": 20_000},
    {"max_ua": 20_000, "min_ua": 1_000, "step_ua": 20_001}, None, [
        ('step_ua', 20001, 'at most the ceiling (20000 uA)')]),
    "step-at-most-target-without-min": (TW, {"max_ua": 20_000, "step_ua": 10_000},
    {"max_ua": 20_000, "step_ua": 10_001}, None, [
        ('step_ua', 10001, 'at most the target (10000 uA) when no minimum is given: the floor is then one step')]),
    "probe-at-most-target": (RES, {"probe_ua": 100}, {"probe_ua": 101}, None, [
        ('probe_ua', 101, 'at most the target (100 uA)')]),
    "pulsed-needs-hz": (TW, {"waveform": "pulsed", "pulse_hz": 1, "duty_permille": 500},
    {"waveform": "pulsed", "pulse_hz": 0, "duty_permille": 500}, None, [
        ('pulse_hz', 0, '> 0 for a pulsed waveform')]),
    "pulsed-duty-below-1000": (TW, {"waveform": "pulsed", "pulse_hz": 1_000, "duty_permille": 999},
    {"waveform": "pulsed", "pulse_hz": 1_000, "duty_permille": 1_000}, None, [
        ('duty_permille', 1000, 'below 1000 for a pulsed waveform')]),
    "dc-no-hz": (TW, {"pulse_hz": 0}, {"pulse_hz": 1}, None, [
        ('pulse_hz', 1, '0 for DC')]),
    "dc-full-duty": (TW, {"duty_permille": 1_000}, {"duty_permille": 999}, None, [
        ('duty_permille', 999, '1000 for DC')]),
    "own-density-target": (TW, {"max_density_ua_per_cm2": 84}, {"max_density_ua_per_cm2": 83}, None, [
        ('target_ua', 10000, 'at most density x smaller electrode = 83 uA/cm2 x 12000 mm2 = 9960 uA (the peak current)')]),
    "own-density-ceiling": (TW, {"max_ua": 12_000, "max_density_ua_per_cm2": 100},
    {"max_ua": 12_001, "max_density_ua_per_cm2": 100}, None, [
        ('max_ua', 12001, 'at most density x smaller electrode = 100 uA/cm2 x 12000 mm2 = 12000 uA (the peak current)')]),
    "own-density-smaller-electrode": (DRUG, {"max_density_ua_per_cm2": 400},
    {"max_density_ua_per_cm2": 399}, None, [
        ('target_ua', 4000, 'at most density x smaller electrode = 399 uA/cm2 x 1000 mm2 = 3990 uA (the peak current)')]),
    "tw-no-pulse-on": (TW, {}, {"pulse_on_ms": 1}, None, [
        ('pulse_on_ms', 1, '0 for tap-water')]),
    "tw-no-pulse-gap": (TW, {}, {"pulse_gap_ms": 1}, None, [
        ('pulse_gap_ms', 1, '0 for tap-water')]),
    "tw-no-charge-ceiling": (TW, {}, {"max_charge_uams": 1}, None, [
        ('max_charge_uams', 1, '0 for tap-water')]),
    "tw-no-charge-density": (TW, {}, {"max_charge_density_uams_per_cm2": 1}, None, [
        ('max_charge_density_uams_per_cm2', 1, '0 for tap-water')]),
    "tw-no-protocol": (TW, {}, {"protocol": P1}, None, [
        ('protocol', '(given)', 'none for tap-water')]),
    "drug-no-protocol": (DRUG, {}, {"protocol": P1}, None, [
        ('protocol', '(given)', 'none for drug')]),
    "drug-no-pulse-on": (DRUG, {}, {"pulse_on_ms": 1}, None, [
        ('pulse_on_ms', 1, '0 for drug')]),
    "tw-duration": (TW, {"duration_ms": 10_000}, {"duration_ms": 9_999}, None, [
        ('duration_ms', 9999, '>= 10000 ms: a tap-water session ends by time')]),
    "tw-no-dose": (TW, {}, {"dose_uams": 1}, None, [
        ('dose_uams', 1, '0 for tap-water (ends by time)')]),
    "tw-no-pulse-count": (TW, {}, {"pulse_count": 1}, None, [
        ('pulse_count', 1, '0 for tap-water')]),
    "tw-no-electrode-rating": (TW, {}, {"electrode_max_uams": 1}, None, [
        ('electrode_max_uams', 1, '0 for tap-water (no dose)')]),
    "drug-dose": (DRUG, {"dose_uams": 1}, {"dose_uams": 0}, None, [
        ('dose_uams', 0, '> 0: a drug session ends by dose'),
        ('electrode_max_uams', 4800000000, 'given and at least dose_uams (0 uA*ms)')]),
    "drug-rating-covers-dose": (DRUG, {"electrode_max_uams": 2_400_000_000},
    {"electrode_max_uams": 2_399_999_999}, None, [
        ('electrode_max_uams', 2399999999, 'given and at least dose_uams (2400000000 uA*ms)')]),
    "drug-duration": (DRUG, {"duration_ms": 10_000}, {"duration_ms": 9_999}, None, [
        ('duration_ms', 9999, '>= 10000 ms: the longest time allowed to reach the dose')]),
    "drug-no-reversal": (DRUG, {"reverse_at_half": False}, {"reverse_at_half": True}, None, [
        ('reverse_at_half', True, "false: the drug electrode's polarity is fixed by the drug's charge")]),
    "drug-no-pulse-count": (DRUG, {}, {"pulse_count": 1}, None, [
        ('pulse_count', 1, '0 for drug')]),
    "res-pulse-count": (RES, {"pulse_count": 1}, {"pulse_count": 0}, None, [
        ('pulse_count', 0, '>= 1 for research pulses (or a [protocol])')]),
    "res-pulse-on": (RES, {"pulse_on_ms": 1_000}, {"pulse_on_ms": 999}, None, [
        ('pulse_on_ms', 999, '>= 1000 ms')]),
    "res-gap-between-pulses": (RES, {"pulse_count": 2, "pulse_gap_ms": 1_000},
    {"pulse_count": 2, "pulse_gap_ms": 999}, None, [
        ('pulse_gap_ms', 999, '>= 1000 ms between pulses')]),
    "res-no-gap-after-one": (RES, {"pulse_gap_ms": 0}, {"pulse_gap_ms": 1_000}, None, [
        ('pulse_gap_ms', 1000, '0 for a single pulse (no gap follows it)')]),
    "res-protocol-no-count": (RES, {"protocol": P1, "pulse_count": 0, "pulse_on_ms": 0},
    {"protocol": P1, "pulse_count": 1, "pulse_on_ms": 0}, None, [
        ('pulse_count', 1, '0 with a [protocol] (the protocol gives the pulses)')]),
    "res-protocol-no-on": (RES, {"protocol": P1, "pulse_count": 0, "pulse_on_ms": 0},
    {"protocol": P1, "pulse_count": 0, "pulse_on_ms": 1_000}, None, [
        ('pulse_on_ms', 1000, '0 with a [protocol] (the protocol gives the pulses)')]),
    "res-protocol-no-gap": (RES, {"protocol": P1, "pulse_count": 0, "pulse_on_ms": 0},
    {"protocol": P1, "pulse_count": 0, "pulse_on_ms": 0, "pulse_gap_ms": 1}, None, [
        ('pulse_gap_ms', 1, '0 with a [protocol] (the protocol gives the pulses)')]),
    "res-protocol-type": (RES, {"protocol": P1, "pulse_count": 0, "pulse_on_ms": 0},
    {"protocol": "pulse", "pulse_count": 0, "pulse_on_ms": 0}, D, [
        ('protocol', 'pulse', 'a Protocol')]),
    "res-protocol-own-problems": (RES, {"protocol": Protocol((Step(PULSE, duration_ms=1_000, current_ua=100),)), "pulse_count": 0, "pulse_on_ms": 0},
    {"protocol": Protocol((Step(PULSE, duration_ms=1_000, current_ua=101),)), "pulse_count": 0, "pulse_on_ms": 0}, D, [
        ('protocol.step[1].current_ua', 101, 'at most the ceiling (100 uA)')]),
    "res-short-form-steps": (RES, {"pulse_count": 500, "pulse_gap_ms": 1_000},
                             {"pulse_count": 501, "pulse_gap_ms": 1_000}, None, [
        ('pulse_count', 501, 'at most 500: the pulses and the gaps between them are at most 1000 steps (RX-011)')]),
    "res-duration": (RES, {"duration_ms": 0}, {"duration_ms": 1}, None, [
        ('duration_ms', 1, '0 for research (the pulse train sets the time)')]),
    "res-no-reversal": (RES, {}, {"reverse_at_half": True}, None, [
        ('reverse_at_half', True, 'false for research pulses')]),
    "res-no-dose": (RES, {}, {"dose_uams": 1}, None, [
        ('dose_uams', 1, '0 for research')]),
    "res-no-rating": (RES, {}, {"electrode_max_uams": 1}, None, [
        ('electrode_max_uams', 1, '0 for research')]),
    # --- areas
    "tw-needs-site": (TW, {"site": "underarms"}, {"site": ""}, None, [
        ('site', '(not given)', "one of ['palms', 'soles', 'underarms', 'child-hands']: the site sets the contact area the density limit is judged on")]),
    "tw-area-narrows": (TW, {"area_mm2": 12_000}, {"area_mm2": 12_001}, None, [
        ('area_mm2', 12001, "at most the assumed contact area of 'palms' (12000 mm2): an area may only narrow it")]),
    "tw-no-return-area": (TW, {}, {"return_area_mm2": 1}, None, [
        ('return_area_mm2', 1, '0 for tap-water (both electrodes touch the site)')]),
    "drug-no-site": (DRUG, {}, {"site": "palms"}, None, [
        ('site', 'palms', 'not given for drug (state the electrode areas)')]),
    "drug-area": (DRUG, {"area_mm2": 1}, {"area_mm2": 0}, None, [
        ('area_mm2', '(not given)', "> 0: a drug prescription states its electrode's area (ENV-003)")]),
    "drug-return-area": (DRUG, {"return_area_mm2": 1}, {"return_area_mm2": 0}, None, [
        ('return_area_mm2', '(not given)', "> 0: a drug prescription states the other electrode's area too; the density is judged on the smaller (ENV-003)")]),
    "res-no-site": (RES, {}, {"site": "soles"}, None, [
        ('site', 'soles', 'not given for research (state the electrode areas)')]),
    "res-area": (RES, {"area_mm2": 20}, {"area_mm2": 0}, None, [
        ('area_mm2', '(not given)', "> 0: a research prescription states its electrode's area (ENV-003)")]),
    "res-return-area": (RES, {"return_area_mm2": 20}, {"return_area_mm2": 0}, None, [
        ('return_area_mm2', '(not given)', "> 0: a research prescription states the other electrode's area too; the density is judged on the smaller (ENV-003)")]),
    # --- clinical ramp
    "tw-ramp-1s": (TW, {"ramp_ms": 1_000}, {"ramp_ms": 999}, None, [
        ('ramp_ms', 999, ">= 1000 ms for tap-water (a soft start and stop); only research ramps are bounded by the device's slew alone")]),
    "drug-ramp-1s": (DRUG, {"ramp_ms": 1_000}, {"ramp_ms": 999}, None, [
        ('ramp_ms', 999, ">= 1000 ms for drug (a soft start and stop); only research ramps are bounded by the device's slew alone")]),
    "res-ramp-1ms": (RES, {"ramp_ms": 1}, {"ramp_ms": 0}, None, [
        ('ramp_ms', 0, 'an integer from 1 to 600000 ms')]),
    # --- the device
    "device-max-current": (dict(TW, site="soles"), {"target_ua": 30_000}, {"target_ua": 30_001}, D, [
        ('target_ua', 30001, 'at most the device maximum 30000 uA'),
        ('target_ua', 30001, 'at most 30000 uA for tap-water (device tap_water.max_current_ua)'),
        ('target_ua', 30001, 'at most 200 uA/cm2 (device tap_water.max_density_ua_per_cm2) x 15000 mm2 (the smaller electrode) = 30000 uA, judged at the peak current')]),
    "device-max-current-ceiling": (dict(TW, site="soles"), {"max_ua": 30_000}, {"max_ua": 30_001}, D, [
        ('max_ua', 30001, 'at most the device maximum 30000 uA'),
        ('max_ua', 30001, 'at most 30000 uA for tap-water (device tap_water.max_current_ua)'),
        ('max_ua', 30001, 'at most 200 uA/cm2 (device tap_water.max_density_ua_per_cm2) x 15000 mm2 (the smaller electrode) = 30000 uA, judged at the peak current')]),
    "device-slew": (TW, {"ramp_ms": 4_998}, {"ramp_ms": 4_997}, D, [
        ('ramp_ms', 4997, 'at least 4998 ms for 10000 uA (device max slew 2000 uA/s)')]),
    "device-session": (TW, {"duration_ms": 2_400_000}, {"duration_ms": 2_400_001}, D, [
        ('duration_ms', 2400001, 'a session of at most 2400000 ms (device limit); planned 2400001 ms')]),
    "device-session-research": (dict(RES, area_mm2=4_000, return_area_mm2=4_000), {"pulse_count": 500, "pulse_on_ms": 3_802, "pulse_gap_ms": 1_000},
    {"pulse_count": 500, "pulse_on_ms": 3_803, "pulse_gap_ms": 1_000}, D, [
        ('pulse_count', 500, 'a session of at most 2400000 ms (device limit); planned 2400500 ms')]),
    "device-reversal-time": (TW, {"reverse_at_half": True, "duration_ms": 600_000},
    {"reverse_at_half": True, "duration_ms": 599_999}, D, [
        ('duration_ms', 599999, 'at least 600000 ms for a reversal at half time (device minimum)')]),
    "device-reversal-allowed": (TW, {"duration_ms": 600_000},
    {"reverse_at_half": True, "duration_ms": 600_000}, replace(D, reversal_allowed=False), [
        ('reverse_at_half', True, 'false: this device does not allow polarity reversal')]),
    "device-waveforms": (TW, {}, {"waveform": "pulsed", "pulse_hz": 1_000, "duty_permille": 500},
    replace(D, waveforms=frozenset({"dc"})), [
        ('waveform', 'pulsed', "one of the device's waveforms ['dc']")]),
    "device-hz-min": (TW, {"waveform": "pulsed", "pulse_hz": 100, "duty_permille": 500},
    {"waveform": "pulsed", "pulse_hz": 99, "duty_permille": 500}, D, [
        ('pulse_hz', 99, '100 to 20000 Hz (device)')]),
    "device-hz-max": (TW, {"waveform": "pulsed", "pulse_hz": 20_000, "duty_permille": 500},
    {"waveform": "pulsed", "pulse_hz": 20_001, "duty_permille": 500}, D, [
        ('pulse_hz', 20001, '100 to 20000 Hz (device)')]),
    "device-duty-min": (TW, {"waveform": "pulsed", "pulse_hz": 1_000, "duty_permille": 100},
    {"waveform": "pulsed", "pulse_hz": 1_000, "duty_permille": 99}, D, [
        ('duty_permille', 99, '100 to 900 permille (device)')]),
    "device-duty-max": (TW, {"waveform": "pulsed", "pulse_hz": 1_000, "duty_permille": 900},
    {"waveform": "pulsed", "pulse_hz": 1_000, "duty_permille": 901}, D, [
        ('duty_permille', 901, '100 to 900 permille (device)')]),
    # --- the family envelope on the device
    "env-drug-current": (DRUG, {"target_ua": 4_000}, {"target_ua": 4_001}, D, [
        ('target_ua', 4001, 'at most 4000 uA for drug (device drug.max_current_ua)')]),
    "env-drug-current-ceiling": (dict(DRUG, target_ua=3_000), {"max_ua": 4_000}, {"max_ua": 4_001}, D, [
        ('max_ua', 4001, 'at most 4000 uA for drug (device drug.max_current_ua)')]),
    "env-own-density-at-most-family": (TW, {"max_density_ua_per_cm2": 200}, {"max_density_ua_per_cm2": 201}, D, [
        ('max_density_ua_per_cm2', 201, 'at most 200 uA/cm2 for tap-water (device tap_water.max_density_ua_per_cm2)')]),
    "env-density-cap": (TW, {"target_ua": 24_000}, {"target_ua": 24_001}, D, [
        ('target_ua', 24001, 'at most 200 uA/cm2 (device tap_water.max_density_ua_per_cm2) x 12000 mm2 (the smaller electrode) = 24000 uA, judged at the peak current')]),
    "env-density-cap-smaller-electrode": (dict(DRUG, area_mm2=2_000, return_area_mm2=800), {}, {"return_area_mm2": 799}, D, [
        ('target_ua', 4000, 'at most 500 uA/cm2 (device drug.max_density_ua_per_cm2) x 799 mm2 (the smaller electrode) = 3995 uA, judged at the peak current')]),
    "env-density-cap-narrowed-site": (TW, {"area_mm2": 5_000}, {"area_mm2": 4_999}, D, [
        ('target_ua', 10000, 'at most 200 uA/cm2 (device tap_water.max_density_ua_per_cm2) x 4999 mm2 (the smaller electrode) = 9998 uA, judged at the peak current')]),
    "env-electrode-rating": (DRUG, {"electrode_max_uams": 4_800_000_000}, {"electrode_max_uams": 4_800_000_001}, D, [
        ('electrode_max_uams', 4800000001, 'at most 4800000000 uA*ms (device drug.max_electrode_rating_uams)')]),
    "env-charge-density": (RES, {"max_charge_density_uams_per_cm2": 6_000_000}, {"max_charge_density_uams_per_cm2": 6_000_001}, D, [
        ('max_charge_density_uams_per_cm2', 6000001, 'at most 6000000 uA*ms/cm2 (device research.max_charge_density_uams_per_cm2): a session ceiling may only narrow it')]),
    "env-charge-ceiling": (RES, {"max_charge_uams": 6_000_000}, {"max_charge_uams": 6_000_001}, D, [
        ('max_charge_uams', 6000001, 'at most 6000000 uA*ms = 6000000 uA*ms/cm2 (device research.max_charge_density_uams_per_cm2) x 100 mm2: a session ceiling may only narrow it')]),
    "env-planned-charge": (RES, {"max_charge_uams": 120_000}, {"max_charge_uams": 119_999}, D, [
        ('pulse_count', 1, "a protocol of at most 119999 uA*ms, the session charge ceiling (the prescription's max_charge_uams, below 6000000 uA*ms by density); planned up to 120000 uA*ms (ramps at the ceiling included)")]),
    "env-planned-charge-density": (RES, {"max_charge_density_uams_per_cm2": 120_000}, {"max_charge_density_uams_per_cm2": 119_999}, D, [
        ('pulse_count', 1, "a protocol of at most 119999 uA*ms, the session charge ceiling (119999 uA*ms/cm2, the prescription's max_charge_density_uams_per_cm2, x 100 mm2, the smaller electrode); planned up to 120000 uA*ms (ramps at the ceiling included)")]),
    "env-planned-charge-family-density": (
        dict(RES, target_ua=1, ramp_ms=1, probe_ua=1, area_mm2=1, return_area_mm2=1,
             pulse_count=59, pulse_gap_ms=1_000, max_charge_density_uams_per_cm2=6_000_000),
        {}, {"pulse_count": 60}, D, [
        ('pulse_count', 60, 'a protocol of at most 60000 uA*ms, the session charge ceiling (6000000 uA*ms/cm2, device research.max_charge_density_uams_per_cm2, x 1 mm2, the smaller electrode); planned up to 60120 uA*ms (ramps at the ceiling included)')]),
    # a charge pulse: its charge and one ramp at the ceiling, rounded up (100 uA x 33.3 % x
    # 78 ms = 2597.4 uA*ms: 2598)
    "env-planned-charge-pulse": (
        dict(RES, ramp_ms=77, waveform="pulsed", pulse_hz=1_000, duty_permille=333,
             pulse_count=0, pulse_on_ms=0, protocol=Protocol((Step(PULSE, charge_uams=100_000),))),
        {"max_charge_uams": 102_598}, {"max_charge_uams": 102_597}, D, [
        ('protocol.step', 1, "a protocol of at most 102597 uA*ms, the session charge ceiling (the prescription's max_charge_uams, below 6000000 uA*ms by density); planned up to 102598 uA*ms (ramps at the ceiling included)")]),
    # the prescription's own ceiling equal to the density's is the density's
    "env-own-ceiling-equal-to-density": (
        dict(RES, target_ua=1, ramp_ms=1, probe_ua=1, area_mm2=1, return_area_mm2=1,
             pulse_count=59, pulse_gap_ms=1_000, max_charge_uams=60_000),
        {}, {"pulse_count": 60}, D, [
        ('pulse_count', 60, 'a protocol of at most 60000 uA*ms, the session charge ceiling (6000000 uA*ms/cm2, device research.max_charge_density_uams_per_cm2, x 1 mm2, the smaller electrode); planned up to 60120 uA*ms (ramps at the ceiling included)')]),
    # --- a field already found bad skips the device rules that involve it
    "reverse-int-on-a-device-without-reversal": (TW, {}, {"reverse_at_half": 1},
                                                 replace(D, reversal_allowed=False), [
        ('reverse_at_half', 1, 'true or false')]),
    "rating-out-of-range-on-the-device": (DRUG, {}, {"electrode_max_uams": 10**12 + 1}, D, [
        ('electrode_max_uams', 1000000000001, 'an integer from 0 to 1000000000000 uA*ms')]),
    "env-research-current": (dict(RES, area_mm2=500, return_area_mm2=500, ramp_ms=1_000), {"target_ua": 500}, {"target_ua": 501}, D, [
        ('target_ua', 501, 'at most 500 uA for research (device research.max_current_ua)'),
        ('target_ua', 501, 'at most 100 uA/cm2 (device research.max_density_ua_per_cm2) x 500 mm2 (the smaller electrode) = 500 uA, judged at the peak current')]),
    "env-research-density": (RES, {"target_ua": 100}, {"target_ua": 101}, D, [
        ('target_ua', 101, 'at most 100 uA/cm2 (device research.max_density_ua_per_cm2) x 100 mm2 (the smaller electrode) = 100 uA, judged at the peak current')]),
}


def _problems(fields: dict[str, Any], device: DeviceLimits | None,
              clinical: bool = True) -> list[tuple[str, object, str]]:
    return [(p.field, p.value, p.allowed)
            for p in Prescription.draft(**fields).problems(device, clinical_minimums=clinical)]


@pytest.mark.req("RX-001", "RX-002", "RX-008", "ENV-001", "ENV-002", "ENV-003", "ENV-004", "ENV-005")
@pytest.mark.parametrize("name", CASES)
def test_the_boundary_is_accepted_and_one_past_it_refused(name: str) -> None:
    base, accepted, refused, device, expected = CASES[name]
    assert _problems({**base, **accepted}, device) == []
    assert _problems({**base, **refused}, device) == expected


@pytest.mark.req("RX-001", "RX-002")
@pytest.mark.parametrize("name", [n for n, row in CASES.items() if row[3] is None])
def test_a_prescription_refused_on_its_own_is_never_made(name: str) -> None:
    base, accepted, refused, _, expected = CASES[name]
    assert Prescription(**{**base, **accepted}).problems() == []
    with pytest.raises(InvalidSettings) as info:
        Prescription(**{**base, **refused})
    assert [(p.field, p.value, p.allowed) for p in info.value.problems] == expected
    assert str(info.value).startswith(f"invalid prescription '{({**base, **refused})['name']}': ")


@pytest.mark.req("RX-002", "ENV-002", "ENV-004", "ENV-005")
@pytest.mark.parametrize("name", [n for n, row in CASES.items() if row[3] is not None
                                  and not _problems({**row[0], **row[2]}, None)])
def test_check_against_lists_what_the_device_refuses(name: str) -> None:
    """A prescription valid on its own, refused by the device: check_against names the same
    problems (in a context that says 'on this device') and nothing else."""
    base, _, refused, device, expected = CASES[name]
    assert device is not None
    rx = Prescription(**{**base, **refused})
    with pytest.raises(InvalidSettings) as info:
        rx.check_against(device)
    assert [(p.field, p.value, p.allowed) for p in info.value.problems] == expected
    assert str(info.value).startswith(f"invalid prescription '{rx.name}' on this device: ")


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("field, accepted, refused, allowed", [
    ("max_pause_ms", 1, 0, "an integer from 1 to 3600000 ms"),
    ("max_paused_total_ms", 1, 0, "an integer from 1 to 14400000 ms"),
    ("duration_ms", 1, 0, ">= 1 ms: a tap-water session ends by time"),
])
def test_without_clinical_minimums_only_what_the_controller_relies_on_remains(
        field: str, accepted: int, refused: int, allowed: str) -> None:
    """`clinical_minimums=False` (a maker's bench test) lowers the clinical minimums to 1 and
    lets a tap-water ramp be as short as the device's slew allows; everything else stays."""
    assert _problems({**TW, field: accepted, "ramp_ms": 1}, None, clinical=False) == []
    assert _problems({**TW, field: refused, "ramp_ms": 1}, None, clinical=False) == [
        (field, refused, allowed)]
    assert _problems({**TW, field: accepted}, None) != []  # the clinical minimum holds by default


FIELDS = ["name", "family", "target_ua", "ramp_ms", "duration_ms", "max_ua", "min_ua", "step_ua",
          "electrode_a", "reverse_at_half", "waveform", "pulse_hz", "duty_permille", "area_mm2",
          "return_area_mm2", "site", "max_density_ua_per_cm2", "dose_uams", "electrode_max_uams",
          "pulse_count", "pulse_on_ms", "pulse_gap_ms", "max_charge_uams",
          "max_charge_density_uams_per_cm2", "max_pause_ms", "contact_stable_ms", "probe_ua",
          "max_pauses", "max_paused_total_ms", "description"]
BASES = {"tap-water": {**TW, "reverse_at_half": True},
         "pulsed": {**TW, "waveform": "pulsed", "pulse_hz": 1_000, "duty_permille": 500,
                    "max_ua": 12_000, "min_ua": 1_000, "step_ua": 1_000,
                    "max_density_ua_per_cm2": 150},
         "drug": DRUG, "drug-own-density": {**DRUG, "max_density_ua_per_cm2": 400},
         "research": {**RES, "pulse_count": 2, "pulse_gap_ms": 1_000},
         "protocol": {**RES, "pulse_count": 0, "pulse_on_ms": 0, "protocol": P1,
                      "max_charge_uams": 1_000_000, "max_charge_density_uams_per_cm2": 2_000_000}}


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("kind", ["scalar", "list", "dict", "none"])
@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("field", FIELDS)
def test_a_value_of_the_wrong_type_is_its_only_problem(base: str, field: str, kind: str) -> None:
    """Every rule that involves a field already found bad is skipped, on the device too: the
    wrong value is reported once, nothing trips over it, nothing else is blamed. Of every
    kind a draft or a profile can hold: a scalar of the other type, a list, a table (dict;
    unhashable: a membership test in a dict or a set must not raise on it), None."""
    assert _problems(BASES[base], D) == []
    scalar = 1.5 if field in ("name", "family", "electrode_a", "waveform", "site",
                              "description", "reverse_at_half") else "1"
    value = {"scalar": scalar, "list": [scalar], "dict": {"a": scalar}, "none": None}[kind]
    found = _problems({**BASES[base], field: value}, D)
    assert [(f, v) for f, v, _ in found] == [(field, value)], found


@pytest.mark.req("RX-001")
def test_every_problem_is_listed_at_once() -> None:
    """Three independent problems, three entries, in the order the rules are stated."""
    fields = {**TW, "name": "a b", "min_ua": 10_001, "pulse_on_ms": 5}
    assert _problems(fields, None) == [
        ("name", "a b", "1 to 64 letters, digits and dashes"),
        ("min_ua", 10_001, "at most the target (10000 uA)"),
        ("pulse_on_ms", 5, "0 for tap-water")]


@pytest.mark.req("RX-001")
def test_a_draft_without_its_required_fields_names_each_as_not_given() -> None:
    """A draft takes the defaults of the fields it is not given, and None for a field without
    one: each missing required field is one problem with the value None."""
    assert _problems({"name": "x"}, None) == [
        ("family", None, "one of ['tap-water', 'drug', 'research']"),
        ("target_ua", None, "an integer from 1 to 100000 uA"),
        ("ramp_ms", None, "an integer from 1 to 600000 ms")]
