"""``python -m api``: the API server configured only by ``TRIALWIRE_*`` variables
(``TRIALWIRE_DATABASE_URL``, ``TRIALWIRE_API_*``, ``TRIALWIRE_KAFKA_*`` for HTTP ingest),
as in a container; ``trialwire api serve`` also finds the embedded services."""

from __future__ import annotations

import logging
import os
import sys

from api import server
from api.settings import ApiSettings
from stream.kafka.settings import KafkaSettings


def main() -> int:
    """Serve; exit 2 with a message when the database URL is not set."""
    dsn = os.environ.get("TRIALWIRE_DATABASE_URL")
    if not dsn:
        print("error: set TRIALWIRE_DATABASE_URL", file=sys.stderr)  # noqa: T201
        return 2
    logging.basicConfig(level=os.environ.get("TRIALWIRE_LOG_LEVEL", "INFO").upper())
    kafka = KafkaSettings() if "TRIALWIRE_KAFKA_BOOTSTRAP" in os.environ else None
    server.run(settings=ApiSettings(), dsn=dsn, kafka=kafka)
    return 0


if __name__ == "__main__":
    sys.exit(main())
