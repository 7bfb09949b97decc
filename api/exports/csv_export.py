"""CSV export rows: one line per reading, pseudonymous subject codes only."""

from __future__ import annotations

import csv
import io

from api.exports.page import ExportRow

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
