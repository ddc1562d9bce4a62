"""SAFETY.md and the specs agree: every requirement and hazard has its place (SM-001 review)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQS = tomllib.loads((ROOT / "specs" / "requirements.toml").read_text("utf-8"))
HAZARDS = tomllib.loads((ROOT / "specs" / "hazards.toml").read_text("utf-8"))
SAFETY = (ROOT / "SAFETY.md").read_text("utf-8")


def test_every_requirement_and_hazard_is_in_safety_md() -> None:
    missing = [rid for rid in [*REQS, *HAZARDS] if f"| {rid}" not in SAFETY]
    assert not missing, f"not in SAFETY.md: {missing}"


def test_hazards_and_requirements_reference_each_other() -> None:
    for hid, hazard in HAZARDS.items():
        assert hazard["controls"], f"{hid} has no control"
        for rid in hazard["controls"]:
            assert rid in REQS, f"{hid} names unknown requirement {rid}"
            assert hid in REQS[rid]["hazards"], f"{rid} does not list {hid}"
    for rid, req in REQS.items():
        for hid in req["hazards"]:
            assert hid in HAZARDS, f"{rid} names unknown hazard {hid}"
            assert rid in HAZARDS[hid]["controls"], f"{hid} does not list {rid} as a control"


def test_every_fault_class_has_its_row_with_its_requirement() -> None:
    from iontocore.faults import CATALOGUE

    rows = [line for line in SAFETY.splitlines() if line.startswith("| ")]
    for fault in CATALOGUE:
        assert any(fault.code.value in row and fault.requirement in row for row in rows), fault.code


def test_hazard_table_matches_hazards_toml() -> None:
    lines = SAFETY.splitlines()
    header = next(line for line in lines if line.startswith("| hazard | severity"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    for hid, hazard in HAZARDS.items():
        row = next(line for line in lines if line.startswith(f"| {hid}"))
        cells = dict(zip(columns, (c.strip() for c in row.strip("|").split("|")), strict=True))
        listed = {c.strip().split(" ")[0] for c in cells["controlled by"].split(",")}
        assert listed == set(hazard["controls"]), (hid, listed ^ set(hazard["controls"]))
        assert (cells["severity"], cells["probability before"], cells["probability after"],
                cells["residual risk"]) == (str(hazard["severity"]), str(hazard["probability_before"]),
                                            str(hazard["probability_after"]), hazard["residual_risk"]), hid


def test_the_safety_class_in_safety_md_is_the_risk_file_s() -> None:
    risk = tomllib.loads((ROOT / "specs" / "risk.toml").read_text("utf-8"))
    assert f"software safety class {risk['safety_class']['class']}**" in SAFETY
