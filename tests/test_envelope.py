"""The clinical envelope (ENV-001 to ENV-007): per-family current, density over the smaller
electrode at the peak, contact areas, electrode rating, research charge density, the maker's
adjustments and `ionto validate`'s margins.

ORACLE RULE: what is allowed is computed here from the sourced numbers (restated below from
specs/limits.md, which a test holds equal to the code's tables) and the prescription's
fields, never from Prescription's derived properties or the controller.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sessions
from invariants import SITE_AREA_MM2
from iontocore import Controller, DeviceLimits, InvalidSettings, Prescription, Sample, profiles
from iontocore.envelope import ENVELOPE, SITES, FamilyLimits
from strategies import prescriptions

ROOT = Path(__file__).resolve().parents[1]
DEVICE = DeviceLimits(min_reversal_session_ms=10_000)  # the strategies' device

# The sourced defaults, restated (specs/limits.md): current uA, density uA/cm2, rating uA*ms,
# research charge density uA*ms/cm2.
CURRENT = {"tap-water": 30_000, "drug": 4_000, "research": 500}
DENSITY = {"tap-water": 200, "drug": 500, "research": 100}
RATING = 80 * 60_000_000
CHARGE_PER_CM2 = 6_000_000
CEILINGS = {"tap-water": (30_000, 500), "drug": (4_000, 500), "research": (1_000, 500)}


def area_of(rx: Prescription) -> int:
    """The contact area, from the prescription's fields and the sites' sourced areas."""
    if rx.family == "tap-water":
        site = SITE_AREA_MM2[rx.site]
        return min(site, rx.area_mm2) if rx.area_mm2 else site
    return min(rx.area_mm2, rx.return_area_mm2)


def plan_bound(rx: Prescription) -> int:
    """research: every pulse at the ceiling for its on-time plus a full ramp up and down
    (the ramp at the prescription's slew, target / ramp time), at the average when pulsed."""
    ceiling = rx.max_ua or rx.target_ua
    slew = max(1, rx.target_ua * 1000 // rx.ramp_ms)
    ramp = -(-ceiling * 1000 // slew)
    return -(-rx.pulse_count * ceiling * rx.duty_permille * (rx.pulse_on_ms + 2 * ramp) // 1000)


def inside(rx: Prescription, device: DeviceLimits) -> list[str]:
    """Every envelope rule `rx` breaks on `device` (empty: inside)."""
    fam = {"tap-water": device.tap_water, "drug": device.drug, "research": device.research}[rx.family]
    ceiling = rx.max_ua or rx.target_ua
    density = min(fam.max_density_ua_per_cm2, rx.max_density_ua_per_cm2 or 10**9)
    broken = []
    if ceiling > fam.max_current_ua:
        broken.append("current")
    if ceiling * 100 > density * area_of(rx):
        broken.append("density")
    if rx.family == "drug" and rx.electrode_max_uams > fam.max_electrode_rating_uams:
        broken.append("rating")
    if rx.family == "research" and \
            plan_bound(rx) * 100 > fam.max_charge_density_uams_per_cm2 * area_of(rx):
        broken.append("charge")
    return broken


def fields_of(exc: pytest.ExceptionInfo[InvalidSettings]) -> set[str]:
    return {p.field for p in exc.value.problems}


# ---------------------------------------------------------------- the tables

@pytest.mark.req("ENV-006")
def test_the_defaults_and_ceilings_are_the_sourced_ones() -> None:
    for family in ENVELOPE:
        fam = FamilyLimits.default(family)
        assert (fam.max_current_ua, fam.max_density_ua_per_cm2) == (CURRENT[family], DENSITY[family])
        assert (ENVELOPE[family]["max_current_ua"].ceiling,
                ENVELOPE[family]["max_density_ua_per_cm2"].ceiling) == CEILINGS[family]
        assert all(b.source for b in ENVELOPE[family].values())
    assert DeviceLimits().drug.max_electrode_rating_uams == RATING
    assert DeviceLimits().research.max_charge_density_uams_per_cm2 == CHARGE_PER_CM2
    assert {name: site.area_mm2 for name, site in SITES.items()} == SITE_AREA_MM2
    spec = (ROOT / "specs" / "limits.md").read_text("utf-8")
    for name, site in SITES.items():
        assert f"| `{name}` | {site.area_mm2 // 100} cm2" in spec and site.source in spec


@pytest.mark.req("ENV-006")
@pytest.mark.parametrize("family, field, value, shown", [
    ("drug", "max_current_ua", 4_001, "drug.max_current_ua"),
    ("tap-water", "max_density_ua_per_cm2", 501, "tap_water.max_density_ua_per_cm2"),
    ("research", "max_current_ua", 1_001, "research.max_current_ua"),
    ("research", "max_charge_density_uams_per_cm2", 6_000_001,
     "research.max_charge_density_uams_per_cm2"),
    ("drug", "max_electrode_rating_uams", RATING + 1, "drug.max_electrode_rating_uams"),
    ("tap-water", "max_electrode_rating_uams", 1, "tap_water.max_electrode_rating_uams"),
    ("drug", "max_current_ua", 0, "drug.max_current_ua"),
])
def test_a_maker_may_narrow_but_not_widen_beyond_the_ceiling(family: str, field: str, value: int,
                                                              shown: str) -> None:
    base = FamilyLimits.default(family)
    with pytest.raises(InvalidSettings) as info:
        base.adjusted(**{field: value})
    (problem,) = info.value.problems
    assert (problem.field, problem.value) == (shown, value)
    ceiling = ENVELOPE[family][field].ceiling
    assert (str(ceiling) in problem.allowed) and (ceiling == 0 or
                                                  ENVELOPE[family][field].source in problem.allowed)
    narrow = base.adjusted(max_current_ua=base.max_current_ua // 2)
    assert narrow.max_current_ua == base.max_current_ua // 2


@pytest.mark.req("ENV-006")
def test_a_family_s_limits_in_another_family_s_slot_are_rejected() -> None:
    with pytest.raises(InvalidSettings) as info:
        DeviceLimits(drug=FamilyLimits.default("tap-water"))
    assert fields_of(info) == {"drug"}


@pytest.mark.req("ENV-006")
@pytest.mark.parametrize("make", [lambda: FamilyLimits.default("saline"),
                                  lambda: FamilyLimits("saline", 1, 1, 1, 1)],
                         ids=["default", "given"])
def test_limits_for_an_unknown_family_are_rejected_naming_it(make: Any) -> None:
    with pytest.raises(InvalidSettings) as info:
        make()
    (problem,) = info.value.problems
    assert (problem.field, problem.value) == ("family", "saline")


# ---------------------------------------------------------------- prescriptions

DRUG_20MA = """name = "too-much"
family = "drug"
[current]
target_ma = 20
max_ma = 30
ramp_s = 30
[dose]
target_ma_min = 40
electrode_max_ma_min = 80
max_duration_min = 20
"""


@pytest.mark.req("ENV-001", "ENV-003")
def test_a_drug_profile_of_20_ma_without_electrodes_is_impossible_to_write() -> None:
    """The review's case: passed `ionto validate` and ran before."""
    with pytest.raises(InvalidSettings) as info:
        profiles.parse(DRUG_20MA, DeviceLimits())
    found = {p.field: p for p in info.value.problems}
    assert "4000 uA for drug" in found["current.max_ma"].allowed
    assert found["current.max_ma"].value == 30
    assert {"electrode.area_mm2", "electrode.return_area_mm2"} <= set(found)
    fixed = DRUG_20MA.replace("target_ma = 20\nmax_ma = 30", "target_ma = 4\nmax_ma = 4") \
        + "[electrode]\narea_cm2 = 10\nreturn_area_cm2 = 20\n"
    assert profiles.parse(fixed, DeviceLimits()).limit_ua(DeviceLimits()) == 4_000


def _drug(**kw: object) -> Prescription:
    base: dict[str, object] = dict(name="d", family="drug", target_ua=3_000, ramp_ms=30_000,
                                   dose_uams=2_400_000_000, electrode_max_uams=4_800_000_000,
                                   duration_ms=1_200_000, area_mm2=1_000, return_area_mm2=2_000)
    return Prescription(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.req("ENV-002")
def test_the_density_is_judged_on_the_smaller_electrode() -> None:
    # 3 mA over 10 cm2 = 0.3 mA/cm2 (drug allows 0.5); over a 5 cm2 return electrode 0.6
    _drug().check_against(DeviceLimits())
    with pytest.raises(InvalidSettings) as info:
        _drug(return_area_mm2=500).check_against(DeviceLimits())
    (problem,) = info.value.problems
    assert problem.field == "target_ua" and "500 mm2 (the smaller electrode) = 2500 uA" in problem.allowed
    assert _drug(area_mm2=800, return_area_mm2=5_000).limit_ua(DeviceLimits()) == 3_000
    assert _drug(target_ua=2_000, area_mm2=5_000, return_area_mm2=400).limit_ua(DeviceLimits()) == 2_000


@pytest.mark.req("ENV-002")
def test_a_pulsed_waveform_is_judged_at_its_peak_not_its_average() -> None:
    # 20 mA amplitude at 10 % duty is 2 mA average: the palms site (120 cm2) allows 24 mA
    # at 0.2 mA/cm2; the underarm pad (40 cm2) 8 mA, whatever the average
    pulsed = dict(name="p", family="tap-water", target_ua=20_000, ramp_ms=30_000,
                  duration_ms=600_000, waveform="pulsed", pulse_hz=1_000, duty_permille=100)
    Prescription(site="palms", **pulsed).check_against(DeviceLimits())  # type: ignore[arg-type]
    with pytest.raises(InvalidSettings) as info:
        Prescription(site="underarms", **pulsed).check_against(DeviceLimits())  # type: ignore[arg-type]
    assert fields_of(info) == {"target_ua"}
    assert "4000 mm2 (the smaller electrode) = 8000 uA, judged at the peak" in \
        info.value.problems[0].allowed


@pytest.mark.req("ENV-003")
def test_tap_water_names_its_site_and_an_area_only_narrows_it() -> None:
    tap = dict(name="t", family="tap-water", target_ua=10_000, ramp_ms=30_000, duration_ms=600_000)
    with pytest.raises(InvalidSettings) as info:
        Prescription(**tap)  # type: ignore[arg-type]
    assert fields_of(info) == {"site"}
    with pytest.raises(InvalidSettings) as info:
        Prescription(site="feet", **tap)  # type: ignore[arg-type]
    assert fields_of(info) == {"site"}
    with pytest.raises(InvalidSettings) as info:
        Prescription(site="underarms", area_mm2=5_000, **tap)  # type: ignore[arg-type]
    assert fields_of(info) == {"area_mm2"}
    with pytest.raises(InvalidSettings) as info:
        Prescription(site="palms", return_area_mm2=5_000, **tap)  # type: ignore[arg-type]
    assert fields_of(info) == {"return_area_mm2"}
    smaller = Prescription(site="palms", area_mm2=3_000, **tap)  # type: ignore[arg-type]
    assert smaller.limit_ua(DeviceLimits()) == 6_000  # 30 cm2 x 0.2 mA/cm2, below the 10 mA target
    with pytest.raises(InvalidSettings):
        smaller.check_against(DeviceLimits())
    with pytest.raises(InvalidSettings) as info:
        Prescription(name="r", family="research", target_ua=100, ramp_ms=1_000, pulse_count=1,
                     pulse_on_ms=10_000, site="palms", area_mm2=100)
    assert fields_of(info) == {"site", "return_area_mm2"}


@pytest.mark.req("ENV-004")
def test_a_drug_electrode_rating_above_the_family_s_is_rejected() -> None:
    with pytest.raises(InvalidSettings) as info:
        _drug(electrode_max_uams=RATING + 60_000_000).check_against(DeviceLimits())
    assert fields_of(info) == {"electrode_max_uams"}
    narrow = DeviceLimits(drug=FamilyLimits.default("drug").adjusted(
        max_electrode_rating_uams=2_400_000_000))
    with pytest.raises(InvalidSettings) as info:
        _drug().check_against(narrow)
    assert fields_of(info) == {"electrode_max_uams"}


def _research(**kw: object) -> Prescription:
    base: dict[str, object] = dict(name="r", family="research", target_ua=100, ramp_ms=1_000,
                                   pulse_count=1, pulse_on_ms=50_000, area_mm2=100,
                                   return_area_mm2=400, probe_ua=20)
    return Prescription(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.req("ENV-005")
def test_a_research_plan_above_the_charge_density_is_rejected() -> None:
    # 100 uA x (50 s + 2 x 1 s) = 5.2 mC over 1 cm2: inside 6 mC/cm2; 12 pulses are not
    _research().check_against(DeviceLimits())
    with pytest.raises(InvalidSettings) as info:
        _research(pulse_count=2, pulse_gap_ms=60_000).check_against(DeviceLimits())
    (problem,) = info.value.problems
    assert problem.field == "pulse_count" and "planned up to 10400000 uA*ms" in problem.allowed
    # the same train over a 2 cm2 chamber (and a larger reference) is inside
    _research(pulse_count=2, pulse_gap_ms=60_000, area_mm2=200).check_against(DeviceLimits())


@pytest.mark.req("ENV-005", "DOSE-002")
def test_a_research_session_never_passes_its_charge_ceiling_at_run_time() -> None:
    """A plan exactly at a (maker-narrowed) ceiling, and a sensor that reads 8 % high (inside
    the tracking tolerance): the counted charge would pass the ceiling; the core ends the
    session at or below it."""
    rx = _research()
    cap = plan_bound(rx)  # 5_200_000 uA*ms over 1 cm2
    device = DeviceLimits(research=FamilyLimits.default("research").adjusted(
        max_charge_density_uams_per_cm2=cap))
    ctl = Controller(rx, device, tick_ms=10)
    assert ctl.start().accepted
    t = 0
    while not ctl.finished and t < 200_000:
        t += 10
        amps = ctl.command.setpoint_ua * 1_080 // 1_000 if ctl.command.enabled else 0
        ctl.step(Sample(t, amps + (t // 10) % 2, amps * 2))  # 2 kOhm, one LSB of noise
    assert ctl.finished and ctl.delivered_uams <= cap, (ctl.delivered_uams, cap)
    assert ctl.outcome == "stopped" and "research charge ceiling" in ctl.end_reason, ctl.end_reason
    plain, _ = sessions.run(rx, device=device)  # a true sensor: the plan completes inside
    assert plain.outcome == "completed" and plain.delivered_uams <= cap


@pytest.mark.req("CTL-001", "ENV-001", "ENV-002")
def test_the_effective_limit_holds_every_layer_even_without_validation() -> None:
    """Defence in depth: the limit itself is the minimum of every layer, so a prescription
    that skipped validation (a draft) is still held to the family and the density."""
    fields = {f.name: getattr(_drug(), f.name) for f in dataclasses.fields(Prescription)}
    assert Prescription.draft(**{**fields, "target_ua": 20_000, "max_ua": 30_000}).limit_ua(
        DeviceLimits()) == 4_000  # the drug family's maximum
    assert Prescription.draft(**{**fields, "max_density_ua_per_cm2": 100}).limit_ua(
        DeviceLimits()) == 1_000  # its own 0.1 mA/cm2 x 10 cm2
    assert Prescription.draft(**{**fields, "return_area_mm2": 300}).limit_ua(
        DeviceLimits()) == 1_500  # 0.5 mA/cm2 x the 3 cm2 return electrode
    tap = Prescription.draft(name="t", family="tap-water", target_ua=20_000, ramp_ms=30_000,
                             duration_ms=600_000, site="underarms")
    assert tap.limit_ua(DeviceLimits()) == 8_000  # 0.2 mA/cm2 x the 40 cm2 pad


@pytest.mark.req("ENV-005")
def test_only_a_research_plan_has_a_charge_bound() -> None:
    assert _research().planned_charge_bound_uams() > 0
    assert _drug().planned_charge_bound_uams() == 0
    assert profiles.load("hyperhidrosis-palms").planned_charge_bound_uams() == 0


@pytest.mark.req("RX-001")
def test_an_unknown_family_is_one_problem_on_a_device_too() -> None:
    """The envelope's rules need a known family: with an unknown one they are skipped, and
    the family is the problem named."""
    fields = {f.name: getattr(_drug(), f.name) for f in dataclasses.fields(Prescription)}
    draft = Prescription.draft(**{**fields, "family": "saline"})
    assert [p.field for p in draft.problems(DeviceLimits())] == ["family"]


@pytest.mark.req("ENV-003", "ENV-004", "ENV-005", "CTL-001")
def test_the_controller_refuses_an_unvalidated_prescription_outside_the_envelope() -> None:
    """Review finding: a Prescription.draft (no validation) reached the output with no site
    (no density limit), a drug without an electrode rating, research without areas."""
    tap = Prescription.draft(name="t", family="tap-water", target_ua=20_000, ramp_ms=30_000,
                             duration_ms=600_000)
    drug = Prescription.draft(**{f.name: getattr(_drug(), f.name)
                                 for f in dataclasses.fields(Prescription)} | {"electrode_max_uams": 0})
    research = Prescription.draft(name="r", family="research", target_ua=500, ramp_ms=1_000,
                                  pulse_count=1, pulse_on_ms=10_000, probe_ua=50)
    for rx, field in ((tap, "site"), (drug, "electrode_max_uams"), (research, "area_mm2")):
        with pytest.raises(InvalidSettings) as info:
            Controller(rx, DeviceLimits(), tick_ms=10)
        assert field in fields_of(info), info.value.problems


@pytest.mark.req("ENV-005", "DOSE-002")
def test_the_probe_current_of_a_long_pause_counts_against_the_charge_ceiling() -> None:
    """Review finding: on a 1.2 MOhm load the output sits at compliance, contact is judged
    lost, and a pause of up to an hour holds the probe current (not dose, DOSE-001); that
    charge flowed through the chamber all the same: 120 mC against a 6 mC ceiling. (The
    protocol repeats an interrupted pulse, so the session pauses instead of ending.)"""
    rx = profiles.parse(
        'name = "res-pause"\nfamily = "research"\n[current]\ntarget_ua = 100\nramp_s = 1\n'
        '[protocol]\non_interrupt = "repeat"\n[[protocol.step]]\nkind = "pulse"\non_s = 50\n'
        '[electrode]\narea_cm2 = 1\nreturn_area_cm2 = 4\n'
        '[pause]\nmax_min = 60\nmax_total_min = 60\nprobe_ua = 100\n', DeviceLimits())
    ctl, rec = sessions.run(rx, ohm=1_200_000)
    cap = CHARGE_PER_CM2  # 1 cm2
    flowed = sum(r.measured_ua * 10 for r in rec.rows)  # what the sensor saw, tick by tick
    assert ctl.pauses >= 1 and ctl.probe_uams > 0
    assert ctl.delivered_uams + ctl.probe_uams <= cap and flowed <= cap * 1_005 // 1_000, \
        (ctl.delivered_uams, ctl.probe_uams, flowed)
    assert "research charge ceiling" in ctl.end_reason, ctl.end_reason


# ---------------------------------------------------------------- properties

@pytest.mark.req("ENV-001", "ENV-002", "ENV-004", "ENV-005", "CTL-001")
@given(prescriptions())
def test_every_accepted_prescription_is_inside_the_envelope(rx: Prescription) -> None:
    assert inside(rx, DEVICE) == []
    limit = Controller(rx, DEVICE, tick_ms=10).limit_ua
    fam = DEVICE.family_limits(rx.family)
    assert limit <= fam.max_current_ua
    assert limit * 100 <= fam.max_density_ua_per_cm2 * area_of(rx)


BREAKS = ["current", "density_area", "own_density", "no_area", "no_return", "no_site",
          "area_over_site", "rating", "charge"]


@pytest.mark.req("ENV-001", "ENV-002", "ENV-003", "ENV-004", "ENV-005", "RX-001")
@given(prescriptions(), st.sampled_from(BREAKS), st.data())
def test_a_prescription_broken_one_way_is_rejected_naming_the_field(
        rx: Prescription, how: str, data: st.DataObject) -> None:
    """Break one envelope rule of a valid prescription; the rejection names its field."""
    fam = DEVICE.family_limits(rx.family)
    current = "max_ua" if rx.max_ua else "target_ua"
    change: dict[str, object]
    if how == "current":
        top = fam.max_current_ua + data.draw(st.integers(1, 5_000))
        change, expect = {"max_ua": top}, {"max_ua"}
    elif how == "density_area":
        needed = -(-(rx.max_ua or rx.target_ua) * 100 // min(fam.max_density_ua_per_cm2,
                                                             rx.max_density_ua_per_cm2 or 10**9))
        if rx.family == "tap-water":
            change = {"area_mm2": needed - 1} if needed > 1 else {}
        else:
            change = {data.draw(st.sampled_from(["area_mm2", "return_area_mm2"])): needed - 1}
        expect = {current}
    elif how == "own_density":
        change = {"max_density_ua_per_cm2": fam.max_density_ua_per_cm2 + 1}
        expect = {"max_density_ua_per_cm2"}
    elif how in ("no_area", "no_return"):
        field = "area_mm2" if how == "no_area" else "return_area_mm2"
        change = {field: 0} if rx.family != "tap-water" else {}
        expect = {field}
    elif how == "no_site":
        change = {"site": ""} if rx.family == "tap-water" else {}
        expect = {"site"}
    elif how == "area_over_site":
        change = {"area_mm2": SITE_AREA_MM2[rx.site] + 1} if rx.family == "tap-water" else {}
        expect = {"area_mm2"}
    elif how == "rating":
        change = ({"electrode_max_uams": RATING + data.draw(st.integers(1, 10**9))}
                  if rx.family == "drug" else {})
        expect = {"electrode_max_uams"}
    else:  # charge: the on-time that puts the plan just above the ceiling
        change, expect = {}, {"pulse_count"}
        if rx.family == "research":
            cap = CHARGE_PER_CM2 * area_of(rx) // 100
            on = rx.pulse_on_ms
            while plan_bound(dataclasses.replace(rx, pulse_on_ms=on)) <= cap:
                on = on * 2
            if on <= 3_600_000:
                change = {"pulse_on_ms": on}
    if not change:
        return  # this break does not apply to the family drawn
    broken = Prescription.draft(**{**{f.name: getattr(rx, f.name)
                                      for f in dataclasses.fields(rx)}, **change})
    problems = broken.problems(DEVICE)
    assert problems, (how, change)
    assert expect <= {p.field for p in problems}, (how, change, problems)
    for p in problems:
        assert p.allowed and re.search(r"\d|one of|> 0|given", p.allowed), p


# ---------------------------------------------------------------- the CLI

@pytest.mark.req("ENV-007")
def test_validate_shows_each_limit_its_margin_and_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    from iontocore.shell import cli

    assert cli.main(["validate", "dexamethasone-40"]) == 0
    out = capsys.readouterr().out
    # 4 mA over the 13 cm2 drug patch = 0.308 mA/cm2 of 0.5: 38.4 % left
    assert "density (peak, over 1300 mm2): 0.308 mA/cm2 / 0.500 mA/cm2, margin 38.4 % " \
           "(device drug.max_density_ua_per_cm2)" in out
    assert "dose: 40.00 mA*min / 80.00 mA*min, margin 50.0 %" in out
    assert "current (peak): 4.000 mA / 4.000 mA, margin 0.0 % (device drug.max_current_ua)" in out
    assert cli.main(["validate", "acetylcholine-pulses"]) == 0
    out = capsys.readouterr().out
    assert "charge density (plan bound, over 100 mm2): 6.000 mC/cm2 / 6.000 mC/cm2" in out


@pytest.mark.req("ENV-001", "ENV-007")
def test_validate_refuses_the_review_s_drug_profile(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from iontocore.shell import cli

    path = tmp_path / "too-much.toml"
    path.write_text(DRUG_20MA, "utf-8")
    assert cli.main(["validate", str(path)]) == 2
    out = capsys.readouterr().out
    assert "current.max_ma = 30: allowed at most 4000 uA for drug (device drug.max_current_ua)" in out
    assert "electrode.area_mm2 = '(not given)'" in out
