"""CDISC ODM 1.3.2 ``ClinicalData`` from export rows — a documented subset.

Per subject: ``SubjectData`` (with ``SiteRef``) → one ``StudyEventData``
(``SE.WEARABLE``) → one ``FormData`` (``F.WEARABLE``) → one ``ItemGroupData`` per reading,
``ItemGroupOID`` ``IG.<METRIC>`` and the reading's natural key as ``ItemGroupRepeatKey``,
with ``ItemData`` for time, value, unit and device. All ``TransactionType="Upsert"``, so a
re-sent page updates the same records. No MetaDataVersion is sent; the receiving EDC maps
the OIDs above (listed in docs/api.md).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from itertools import groupby

from api.exports.page import ExportRow

NS = "http://www.cdisc.org/ns/odm/v1.3"


def clinical_data(rows: list[ExportRow], *, study: str, file_oid: str) -> bytes:
    ET.register_namespace("", NS)
    odm = ET.Element(f"{{{NS}}}ODM", {
        "FileType": "Transactional", "FileOID": file_oid, "ODMVersion": "1.3.2",
        "CreationDateTime": datetime.now(UTC).isoformat(timespec="seconds")})
    clinical = ET.SubElement(odm, f"{{{NS}}}ClinicalData",
                             {"StudyOID": study, "MetaDataVersionOID": "MDV.TRIALWIRE.1"})
    ordered = sorted(rows, key=lambda r: (r.subject, r.time, r.key))
    for subject, group in groupby(ordered, key=lambda r: r.subject):
        readings = list(group)
        subject_data = ET.SubElement(clinical, f"{{{NS}}}SubjectData",
                                     {"SubjectKey": subject, "TransactionType": "Upsert"})
        ET.SubElement(subject_data, f"{{{NS}}}SiteRef", {"LocationOID": readings[0].site})
        event = ET.SubElement(subject_data, f"{{{NS}}}StudyEventData",
                              {"StudyEventOID": "SE.WEARABLE"})
        form = ET.SubElement(event, f"{{{NS}}}FormData", {"FormOID": "F.WEARABLE"})
        for row in readings:
            group_data = ET.SubElement(form, f"{{{NS}}}ItemGroupData", {
                "ItemGroupOID": f"IG.{row.metric.upper()}", "ItemGroupRepeatKey": row.key,
                "TransactionType": "Upsert"})
            for oid, value in (("IT.TIME", row.time.isoformat()), ("IT.VALUE", repr(row.value)),
                               ("IT.UNIT", row.unit), ("IT.DEVICE", row.device_id)):
                ET.SubElement(group_data, f"{{{NS}}}ItemData", {"ItemOID": oid, "Value": value})
    return ET.tostring(odm, encoding="utf-8", xml_declaration=True)
