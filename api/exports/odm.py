"""CDISC ODM 1.3.2 ``ClinicalData`` from export rows — a documented subset.

Per subject: ``SubjectData`` (with ``SiteRef``) → one ``StudyEventData``
(``SE.WEARABLE``) → one ``FormData`` (``F.WEARABLE``) → one ``ItemGroupData`` per reading,
``ItemGroupOID`` ``IG.<METRIC>`` and the reading's natural key as ``ItemGroupRepeatKey``,
with ``ItemData`` for time, value, unit and device. All ``TransactionType="Upsert"``, so a
re-sent page updates the same records. No MetaDataVersion is sent; the receiving EDC maps
the OIDs above (listed in docs/api.md).

Protocol deviations use the same shape with ``StudyEventOID`` ``SE.WEARABLE``, ``FormOID``
``F.DEVIATION``, one ``ItemGroupData`` ``IG.DEVIATION`` per deviation keyed
``<subject>|<day>|<kind>``, with items for day, kind, observed, required, unit and status.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import groupby

from storage.queries.exports import DeviationRow, ExportRow

NS = "http://www.cdisc.org/ns/odm/v1.3"


# (subject, site, item group OID, repeat key, [(item OID, value)])
_Group = tuple[str, str, str, str, list[tuple[str, str]]]


def clinical_data(rows: list[ExportRow], *, study: str, file_oid: str) -> bytes:
    """Readings: one ``IG.<METRIC>`` item group each, in form ``F.WEARABLE``."""
    ordered = sorted(rows, key=lambda r: (r.subject, r.time, r.key))
    return _odm((
        (r.subject, r.site, f"IG.{r.metric.upper()}", r.key,
         [("IT.TIME", r.time.isoformat()), ("IT.VALUE", repr(r.value)), ("IT.UNIT", r.unit),
          ("IT.DEVICE", r.device_id)])
        for r in ordered), study=study, file_oid=file_oid, form_oid="F.WEARABLE")


def deviation_data(rows: list[DeviationRow], *, study: str, file_oid: str) -> bytes:
    """Protocol deviations: one ``IG.DEVIATION`` item group each, in form ``F.DEVIATION``."""
    ordered = sorted(rows, key=lambda r: (r.subject, r.day, r.kind))
    return _odm((
        (r.subject, r.site, "IG.DEVIATION", r.key,
         [("IT.DAY", r.day.isoformat()), ("IT.KIND", r.kind), ("IT.OBSERVED", repr(r.observed)),
          ("IT.REQUIRED", repr(r.required)), ("IT.UNIT", r.unit), ("IT.STATUS", r.status)])
        for r in ordered), study=study, file_oid=file_oid, form_oid="F.DEVIATION")


def _odm(groups: Iterable[_Group], *, study: str, file_oid: str, form_oid: str) -> bytes:
    """The ODM document; ``groups`` must come ordered by subject."""
    ET.register_namespace("", NS)
    odm = ET.Element(f"{{{NS}}}ODM", {
        "FileType": "Transactional", "FileOID": file_oid, "ODMVersion": "1.3.2",
        "CreationDateTime": datetime.now(UTC).isoformat(timespec="seconds")})
    clinical = ET.SubElement(odm, f"{{{NS}}}ClinicalData",
                             {"StudyOID": study, "MetaDataVersionOID": "MDV.TRIALWIRE.1"})
    for subject, subject_groups in groupby(groups, key=lambda g: g[0]):
        items = list(subject_groups)
        subject_data = ET.SubElement(clinical, f"{{{NS}}}SubjectData",
                                     {"SubjectKey": subject, "TransactionType": "Upsert"})
        ET.SubElement(subject_data, f"{{{NS}}}SiteRef", {"LocationOID": items[0][1]})
        event = ET.SubElement(subject_data, f"{{{NS}}}StudyEventData",
                              {"StudyEventOID": "SE.WEARABLE"})
        form = ET.SubElement(event, f"{{{NS}}}FormData", {"FormOID": form_oid})
        for _, _, group_oid, key, values in items:
            group_data = ET.SubElement(form, f"{{{NS}}}ItemGroupData", {
                "ItemGroupOID": group_oid, "ItemGroupRepeatKey": key,
                "TransactionType": "Upsert"})
            for oid, value in values:
                ET.SubElement(group_data, f"{{{NS}}}ItemData", {"ItemOID": oid, "Value": value})
    document: bytes = ET.tostring(odm, encoding="utf-8", xml_declaration=True)
    return document
