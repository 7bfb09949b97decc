"""Domain errors to HTTP answers, in one place: a dependency that is down or saturated is a
503 with ``Retry-After`` (never a 500); data the database can never accept is a 409; a
reading outside the storage checks is a 422. Routes raise domain errors; they map here."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

from storage.errors import (
    InvalidReadingError,
    NotMigratedError,
    PermanentStorageError,
    RetryableStorageError,
    StorageError,
    classify,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5


def status_for(error: StorageError) -> int:
    """The HTTP status of a classified storage error."""
    if isinstance(error, InvalidReadingError):
        return 422
    if isinstance(error, RetryableStorageError | NotMigratedError):
        return 503
    if isinstance(error, PermanentStorageError):
        return 409
    return 503


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    error = classify(exc)
    status = status_for(error)
    logger.warning("%s %s: %s (%s)", request.method, request.url.path, error.reason, status)
    detail = ("the database is unavailable or busy; retry later" if status == 503
              else str(error).splitlines()[0])
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return JSONResponse({"detail": detail, "reason": error.reason}, status_code=status,
                        headers=headers)


def install(app: FastAPI) -> None:
    """Register the mappings on ``app``."""
    for error in (StorageError, PoolTimeout, psycopg.OperationalError):
        app.add_exception_handler(error, _storage_error)
