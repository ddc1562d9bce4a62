"""RX-001 and ENV-006, as a class: every settings object refuses a value of the wrong kind
in any field (a scalar of another type, a list, a table, None) with a problem naming that
field, and never raises anything else. Lists and tables are unhashable: a membership test
in a dict or a set must not raise on them (a site given as a list once crashed the check,
tests/test_prescription_errors.py covers the Prescription the same way)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from iontocore import (OFF, Controller, DeviceLimits, Prescription, Sample, SupervisionLimits,
                       profiles)
from iontocore.coordinator import ChannelLimits, Coordinator
from iontocore.envelope import FamilyLimits
from iontocore.errors import InvalidSettings
from iontocore.faults import FaultCode

KINDS: dict[str, Any] = {"list": [1], "table": {"a": 1}, "none": None, "float": 1.5,
                         "text": "1", "bool": True}
OBJECTS: dict[str, Any] = {
    "DeviceLimits": DeviceLimits(), "SupervisionLimits": SupervisionLimits(),
    "ChannelLimits": ChannelLimits(10_000, 12_000), "FamilyLimits": FamilyLimits.default("drug"),
}
CASES = [(name, f.name, kind) for name, obj in OBJECTS.items() for f in dataclasses.fields(obj)
         for kind in KINDS
         if not (kind == "bool" and isinstance(getattr(obj, f.name), bool))]


@pytest.mark.req("ENV-006", "SUP-013")
@pytest.mark.parametrize("name, field, kind", CASES)
def test_a_value_of_any_wrong_kind_is_refused_naming_its_field(name: str, field: str,
                                                                 kind: str) -> None:
    with pytest.raises(InvalidSettings) as err:
        dataclasses.replace(OBJECTS[name], **{field: KINDS[kind]})
    named = [p.field for p in err.value.problems]
    assert any(n == field or n.endswith("." + field) or n.startswith(field) for n in named), named


@pytest.mark.req("ENV-006")
@pytest.mark.parametrize("family", [["drug"], {"drug": 1}, None, 1, "tapwater"])
def test_a_family_that_is_no_family_name_is_refused_naming_it(family: object) -> None:
    for make in (lambda: FamilyLimits.default(family),  # type: ignore[arg-type]
                 lambda: FamilyLimits(family, 1, 1, 1, 1)):  # type: ignore[arg-type]
        with pytest.raises(InvalidSettings) as err:
            make()
        assert [(p.field, p.value) for p in err.value.problems] == [("family", family)]


# ------------------------------------------------------------------ hostile values (round 3)
# Values that once escaped as another exception, were accepted, or turned a refused request
# into a fault: an integer too long to print, objects whose repr, str, eq or bool raise or
# lie, TOML numbers that are no numbers, files that are no text, containers that are no
# sample. Each was a reproducer of the third hostile review.

class _E(Exception):
    def __str__(self) -> str:
        raise _E()


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr")


class _BadStr:
    def __str__(self) -> str:
        raise _E()


class _BadBool:
    def __bool__(self) -> bool:
        raise RuntimeError("bool")


class _LieEq:
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


HUGE = 10**5000  # more digits than Python prints (4300)
PALMS = profiles.load("hyperhidrosis-palms")
PALMS_FIELDS = {f.name: getattr(PALMS, f.name) for f in dataclasses.fields(PALMS)}


@pytest.mark.req("RX-001", "ENV-006")
@pytest.mark.parametrize("value", [HUGE, -HUGE, _BadRepr()], ids=["huge", "-huge", "bad-repr"])
def test_a_value_that_cannot_be_printed_is_still_refused_by_name(value: object) -> None:
    for make in (lambda: DeviceLimits(max_current_ua=value), lambda: SupervisionLimits(stuck_ms=value),
                 lambda: ChannelLimits(value, 1), lambda: FamilyLimits.default(value),  # type: ignore[arg-type]
                 lambda: Prescription(**{**PALMS_FIELDS, "target_ua": value}),
                 lambda: Controller(PALMS, tick_ms=value)):  # type: ignore[arg-type]
        with pytest.raises(InvalidSettings) as err:
            make()
        assert str(err.value) and repr(err.value.problems)   # the message is made
    found = Prescription.draft(**{**PALMS_FIELDS, "name": value}).problems(DeviceLimits())
    assert [p.field for p in found] == ["name"] and repr(found)


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("base", profiles.builtin_names())
@pytest.mark.parametrize("kind", ["lies", "raises"])
def test_objects_that_lie_or_raise_when_compared_are_refused_by_name(base: str, kind: str) -> None:
    """On every field of every built-in profile: an object whose truth value raises, and one
    equal to everything, are refused by name and never make a check raise (a rule that asks
    `family == "drug"`, or whether a protocol is given, may then also speak)."""
    rx = profiles.load(base)
    fields = {f.name: getattr(rx, f.name) for f in dataclasses.fields(rx)}
    for field in fields:
        value = _LieEq() if kind == "lies" else _BadBool()
        found = [p.field for p in Prescription.draft(**{**fields, field: value}).problems(DeviceLimits())]
        assert field in found, (field, found)
        with pytest.raises(InvalidSettings):
            Prescription(**{**fields, field: value})


@pytest.mark.req("RX-001")
def test_problems_against_something_that_is_no_device_names_it() -> None:
    assert [(p.field, p.value) for p in Prescription.draft(**PALMS_FIELDS).problems("x")] == [  # type: ignore[arg-type]
        ("device", "str")]
    with pytest.raises(InvalidSettings) as err:
        profiles.parse(profiles.builtin_text("hyperhidrosis-palms"), device={})  # type: ignore[arg-type]
    assert [p.field for p in err.value.problems] == ["device"]


@pytest.mark.req("ENV-006")
@pytest.mark.parametrize("value", [False, 0.0, -0.0, Fraction(0), 0j, Decimal(0)])
def test_a_family_setting_not_used_must_be_the_integer_zero(value: object) -> None:
    with pytest.raises(InvalidSettings) as err:
        FamilyLimits("tap-water", 30_000, 200, value, 0)  # type: ignore[arg-type]
    assert [p.field for p in err.value.problems] == ["tap_water.max_electrode_rating_uams"]


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("edit", [
    ('target_ma = 15', "target_ma = 1e5000"),                    # a huge decimal
    ('ramp_s = 30', "ramp_s = 1e-999999999"),                    # hours of CPU made exact
    ('name = "hyperhidrosis-palms"', "name = 1" + "0" * 4300),   # past Python's int digits
    ('name = "hyperhidrosis-palms"', "name = nan"),              # numbers are no names
    ('name = "hyperhidrosis-palms"', "name = -inf"),
    ('name = "hyperhidrosis-palms"', "name = 1e-400")])
def test_a_profile_number_that_is_no_setting_is_refused_by_name_at_once(edit: tuple[str, str]) -> None:
    text = profiles.builtin_text("hyperhidrosis-palms")
    assert edit[0] in text
    with pytest.raises(InvalidSettings) as err:
        profiles.parse(text.replace(edit[0], edit[1]))
    assert len(err.value.problems) == 1 and str(err.value)


@pytest.mark.req("RX-001")
def test_a_profile_that_is_no_text_is_refused_naming_the_file(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.toml"
    latin.write_bytes(profiles.builtin_text("hyperhidrosis-palms").replace(
        "Tap water", "Leitungswasser f\u00fcr H\u00e4nde").encode("latin-1"))
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    for bad in (latin, str(latin), str(folder)):
        with pytest.raises(InvalidSettings) as err:
            profiles.load(bad)
        assert [p.field for p in err.value.problems] == ["file"], err.value
    for text in (b"name = 'x'", None):
        with pytest.raises(InvalidSettings) as err:
            profiles.parse(text)  # type: ignore[arg-type]
        assert [p.field for p in err.value.problems] == ["file"]
    for name in (123, None):
        with pytest.raises(InvalidSettings) as err:
            profiles.load(name)  # type: ignore[arg-type]
        assert [p.field for p in err.value.problems] == ["profile"]
    ok = tmp_path / "palms.toml"
    ok.write_text(profiles.builtin_text("hyperhidrosis-palms"), "utf-8")
    assert profiles.load(ok) == PALMS              # a path object is a path


def _running() -> Controller:
    ctl = Controller(PALMS, tick_ms=10)
    ctl.step(Sample(0, 0, 0))
    assert ctl.start().accepted
    for k in range(1, 40):
        a = abs(ctl.command.setpoint_ua)
        ctl.step(Sample(10 * k, a + k % 2, a * 5))
    return ctl


def _public(ctl: Controller) -> tuple[object, ...]:
    return (ctl.state, ctl.command, ctl.setpoint_ua, ctl.delivered_uams, list(ctl.faults),
            len(ctl.events))


@pytest.mark.req("RX-005", "CTL-005")
@pytest.mark.parametrize("request_", ["adjust-huge", "adjust-bad-repr", "adjust-huge-step",
                                      "report-bad-code", "report-huge-code"])
def test_a_refused_request_changes_nothing_whatever_it_was_given(request_: str) -> None:
    ctl = _running()
    step = PALMS.adjust_step_ua
    before = _public(ctl)
    call = {"adjust-huge": lambda: ctl.adjust(HUGE),
            "adjust-bad-repr": lambda: ctl.adjust(_BadRepr()),  # type: ignore[arg-type]
            "adjust-huge-step": lambda: ctl.adjust(step * HUGE),
            "report-bad-code": lambda: ctl.report_fault(_BadRepr(), "x"),  # type: ignore[arg-type]
            "report-huge-code": lambda: ctl.report_fault(HUGE, "x")}[request_]  # type: ignore[arg-type]
    reply = call()
    assert not reply.accepted and reply.reason and not reply.reason.startswith("internal error")
    assert _public(ctl) == before


@pytest.mark.req("LINK-002", "CTL-005")
@pytest.mark.parametrize("reason", [HUGE, _BadStr()], ids=["huge", "bad-str"])
def test_a_reported_fault_is_recorded_as_reported_whatever_its_reason(reason: object) -> None:
    ctl = _running()
    reply = ctl.report_fault(FaultCode.LINK_LOST, reason)  # type: ignore[arg-type]
    assert reply.accepted and ctl.state == "fault" and ctl.command.enabled is False
    assert [f.code for f in ctl.faults] == [FaultCode.LINK_LOST]


class _Samples(list):  # type: ignore[type-arg]
    """A list whose length cannot be asked: raises an exception whose text cannot be made."""

    def __len__(self) -> int:
        raise _E()


@pytest.mark.req("CH-001", "CTL-005")
@pytest.mark.parametrize("samples", ["raising", "raising-inside"])
def test_a_coordinator_tick_that_fails_in_any_way_cuts_every_channel(samples: str) -> None:
    chans = [Controller(PALMS, tick_ms=10), Controller(profiles.load("hyperhidrosis-soles"), tick_ms=10)]
    co = Coordinator(chans, ChannelLimits(60_000, 70_000))
    co.step([Sample(0, 0, 0), Sample(0, 0, 0)])
    assert co.start().accepted
    for k in range(1, 20):
        co.step([Sample(10 * k, abs(c.command.setpoint_ua) + k % 2, abs(c.command.setpoint_ua) * 5)
                 for c in chans])
    assert all(c.command.enabled for c in chans)
    bad = _Samples() if samples == "raising" else [_Samples(), Sample(200, 0, 0)]
    out = co.step(bad)  # type: ignore[arg-type]
    assert out == (OFF, OFF) and all(c.state == "fault" and not c.command.enabled for c in chans)


@pytest.mark.req("SUP-004", "CTL-002")
@pytest.mark.parametrize("sample", [bytes([210, 105, 10, 1]), {210: "x", 105: "x", 1057: "x", 1: "x"},
                                    "abcd", frozenset({210, 105, 10, 1})],
                         ids=["bytes", "dict", "str", "set"])
def test_a_container_that_is_no_sample_is_implausible_and_never_raises_the_command(
        sample: object) -> None:
    ctl = _running()
    before = ctl.command.setpoint_ua
    out = ctl.step(sample)  # type: ignore[arg-type]
    assert out.setpoint_ua == before
