"""The session history as a FHIR R4 Bundle (JSON), for a clinic's records system.

One Procedure per session (status from the outcome, performed period, the prescription as
a note and identifiers), and for each session that delivered current two Observations
(the charge in mA*min, the treatment time in min) and one for its peak current (mA), each
`partOf` nothing and pointing at its Procedure through `partOf`/`focus`. Built as plain
dicts with the standard library; tests validate it with the `fhir.resources` models
(R4B, FHIR 4.3, the R4 line), so this module needs no FHIR library at run time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .history import Row

SYSTEM = "urn:iontocore"
STATUS = {"completed": "completed", "stopped": "stopped", "faulted": "stopped",
          "killed": "stopped", "running": "in-progress"}
UCUM = "http://unitsofmeasure.org"


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": round(value, 4), "unit": unit, "system": UCUM, "code": code}


def bundle(rows: list[Row], device_id: str) -> dict[str, Any]:
    """A `collection` Bundle of every session in `rows`."""
    entries: list[dict[str, Any]] = []
    for row in rows:
        pid = f"session-{row.seq}"
        period: dict[str, str] = {"start": _iso(row.started_ms)}
        if row.ended_ms is not None:
            period["end"] = _iso(row.ended_ms)
        procedure: dict[str, Any] = {
            "resourceType": "Procedure", "id": pid,
            "identifier": [{"system": f"{SYSTEM}:session", "value": f"{device_id}/{row.seq}"}],
            "status": STATUS[row.outcome],
            "code": {"text": f"iontophoresis ({row.family})"},
            "subject": {"identifier": {"system": f"{SYSTEM}:patient",
                                       "value": row.patient or "unknown"}},
            "performedPeriod": period,
            "note": [{"text": f"{row.outcome}: {row.reason}"},
                     {"text": f"profile {row.profile}; prescription {row.rx_id or '(unsigned)'} "
                              f"version {row.rx_version or '-'}, sha256 {row.rx_sha256}"
                              + (f", signed by {row.signer} ({row.key_id})" if row.signer else "")}],
        }
        if row.outcome != "completed":
            procedure["statusReason"] = {"text": row.reason[:500]}
        entries.append({"fullUrl": f"urn:uuid:{pid}", "resource": procedure})
        if row.delivered_uams is None:
            continue
        peak = max((abs(p[1]) for p in row.trace), default=0)
        for name, quantity in (("dose", _quantity(row.delivered_uams / 60e6, "mA.min", "mA.min")),
                               ("treatment-time", _quantity((row.treatment_ms or 0) / 60_000,
                                                            "min", "min")),
                               ("peak-current", _quantity(peak / 1000, "mA", "mA"))):
            oid = f"{pid}-{name}"
            entries.append({"fullUrl": f"urn:uuid:{oid}", "resource": {
                "resourceType": "Observation", "id": oid, "status": "final",
                "code": {"coding": [{"system": f"{SYSTEM}:observation", "code": name}],
                         "text": {"dose": "delivered charge", "treatment-time": "treatment time",
                                  "peak-current": "peak measured current"}[name]},
                "subject": procedure["subject"],
                "partOf": [{"reference": f"urn:uuid:{pid}"}],
                "effectivePeriod": period, "valueQuantity": quantity}})
    return {"resourceType": "Bundle", "type": "collection",
            "timestamp": _iso(max((r.ended_ms or r.started_ms for r in rows), default=0)),
            "identifier": {"system": f"{SYSTEM}:export", "value": device_id},
            "entry": entries}
