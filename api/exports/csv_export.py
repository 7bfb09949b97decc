"""CSV exports: one line per reading or per protocol deviation, pseudonymous subject
codes only."""

from __future__ import annotations

import csv
import io

from storage.queries.exports import DeviationRow, ExportRow

DEVIATION_HEADER = ["subject", "site", "day", "kind", "observed", "required", "unit", "status",
                    "updated_at"]
HEADER = ["subject", "site", "device_id", "metric", "time", "value", "unit", "seq",
          "specimen", "quality"]


def to_csv(rows: list[ExportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for r in rows:
        writer.writerow([r.subject, r.site, r.device_id, r.metric, r.time.isoformat(), r.value,
                         r.unit, r.seq, r.specimen or "", r.quality])
    return out.getvalue()


def deviations_to_csv(rows: list[DeviationRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DEVIATION_HEADER)
    for r in rows:
        writer.writerow([r.subject, r.site, r.day.isoformat(), r.kind, r.observed, r.required,
                         r.unit, r.status, r.updated_at.isoformat()])
    return out.getvalue()
