"""The records the core hands out (request replies, fault records, research markers and pulse
reports) cannot be made malformed: a session record, a host or an analysis reads them as
they are, so a wrong type or an impossible value is refused where it is made."""

from __future__ import annotations

import pytest

from iontocore.events import Marker, PulseReport, Reply, StateChanged
from iontocore.faults import FaultCode, FaultRecord, Reaction


def test_a_reply_is_a_bool_and_a_refusal_says_why() -> None:
    """The type itself holds the contract the table relies on."""
    assert Reply(True).accepted is True and not Reply(False, "why")
    for bad in [("nothing to stop",), (1, "x"), (False, None)]:
        with pytest.raises(TypeError):
            Reply(*bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must say why"):
        Reply(False)
    with pytest.raises(TypeError, match="allowed a bool and a str"):
        Reply("yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("field, value", [
    ("reason", None), ("reason", ""), ("tick", -1), ("tick", 1.0), ("t_ms", None),
    ("zero_tick", 4), ("code", "overcurrent"), ("reaction", "hard_cut")])
def test_a_malformed_fault_record_cannot_be_made(field: str, value: object) -> None:
    good = dict(code=FaultCode.OVERCURRENT, reason="trip", tick=5, t_ms=50,
                reaction=Reaction.HARD_CUT, zero_tick=5)
    FaultRecord(**good)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="malformed fault record"):
        FaultRecord(**{**good, field: value})  # type: ignore[arg-type]


GOOD_MARKER = dict(tick=3, t_ms=1_030, session_ms=30, label="pulse 1", kind="pulse", step=2, pulse=1)


@pytest.mark.parametrize("field, value", [
    ("tick", -1), ("t_ms", None), ("session_ms", 1.0), ("step", -1), ("pulse", "1"),
    ("label", ""), ("label", None), ("kind", "burst"), ("kind", None)])
def test_a_malformed_marker_cannot_be_made(field: str, value: object) -> None:
    Marker(**GOOD_MARKER)  # type: ignore[arg-type]
    for kind in ("baseline", "pulse", "gap", "interrupt", "end"):
        Marker(**{**GOOD_MARKER, "kind": kind})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="malformed marker"):
        Marker(**{**GOOD_MARKER, field: value})  # type: ignore[arg-type]


GOOD_REPORT = dict(pulse=1, attempt=1, step=2, start_ms=100, end_ms=1_300, nominal_uams=110_000,
                   delivered_uams=109_000, valid=True, reason="")


@pytest.mark.parametrize("changes", [
    {"pulse": 0}, {"attempt": 0}, {"step": 0}, {"start_ms": -1}, {"end_ms": 99},
    {"nominal_uams": -1}, {"delivered_uams": None}, {"valid": 1}, {"reason": None},
    {"reason": "contact loss"},                  # valid with a reason
    {"valid": False},                            # invalid without one
])
def test_a_malformed_pulse_report_cannot_be_made(changes: dict[str, object]) -> None:
    PulseReport(**GOOD_REPORT)  # type: ignore[arg-type]
    PulseReport(**{**GOOD_REPORT, "valid": False, "reason": "stop", "end_ms": 100})  # type: ignore[arg-type]
    PulseReport(**{**GOOD_REPORT, "delivered_uams": -10})  # type: ignore[arg-type]  # measured: noise may be below zero
    with pytest.raises(ValueError, match="malformed pulse report"):
        PulseReport(**{**GOOD_REPORT, **changes})  # type: ignore[arg-type]


GOOD_CHANGE = dict(tick=4, t_ms=40, trigger="start", source="idle", dest="ramp_up",
                   reason="start requested")


@pytest.mark.parametrize("field, value", [
    ("tick", -1), ("t_ms", 1.5), ("trigger", ""), ("source", None), ("dest", ""),
    ("reason", None), ("reason", "")])
def test_a_malformed_state_change_cannot_be_made(field: str, value: object) -> None:
    StateChanged(**GOOD_CHANGE)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="malformed state change"):
        StateChanged(**{**GOOD_CHANGE, field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("record", [
    StateChanged(**GOOD_CHANGE),  # type: ignore[arg-type]
    FaultRecord(FaultCode.OVERCURRENT, "trip", 5, 50, Reaction.HARD_CUT, 5),
    Marker(**GOOD_MARKER),  # type: ignore[arg-type]
    PulseReport(**GOOD_REPORT),  # type: ignore[arg-type]
])
def test_a_record_s_dict_is_its_fields_by_name(record: object) -> None:
    """What the session record and the trace write: every field under its own name, enums
    by value (the record format is the dataclass, nothing renamed)."""
    import dataclasses
    from enum import Enum

    want = {f.name: (getattr(record, f.name).value if isinstance(getattr(record, f.name), Enum)
                     else getattr(record, f.name)) for f in dataclasses.fields(record)}  # type: ignore[arg-type]
    assert record.as_dict() == want  # type: ignore[attr-defined]
