"""``python -m stream``: the stream worker, configured only by ``TRIALWIRE_*`` variables
(``TRIALWIRE_DATABASE_URL``, ``TRIALWIRE_KAFKA_*``, ``TRIALWIRE_STREAM_*``), as in a
container; ``trialwire stream worker`` also finds the embedded services."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from stream import worker
from stream.kafka.settings import KafkaSettings
from stream.settings import StreamSettings


def main() -> int:
    """Run the worker; exit 2 with a message when the database URL is not set."""
    dsn = os.environ.get("TRIALWIRE_DATABASE_URL")
    if not dsn:
        print("error: set TRIALWIRE_DATABASE_URL", file=sys.stderr)  # noqa: T201
        return 2
    logging.basicConfig(level=os.environ.get("TRIALWIRE_LOG_LEVEL", "INFO").upper())
    data_dir = Path(os.environ.get("TRIALWIRE_DATA_DIR", "."))
    worker.run(settings=StreamSettings(), kafka=KafkaSettings(), dsn=dsn, data_dir=data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
