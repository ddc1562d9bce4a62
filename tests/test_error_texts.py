"""The exact words of refusals built from values that are hard to show (RX-001): how a value
is shown (its repr up to 200 characters; an integer of more than 640 bits, or a value whose
repr raises, by a placeholder naming it), how an exception is described, and the refusals of
profiles that are not text or not found where they are looked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from iontocore import DeviceLimits, Prescription, profiles
from iontocore.errors import InvalidSettings, Problem, described, quoted, shown


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no")


class _BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.req("RX-001")
def test_a_value_is_shown_as_its_repr_up_to_200_characters() -> None:
    assert shown("x" * 198) == repr("x" * 198)                  # 200 characters: as it is
    assert shown("x" * 199) == repr("x" * 199)[:197] + "..."     # 201: cut to 200
    assert len(shown(list(range(500)))) == 200
    assert shown(2**639) == str(2**639)                         # 640 bits: printed
    assert shown(2**640) == "<an integer of 641 bits>"          # 641 bits: named
    assert shown(-2**640) == "<an integer of 641 bits>"
    assert shown(_BadRepr()) == "<a _BadRepr that cannot be shown>"
    assert quoted("palms") == "'palms'" and quoted(5) == "'5'"
    assert quoted("p" * 300) == "'" + "p" * 200 + "'"


@pytest.mark.req("CTL-005")
def test_an_exception_is_described_by_its_type_and_message_up_to_200_characters() -> None:
    assert described(ValueError("bad")) == "ValueError: bad"
    assert described(_BadStr()) == "_BadStr: <message cannot be shown>"
    assert described(ValueError("m" * 300)) == ("ValueError: " + "m" * 300)[:200]
    assert repr(Problem("a", 2**640, "b")) == \
        "Problem(field='a', value=<an integer of 641 bits>, allowed='b')"


@pytest.mark.req("RX-001")
def test_problems_against_something_that_is_no_device_say_what_is_wanted() -> None:
    palms = profiles.load("hyperhidrosis-palms")
    fields = {name: getattr(palms, name) for name in palms.__dataclass_fields__}
    (p,) = Prescription.draft(**fields).problems("x")  # type: ignore[arg-type]
    assert (p.field, p.value, p.allowed) == ("device", "str", "a DeviceLimits")


@pytest.mark.req("RX-001")
def test_profile_refusals_name_what_was_given(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettings) as err:
        profiles.load(123)  # type: ignore[arg-type]
    assert str(err.value) == ("invalid profile: profile = 123: allowed a built-in profile name "
                              "or a path to a .toml file")
    latin = tmp_path / "latin.toml"
    latin.write_bytes("name = 'f\u00fcr'\n".encode("latin-1"))
    with pytest.raises(InvalidSettings) as err:
        profiles.load(str(latin))
    (p,) = err.value.problems
    assert (p.field, p.value, err.value.context) == ("file", str(latin), "profile")
    assert p.allowed.startswith("a readable UTF-8 text file (UnicodeDecodeError: ")
    with pytest.raises(InvalidSettings) as err:
        profiles.parse(b"name = 'x'", origin="mine.toml")  # type: ignore[arg-type]
    assert str(err.value) == ("invalid mine.toml: file = 'mine.toml': allowed TOML text (a str), "
                              "not bytes")


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("written, words", [("1e30", "an integer from"), ("1e31", "whole multiple")])
def test_a_decimal_exponent_beyond_30_is_refused_without_being_made_exact(written: str,
                                                                          words: str) -> None:
    """Up to an exponent of 30 a decimal is made exact and judged against the key's range;
    beyond it it is refused at once as no setting (making 1e-999999999 exact takes hours)."""
    text = profiles.builtin_text("hyperhidrosis-palms")
    with pytest.raises(InvalidSettings) as err:
        profiles.parse(text.replace("ramp_s = 30", f"ramp_s = {written}"))
    (p,) = err.value.problems
    assert p.field == "current.ramp_s" and words in p.allowed, p


@pytest.mark.req("RX-001", "ENV-003")
def test_a_bad_site_skips_the_density_check_that_would_need_its_area() -> None:
    """A rule that involves a field already found bad is skipped: with a site that is no site,
    the prescription's own density check (which needs the contact area) is not run."""
    dex = profiles.load("dexamethasone-40")
    fields = {name: getattr(dex, name) for name in dex.__dataclass_fields__}
    found = Prescription.draft(**{**fields, "site": "nose", "max_density_ua_per_cm2": 10}).problems(
        DeviceLimits())
    assert [p.field for p in found] == ["site"], found
