"""FHIR R4 Observation bundles from export rows: readings (vital signs, glucose) and
protocol deviations.

A ``transaction`` bundle of conditional updates (``PUT Observation?identifier=…``) keyed
by the reading's natural key, so loading a page twice into an EDC/FHIR server changes
nothing. Codes: LOINC (and the IEEE 11073 MDC code) from the metric vocabulary; units in
UCUM; subject and device as references by their pseudonymous codes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from devices.model import GLUCOSE_CODES, METRICS
from storage.queries.exports import DeviationRow, ExportRow

IDENTIFIER_SYSTEM = "urn:trialwire:reading"
DEVIATION_SYSTEM = "urn:trialwire:protocol-deviation"
DEVIATION_KINDS = "urn:trialwire:protocol-deviation-kind"
_UCUM = "http://unitsofmeasure.org"
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_DEVIATION_TEXT = {"wear_time": "Daily wear time below the study minimum",
                   "completeness": "Daily data completeness below the study minimum"}
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
                          "system": _UCUM, "code": row.unit},
    }


def deviation_observation(row: DeviationRow) -> dict[str, Any]:
    """A protocol deviation as an Observation of the day's figure against the minimum
    (``referenceRange.low``), interpreted as low; the review status goes in a note."""
    start = datetime_of(row.day)
    return {
        "resourceType": "Observation",
        "identifier": [{"system": DEVIATION_SYSTEM, "value": row.key}],
        "status": "final",
        "category": [{"coding": [{"system": DEVIATION_KINDS, "code": "protocol-deviation"}]}],
        "code": {"coding": [{"system": DEVIATION_KINDS, "code": row.kind,
                             "display": _DEVIATION_TEXT[row.kind]}],
                 "text": _DEVIATION_TEXT[row.kind]},
        "subject": {"reference": f"Patient/{row.subject}"},
        "effectivePeriod": {"start": start.isoformat(),
                            "end": (start + timedelta(days=1)).isoformat()},
        "valueQuantity": {"value": row.observed, "unit": row.unit, "system": _UCUM,
                          "code": row.unit},
        "referenceRange": [{"low": {"value": row.required, "unit": row.unit, "system": _UCUM,
                                    "code": row.unit}}],
        "interpretation": [{"coding": [{"system": _INTERPRETATION, "code": "L"}]}],
        "note": [{"text": f"review status: {row.status}"}],
    }


def datetime_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def bundle(rows: list[ExportRow], *, next_url: str | None = None) -> dict[str, Any]:
    """Readings as a transaction bundle of conditional updates."""
    return _transaction([(row.key, observation(row)) for row in rows], IDENTIFIER_SYSTEM,
                        next_url)


def deviation_bundle(rows: list[DeviationRow], *, next_url: str | None = None,
                     ) -> dict[str, Any]:
    """Protocol deviations as a transaction bundle of conditional updates."""
    return _transaction([(row.key, deviation_observation(row)) for row in rows],
                        DEVIATION_SYSTEM, next_url)


def _transaction(items: list[tuple[str, dict[str, Any]]], system: str,
                 next_url: str | None) -> dict[str, Any]:
    entries = [{
        "fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{system}|{key}')}",
        "resource": resource,
        "request": {"method": "PUT", "url": f"Observation?identifier={system}|{key}"},
    } for key, resource in items]
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    if next_url:
        out["link"] = [{"relation": "next", "url": next_url}]
    return out
