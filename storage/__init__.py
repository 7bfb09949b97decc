"""Storage: schema and migrations, TimescaleDB detection, the idempotent writer and queries."""

from storage.errors import (
    InvalidReadingError,
    MigrationError,
    NotMigratedError,
    PermanentStorageError,
    RetryableStorageError,
    SchemaTooNewError,
    StorageError,
)
from storage.migrate import StorageMode, require_current
from storage.readings import ReadingWriter, WriteResult
from storage.settings import DatabaseSettings

__all__ = [
    "DatabaseSettings",
    "InvalidReadingError",
    "MigrationError",
    "NotMigratedError",
    "PermanentStorageError",
    "ReadingWriter",
    "RetryableStorageError",
    "SchemaTooNewError",
    "StorageError",
    "StorageMode",
    "WriteResult",
    "require_current",
]
