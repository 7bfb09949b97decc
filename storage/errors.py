"""Storage errors: one root, with psycopg errors sorted into retryable and permanent."""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors


class StorageError(Exception):
    """Root of storage errors; ``reason`` is a stable machine-readable code."""

    reason = "storage_error"


class RetryableStorageError(StorageError):
    """The database is unreachable or the transaction lost a race: try again later."""

    reason = "database_unavailable"


class PermanentStorageError(StorageError):
    """The write can never succeed as sent (constraint, bad data, schema mismatch)."""

    reason = "database_rejected"


class InvalidReadingError(PermanentStorageError, ValueError):
    """A reading fails the storage checks (non-finite, out of range, unknown metric, naive time)."""

    reason = "invalid_reading"

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class MigrationError(StorageError):
    """A migration failed or the recorded history does not match the code."""

    reason = "migration_failed"


class SchemaTooNewError(MigrationError):
    """The database was migrated by a newer trialwire than this one."""

    reason = "schema_too_new"


class NotMigratedError(StorageError):
    """The schema is missing: ``trialwire db migrate`` has not run."""

    reason = "not_migrated"


_RETRYABLE = (
    pg_errors.OperationalError,  # connection refused/lost, admin shutdown, ...
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
    pg_errors.QueryCanceled,
    pg_errors.AdminShutdown,
    pg_errors.CannotConnectNow,
)


def classify(exc: BaseException) -> StorageError:
    """Wrap a psycopg (or pool/OS) error in the retryable or permanent storage error."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, (*_RETRYABLE, OSError, TimeoutError)):
        return RetryableStorageError(str(exc) or type(exc).__name__)
    try:
        from psycopg_pool import PoolTimeout

        if isinstance(exc, PoolTimeout):
            return RetryableStorageError(str(exc))
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, psycopg.Error):
        return PermanentStorageError(str(exc))
    return StorageError(str(exc))


def is_retryable(exc: BaseException) -> bool:
    """True when the same work may succeed later (the one classification every retry loop
    over the database uses)."""
    return isinstance(classify(exc), RetryableStorageError)


# SQLSTATE classes that blame the rows, not the database: 22 data exception (a value out
# of a column's range, a NUL in text), 23 integrity constraint violation, 54 program limit
# exceeded (a row or array too large). The same rows fail again; other rows may pass.
_ROW_SQLSTATE_CLASSES = ("22", "23", "54")


def is_record_specific(exc: BaseException) -> bool:
    """True when the database refused these rows in particular (so splitting the batch
    isolates the culprit), as opposed to being unreachable or misconfigured."""
    if isinstance(exc, InvalidReadingError):
        return True
    if isinstance(exc, StorageError):  # classify()'s wrapper: judge what it wraps
        cause = exc.__cause__ or exc.__context__
        return cause is not None and is_record_specific(cause)
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        # psycopg's own client-side conversion errors (an int too large for the binary
        # format) carry no SQLSTATE but are DataErrors.
        return (state is None and isinstance(exc, psycopg.DataError)) or (
            state is not None and state[:2] in _ROW_SQLSTATE_CLASSES)
    # Python-side conversion of one value (the COPY dumpers) fails the same way.
    return isinstance(exc, (OverflowError, ValueError, UnicodeError))
