"""The ReqIF export of the requirements and their verification (evidence/reqif_export.py):
valid against the ReqIF schema shipped with the reqif library, and parsed back by it with every
requirement, its statement, its result and its hazards intact."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "evidence"))
import build  # noqa: E402
import reqif_export  # noqa: E402

REQS = tomllib.loads((ROOT / "specs" / "requirements.toml").read_text("utf-8"))
HAZARDS = tomllib.loads((ROOT / "specs" / "hazards.toml").read_text("utf-8"))


def _export(tmp_path: Path) -> Path:
    tests = {"tests/t.py::test_a[x & <y>]": {"requirements": ["SM-001"], "kind": "test", "outcome": "passed"},
             "tests/t.py::test_b": {"requirements": ["SUP-001"], "kind": "test", "outcome": "failed"}}
    rows, _ = build.trace(REQS, HAZARDS, tests, reviews={})
    text = reqif_export.build(rows, REQS, [{"id": k, **v} for k, v in HAZARDS.items()],
                              "2026-11-26T05:00:00+00:00", "iontocore requirements")
    path = tmp_path / "requirements.reqif"
    path.write_text(text, "utf-8")
    return path


def test_the_export_is_valid_reqif_and_parses_back_with_every_requirement(tmp_path: Path) -> None:
    from reqif.parser import ReqIFParser

    path = _export(tmp_path)
    assert reqif_export.validate(path) == []
    content = ReqIFParser.parse(str(path)).core_content.req_if_content
    names = {a.identifier: a.long_name for t in content.spec_types
             for a in getattr(t, "attribute_definitions", None) or []}
    objects = {o.long_name: {names[a.definition_ref]: a.value for a in o.attributes}
               for o in content.spec_objects}
    assert set(REQS) | set(HAZARDS) == set(objects)
    for rid, req in REQS.items():
        assert objects[rid]["ReqIF.Text"] == req["statement"]
        assert objects[rid]["hazards"] == ", ".join(req["hazards"])
    assert objects["SM-001"]["verified_by"] == "tests/t.py::test_a[x & <y>]"
    assert objects["SM-001"]["verification_result"] == "verified"
    assert objects["SUP-001"]["verification_result"] == "NOT VERIFIED"
    assert len(content.spec_relations) == sum(len(r["hazards"]) for r in REQS.values())
    spec, = content.specifications
    assert [h.spec_object for h in spec.children] == [reqif_export._id("HAZ", h) for h in HAZARDS]
    assert all(len(h.children) == len(HAZARDS[hid]["controls"]) for h, hid in zip(spec.children, HAZARDS))


def test_an_invalid_file_is_reported(tmp_path: Path) -> None:
    path = _export(tmp_path)
    path.write_text(path.read_text().replace(' MAX-LENGTH="100000"', ""))
    assert reqif_export.validate(path) == [
        "ReqIF schema: missing required attribute 'MAX-LENGTH' at "
        "/REQ-IF/CORE-CONTENT/REQ-IF-CONTENT/DATATYPES/DATATYPE-DEFINITION-STRING"]
    path.write_text("<REQ-IF")
    assert reqif_export.validate(path)
