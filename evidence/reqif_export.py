"""The requirements, the hazards they control and their verification in this run, exported as
ReqIF 1.2 (OMG; what DOORS, Polarion and Jama import, and StrictDoc and sphinx-needs read),
written with the `reqif` library (StrictDoc) and checked against the ReqIF XML schema it ships.

One SPECIFICATION ("iontocore requirements") holds every hazard, each with the requirements
that control it beneath it; every requirement is a SPEC-OBJECT with its ID, statement,
rationale, verification methods, result in this run and the tests that verify it, and a
SPEC-RELATION "controls" from the requirement to each hazard it names."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

NS = uuid.UUID("6f1c2c1e-4a57-4b8e-9d1a-10c7a11ce000")  # stable identifiers across builds


def _id(kind: str, name: str) -> str:
    return f"_{kind}-{uuid.uuid5(NS, f'{kind}:{name}')}"  # an XML ID: starts with a letter or _


REQ_FIELDS = (("ReqIF.ForeignID", "ID"), ("ReqIF.Text", "statement"), ("rationale", "rationale"),
              ("hazards", "hazards"), ("verification_methods", "methods"),
              ("verification_result", "status"), ("verified_by", "tests"))
HAZ_FIELDS = (("ReqIF.ForeignID", "ID"), ("ReqIF.Name", "hazard"), ("harm", "harm"),
              ("severity", "severity"), ("residual_risk", "residual_risk"))


def build(requirements: list[dict[str, Any]], specs_reqs: dict[str, Any],
          hazards: list[dict[str, Any]], stamp: str, title: str) -> str:
    """The ReqIF XML text."""
    from reqif.models.reqif_core_content import ReqIFCoreContent
    from reqif.models.reqif_data_type import ReqIFDataTypeDefinitionString
    from reqif.models.reqif_namespace_info import ReqIFNamespaceInfo
    from reqif.models.reqif_req_if_content import ReqIFReqIFContent
    from reqif.models.reqif_reqif_header import ReqIFReqIFHeader
    from reqif.models.reqif_spec_hierarchy import ReqIFSpecHierarchy
    from reqif.models.reqif_spec_object import ReqIFSpecObject, SpecObjectAttribute
    from reqif.models.reqif_spec_object_type import ReqIFSpecObjectType, SpecAttributeDefinition
    from reqif.models.reqif_spec_relation import ReqIFSpecRelation
    from reqif.models.reqif_spec_relation_type import ReqIFSpecRelationType
    from reqif.models.reqif_specification import ReqIFSpecification
    from reqif.models.reqif_specification_type import ReqIFSpecificationType
    from reqif.models.reqif_types import SpecObjectAttributeType
    from reqif.object_lookup import ReqIFObjectLookup
    from reqif.reqif_bundle import ReqIFBundle
    from reqif.unparser import ReqIFUnparser

    STRING = SpecObjectAttributeType.STRING
    text = ReqIFDataTypeDefinitionString(identifier=_id("DT", "text"), last_change=stamp,
                                         long_name="text", max_length="100000")

    def obj_type(name: str, fields: tuple[tuple[str, str], ...]) -> ReqIFSpecObjectType:
        return ReqIFSpecObjectType(
            identifier=_id("SOT", name), last_change=stamp, long_name=name,
            attribute_definitions=[SpecAttributeDefinition(
                attribute_type=STRING, identifier=_id("AD", f"{name}.{f}"), last_change=stamp,
                datatype_definition=text.identifier, long_name=f) for f, _ in fields])

    req_type, haz_type = obj_type("Requirement", REQ_FIELDS), obj_type("Hazard", HAZ_FIELDS)
    spec_type = ReqIFSpecificationType(identifier=_id("ST", "spec"), last_change=stamp,
                                       long_name="Requirements specification")
    rel_type = ReqIFSpecRelationType(identifier=_id("SRT", "controls"), last_change=stamp,
                                     long_name="controls")

    def obj(kind: str, type_: ReqIFSpecObjectType, fields: tuple[tuple[str, str], ...],
            values: dict[str, str]) -> ReqIFSpecObject:
        return ReqIFSpecObject(
            identifier=_id(kind, values["ID"]), spec_object_type=type_.identifier, last_change=stamp,
            long_name=values["ID"],
            attributes=[SpecObjectAttribute(attribute_type=STRING, value=values[key],
                                            definition_ref=_id("AD", f"{type_.long_name}.{f}"))
                        for f, key in fields])

    objects, relations, children = [], [], []
    for r in requirements:
        values = {"ID": r["id"], "statement": r["statement"],
                  "rationale": specs_reqs[r["id"]].get("rationale", ""),
                  "hazards": ", ".join(r["hazards"]), "methods": ", ".join(r["methods"]),
                  "status": r["status"], "tests": "\n".join(r["tests"])}
        objects.append(obj("REQ", req_type, REQ_FIELDS, values))
        for hid in r["hazards"]:
            relations.append(ReqIFSpecRelation(
                identifier=_id("REL", f"{r['id']}->{hid}"), relation_type_ref=rel_type.identifier,
                source=_id("REQ", r["id"]), target=_id("HAZ", hid), last_change=stamp))
    for hz in hazards:
        values = {"ID": hz["id"], "hazard": hz["hazard"], "harm": hz.get("harm", ""),
                  "severity": str(hz.get("severity", "")), "residual_risk": hz.get("residual_risk", "")}
        objects.append(obj("HAZ", haz_type, HAZ_FIELDS, values))
        children.append(ReqIFSpecHierarchy(
            xml_node=None, identifier=_id("SH", hz["id"]), last_change=stamp,
            spec_object=_id("HAZ", hz["id"]), level=1,
            children=[ReqIFSpecHierarchy(xml_node=None, identifier=_id("SH", f"{hz['id']}/{rid}"),
                                         last_change=stamp, spec_object=_id("REQ", rid), level=2)
                      for rid in hz["controls"]]))
    spec = ReqIFSpecification(identifier=_id("SPEC", "iontocore"), last_change=stamp,
                              long_name="iontocore requirements", specification_type=spec_type.identifier,
                              children=children)
    content = ReqIFReqIFContent(data_types=[text], spec_types=[req_type, haz_type, spec_type, rel_type],
                                spec_objects=objects, spec_relations=relations, specifications=[spec])
    bundle = ReqIFBundle(
        namespace_info=ReqIFNamespaceInfo.create_default(),
        req_if_header=ReqIFReqIFHeader(identifier=_id("HDR", "iontocore"), creation_time=stamp,
                                       req_if_tool_id="iontocore evidence/build.py (reqif library)",
                                       req_if_version="1.0", source_tool_id="iontocore", title=title),
        core_content=ReqIFCoreContent(req_if_content=content), tool_extensions_tag_exists=False,
        lookup=ReqIFObjectLookup.empty(), exceptions=[])
    return ReqIFUnparser.unparse(bundle)


def validate(path: Path) -> list[str]:
    """Problems with the file: against the ReqIF XML schema shipped with `reqif`, then parsed
    back by `reqif` (empty when valid)."""
    import reqif
    import xmlschema
    from reqif.parser import ReqIFParser

    root = Path(reqif.__file__).resolve().parent
    path = path.resolve()
    old = os.getcwd()
    try:
        os.chdir(root.parent)  # the schema imports its parts by relative paths (as reqif validate)
        schema = xmlschema.XMLSchema(str(root / "reqif_schema" / "reqif.xsd"))
        errors = [f"ReqIF schema: {e.reason} at {e.path}" for e in schema.iter_errors(str(path))]
    except xmlschema.XMLSchemaException as exc:  # not XML at all
        errors = [f"ReqIF: {exc}".splitlines()[0]]
    finally:
        os.chdir(old)
    if errors:
        return errors[:10]
    try:
        ReqIFParser.parse(str(path))
    except Exception as exc:  # the library's parse errors have no common base
        return [f"ReqIF: reqif cannot parse it back: {exc}"]
    return []
