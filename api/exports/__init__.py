"""EDC exports of stored readings: one incremental page query, three formats (FHIR R4
Observation bundles, CDISC ODM 1.3.2 ClinicalData, CSV)."""
