"""classify() sorts driver errors into retryable (wait and retry) and permanent ones."""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors

from storage.errors import PermanentStorageError, RetryableStorageError, classify


def test_connection_loss_deadlock_and_os_errors_are_retryable() -> None:
    for exc in (psycopg.OperationalError("server closed the connection"),
                pg_errors.DeadlockDetected("deadlock"), ConnectionRefusedError(111, "refused"),
                TimeoutError()):
        assert isinstance(classify(exc), RetryableStorageError), exc


def test_data_errors_are_permanent_and_keep_the_message() -> None:
    found = classify(psycopg.DataError("cannot dump lists of mixed types"))
    assert isinstance(found, PermanentStorageError)
    assert "mixed types" in str(found)
