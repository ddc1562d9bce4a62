"""The guards that keep one bad field from tripping the checks after it, and the names of the
refusals that guard the Coordinator, checked by the exact list of problems:

- a research protocol of charge pulses with a duty cycle that is no duty (None, a string, 0)
  is refused naming the duty alone: the device's session-time check, whose planned time of a
  charge pulse divides by current x duty, is not run on it (it raised TypeError, or reported
  a session of weeks as a second, false problem);
- a protocol that is no Protocol, given with a ceiling or a ramp that is bad, is refused
  naming both, and problems() does not try to plan it (it raised AttributeError);
- a Coordinator refuses channels that are not a list of Controllers, and limits that are no
  ChannelLimits, naming the value given (the channels themselves, the limits' type) and what
  is allowed;
- a profile key that shares the beginning of a key without units (`pulses.count_x`) is no
  attempt at that key: the unknown key is refused, and the missing `pulses.count` is
  reported too (a key with units written with an unknown unit, `pulses.on_x`, is an attempt
  at `pulses.on`: no follow-on problem);
- a problem hides only the rules that involve its field (RX-001: every problem at once): a
  bad target_ua does not hide a session longer than the device allows when no protocol
  plans with it, and an unknown site given for a drug does not hide the electrodes' density limit.
"""

from __future__ import annotations

import dataclasses

import pytest

from iontocore import Controller, DeviceLimits, Prescription, profiles
from iontocore.coordinator import ChannelLimits, Coordinator
from iontocore.errors import InvalidSettings, Problem
from iontocore.protocol import PULSE, Protocol

from short_session import RX, SUP, TICK

DEVICE = DeviceLimits()
SNP = profiles.load("nitroprusside-protocol")  # research: five pulses of 1 mC each (by charge)
LIMITS = ChannelLimits(total_max_ua=10_000, total_trip_ua=12_000)


def _fields(rx: Prescription) -> dict[str, object]:
    return {f.name: getattr(rx, f.name) for f in dataclasses.fields(rx)}


def _refusal(err: pytest.ExceptionInfo[InvalidSettings]) -> list[tuple[str, object, str]]:
    return [(p.field, p.value, p.allowed) for p in err.value.problems]


@pytest.mark.req("RX-011")
def test_the_research_profile_used_here_plans_pulses_by_charge_within_the_device() -> None:
    """The premise of the duty tests below: its pulses are given by charge (their planned
    time depends on current x duty), and as written it is valid on the default device."""
    assert isinstance(SNP.protocol, Protocol)
    assert [s.charge_uams > 0 for s in SNP.protocol.steps if s.kind == PULSE] == [True]
    assert SNP.planned_ms <= DEVICE.max_session_ms
    assert SNP.problems(DEVICE) == []


@pytest.mark.req("RX-001", "RX-002")
@pytest.mark.parametrize("duty", [None, "500", 0])
def test_a_bad_duty_is_named_alone_and_the_session_time_is_not_planned_with_it(
        duty: object) -> None:
    """The planned time of a pulse by charge is its charge / (current x duty). With a duty
    that is no integer from 1 to 1000 the plan cannot be made: the duty is the one problem
    (None or a string would raise inside the plan; 0 would plan 1 000 000 s per pulse and
    report the protocol as longer than the device allows, a second, false problem)."""
    draft = Prescription.draft(**{**_fields(SNP), "duty_permille": duty})
    assert draft.problems(DEVICE) == [
        Problem("duty_permille", duty, "an integer from 1 to 1000 permille")]


@pytest.mark.req("RX-001", "RX-011")
@pytest.mark.parametrize("field, value, allowed", [
    ("max_ua", None, "an integer from 0 to 100000 uA"),
    ("max_ua", 100_001, "an integer from 0 to 100000 uA"),
    ("ramp_ms", 0, "an integer from 1 to 600000 ms"),
])
def test_a_protocol_that_is_no_protocol_with_a_bad_ceiling_or_ramp_is_named_not_planned(
        field: str, value: object, allowed: str) -> None:
    """A protocol that is no Protocol beside a bad ceiling or ramp (the fields a protocol is
    judged with): both are named, and the device's session-time check does not plan the
    session from it (problems() never raises, whatever a draft holds)."""
    draft = Prescription.draft(**{**_fields(SNP), field: value, "protocol": "five pulses"})
    assert draft.problems(DEVICE) == [
        Problem(field, value, allowed),
        Problem("protocol", "five pulses", "a Protocol"),
    ]


@pytest.mark.req("CH-001")
@pytest.mark.parametrize("channels", [
    [1], "ab", (Controller(RX, DEVICE, SUP, tick_ms=TICK), "b")], ids=["ints", "text", "mixed"])
def test_channels_that_are_no_list_of_controllers_are_refused_showing_them(
        channels: object) -> None:
    with pytest.raises(InvalidSettings) as err:
        Coordinator(channels, LIMITS)  # type: ignore[arg-type]
    assert _refusal(err) == [("channels", channels, "a list of Controllers")]


@pytest.mark.req("CH-001")
@pytest.mark.parametrize("limits, kind", [
    ({"total_max_ua": 10_000, "total_trip_ua": 12_000}, "dict"), (10_000, "int")])
def test_limits_that_are_no_channel_limits_are_refused_naming_their_type(limits: object,
                                                                        kind: str) -> None:
    """Only that problem: the sum of the channels' limits is not judged against them."""
    with pytest.raises(InvalidSettings) as err:
        Coordinator([Controller(RX, DEVICE, SUP, tick_ms=TICK)], limits)  # type: ignore[arg-type]
    assert _refusal(err) == [("limits", kind, "a ChannelLimits")]


ACH = profiles.builtin_text("acetylcholine-pulses")


@pytest.mark.req("RX-001", "RX-007")
def test_a_key_beginning_like_a_key_without_units_is_no_attempt_at_it() -> None:
    """`pulses.count` takes no unit: `count_x` is another key, refused as unknown, and the
    research short form then has no pulse count, which is reported as well."""
    assert "count = 5" in ACH
    with pytest.raises(InvalidSettings) as err:
        profiles.parse(ACH.replace("count = 5", "count_x = 5"))
    assert _refusal(err) == [
        ("pulses.count_x", 5, "a known key of [pulses]: count, on_min, gap_min"),
        ("pulses.count", "(not given)", ">= 1 for research pulses (or a [protocol])"),
    ]


@pytest.mark.req("RX-001", "RX-007")
def test_a_key_with_units_written_with_an_unknown_unit_is_refused_without_follow_ons() -> None:
    """`pulses.on_x` is an attempt at `pulses.on` (a key with units): it is the one problem,
    not also a missing on-time."""
    assert "on_s = 10" in ACH
    with pytest.raises(InvalidSettings) as err:
        profiles.parse(ACH.replace("on_s = 10", "on_x = 10"))
    assert _refusal(err) == [
        ("pulses.on_x", 10, "a known key of [pulses]: count, on_min, gap_min")]


@pytest.mark.req("RX-001")
def test_a_bad_target_does_not_hide_a_session_longer_than_the_device_allows() -> None:
    """Without a protocol the planned time is the duration alone: both problems at once."""
    too_long = DEVICE.max_session_ms + 1
    draft = Prescription.draft(**{**_fields(RX), "target_ua": 0, "duration_ms": too_long})
    got = [(p.field, p.value, p.allowed) for p in draft.problems(DEVICE)]
    assert ("target_ua", 0, "an integer from 1 to 100000 uA") in got
    assert ("duration_ms", too_long, f"a session of at most {DEVICE.max_session_ms} ms (device "
            f"limit); planned {too_long} ms") in got


@pytest.mark.req("RX-001", "ENV-003")
def test_a_site_given_for_a_drug_does_not_hide_the_electrodes_density_limit() -> None:
    """A drug's contact area is its electrodes', so the density limit is judged on them even
    when a site that is no site was given: the site and the density are both named."""
    dex = profiles.load("dexamethasone-40")
    fam = DEVICE.family_limits("drug")
    cap = fam.max_density_ua_per_cm2 * 100 // 100
    assert dex.ceiling_ua > cap                       # the premise: over the density limit
    draft = Prescription.draft(**{**_fields(dex), "site": "nowhere", "area_mm2": 100,
                                  "return_area_mm2": 100})
    got = [(p.field, p.value, p.allowed) for p in draft.problems(DEVICE)]
    assert ("site", "nowhere") in [(f, v) for f, v, _ in got]
    assert ("max_ua" if dex.max_ua else "target_ua", dex.ceiling_ua, (
        f"at most {fam.max_density_ua_per_cm2} uA/cm2 (device drug.max_density_ua_per_cm2) x "
        f"100 mm2 (the smaller electrode) = {cap} uA, judged at the peak current")) in got


@pytest.mark.req("RX-001", "RX-011")
@pytest.mark.parametrize("target", [0, -5, "x", None])
def test_a_bad_target_is_named_alone_and_no_protocol_is_planned_with_it(target: object) -> None:
    """The protocol's pulses by charge take the target as their current: with a target that
    is no current, neither the protocol's plan nor the session time is computed (they would
    raise, or report a session of weeks): the target is the one problem."""
    draft = Prescription.draft(**{**_fields(SNP), "target_ua": target})
    assert [(p.field, p.value) for p in draft.problems(DEVICE)] == [("target_ua", target)]
