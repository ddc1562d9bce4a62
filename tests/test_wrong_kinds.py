"""RX-001 and ENV-006, as a class: every settings object refuses a value of the wrong kind
in any field (a scalar of another type, a list, a table, None) with a problem naming that
field, and never raises anything else. Lists and tables are unhashable: a membership test
in a dict or a set must not raise on them (a site given as a list once crashed the check,
tests/test_prescription_errors.py covers the Prescription the same way)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from iontocore import DeviceLimits, SupervisionLimits
from iontocore.coordinator import ChannelLimits
from iontocore.envelope import FamilyLimits
from iontocore.errors import InvalidSettings

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
