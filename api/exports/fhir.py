"""FHIR R4 Observation bundles (vital signs and glucose) from export rows.

A ``transaction`` bundle of conditional updates (``PUT Observation?identifier=…``) keyed
by the reading's natural key, so loading a page twice into an EDC/FHIR server changes
nothing. Codes: LOINC (and the IEEE 11073 MDC code) from the metric vocabulary; units in
UCUM; subject and device as references by their pseudonymous codes.
"""

from __future__ import annotations

import uuid
from typing import Any

from api.exports.page import ExportRow
from devices.model import GLUCOSE_CODES, METRICS

IDENTIFIER_SYSTEM = "urn:trialwire:reading"
_NAMESPACE = uuid.UUID("5f0d2f6e-3e1b-4b8e-9a53-1c8f8e7f4a10")
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _coding(row: ExportRow) -> list[dict[str, str]]:
    spec = METRICS[row.metric]
    mdc, mdc_code, loinc = spec.mdc, spec.mdc_code, spec.loinc
    if row.metric == "glucose" and row.specimen in GLUCOSE_CODES:
        mdc, mdc_code, loinc = GLUCOSE_CODES[row.specimen]
    coding = []
    if loinc:
        coding.append({"system": "http://loinc.org", "code": loinc, "display": spec.description})
    if mdc_code is not None:
        coding.append({"system": "urn:iso:std:iso:11073:10101", "code": str(mdc_code),
                       "display": mdc or row.metric})
    return coding


def observation(row: ExportRow) -> dict[str, Any]:
    category = "laboratory" if row.metric == "glucose" else "vital-signs"
    return {
        "resourceType": "Observation",
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": row.key}],
        "status": "final",
        "category": [{"coding": [{"system": _CATEGORY, "code": category}]}],
        "code": {"coding": _coding(row), "text": row.metric},
        "subject": {"reference": f"Patient/{row.subject}"},
        "device": {"reference": f"Device/{row.device_id}"},
        "effectiveDateTime": row.time.isoformat(),
        "valueQuantity": {"value": row.value, "unit": row.unit,
                          "system": "http://unitsofmeasure.org", "code": row.unit},
    }


def bundle(rows: list[ExportRow], *, next_url: str | None = None) -> dict[str, Any]:
    entries = [{
        "fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, row.key)}",
        "resource": observation(row),
        "request": {"method": "PUT",
                    "url": f"Observation?identifier={IDENTIFIER_SYSTEM}|{row.key}"},
    } for row in rows]
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    if next_url:
        out["link"] = [{"relation": "next", "url": next_url}]
    return out
