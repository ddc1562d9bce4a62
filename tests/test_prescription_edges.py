"""Prescription checks at their edges: the shortest tap-water session, a density limit of
1 uA/cm2, and a site of the wrong kind that must be named without the checks after it
tripping over it (problems() never raises, whatever the draft holds)."""

from __future__ import annotations

import dataclasses

import pytest

from iontocore import DeviceLimits, Prescription, profiles
from iontocore.errors import InvalidSettings

DEVICE = DeviceLimits()
PALMS = profiles.load("hyperhidrosis-palms")


def _fields(rx: Prescription) -> dict[str, object]:
    return {f.name: getattr(rx, f.name) for f in dataclasses.fields(rx)}


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("duration_ms, ok", [(10_000, True), (9_999, False)])
def test_the_shortest_tap_water_session_is_ten_seconds(duration_ms: int, ok: bool) -> None:
    problems = Prescription.draft(**{**_fields(PALMS), "duration_ms": duration_ms,
                                     "reverse_at_half": False}).problems(DEVICE)
    assert (problems == []) is ok, problems
    if not ok:
        assert [p.field for p in problems] == ["duration_ms"]


@pytest.mark.req("RX-001", "ENV-003")
@pytest.mark.parametrize("target_ua, ok", [(20, True), (21, False)])
def test_a_density_limit_of_one_ua_per_cm2_is_applied(target_ua: int, ok: bool) -> None:
    """1 uA/cm2 on 20 cm2 (the smaller electrode) allows 20 uA at the peak, not 21."""
    base = profiles.load("dexamethasone-40")
    draft = Prescription.draft(**{**_fields(base), "max_density_ua_per_cm2": 1,
                                  "area_mm2": 2_000, "return_area_mm2": 2_000,
                                  "target_ua": target_ua, "max_ua": 0, "min_ua": 0, "step_ua": 0,
                                  "probe_ua": 10, "dose_uams": 1_000_000,
                                  "electrode_max_uams": 1_000_000})
    problems = [p for p in draft.problems(DEVICE) if p.field in ("target_ua", "max_ua")]
    assert (problems == []) is ok, problems
    if not ok:
        assert "1 uA/cm2 x 2000 mm2 = 20 uA" in problems[0].allowed, problems[0]


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("site", [["palms"], {"palms": 1}, 5])
def test_a_site_of_the_wrong_kind_is_named_and_nothing_else_trips_over_it(site: object) -> None:
    """A tap-water draft with a density limit of its own and a site that is not a site name:
    the site is the problem named; the density check, which needs the site's area, is not
    run on it (and never raises)."""
    draft = Prescription.draft(**{**_fields(PALMS), "site": site, "max_density_ua_per_cm2": 50})
    problems = draft.problems(DEVICE)
    assert [p.field for p in problems] == ["site"], problems


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("written", ['["palms"]', "{ name = \"palms\" }"])
def test_a_profile_whose_site_is_an_array_or_a_table_is_refused_naming_it(written: str) -> None:
    """It once raised TypeError (unhashable) from inside the checks instead of a refusal."""
    text = profiles.builtin_text("hyperhidrosis-palms")
    assert 'site = "palms"' in text
    with pytest.raises(InvalidSettings) as err:
        profiles.parse(text.replace('site = "palms"', f"site = {written}"))
    assert [p.field for p in err.value.problems] == ["electrode.site"], err.value.problems
