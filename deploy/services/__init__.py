"""Embedded local services: PostgreSQL, the Tansu Kafka-protocol broker and SeaweedFS."""

from deploy.services.broker import EmbeddedBroker
from deploy.services.errors import (
    BinaryMissingError,
    DataDirNotWritableError,
    NotConfiguredError,
    PortInUseError,
    ServiceError,
    ServiceStartError,
)
from deploy.services.object_store import EmbeddedObjectStore
from deploy.services.postgres import EmbeddedPostgres
from deploy.services.stack import (
    Endpoints,
    default_data_dir,
    resolve_database_url,
    resolve_endpoints,
    resolve_kafka,
    stack_status,
    start_stack,
    stop_stack,
)

__all__ = [
    "BinaryMissingError",
    "DataDirNotWritableError",
    "EmbeddedBroker",
    "EmbeddedObjectStore",
    "EmbeddedPostgres",
    "Endpoints",
    "NotConfiguredError",
    "PortInUseError",
    "ServiceError",
    "ServiceStartError",
    "default_data_dir",
    "resolve_database_url",
    "resolve_endpoints",
    "resolve_kafka",
    "stack_status",
    "start_stack",
    "stop_stack",
]
