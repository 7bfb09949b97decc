"""The FastAPI application: ``create_app`` opens the database pool for its lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import msgspec
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api import errors
from api.ingest.service import IngestService
from api.live.hub import FlagEventHub
from api.metrics import MetricsMiddleware
from api.request_limits import BodyLimits
from api.routes import (
    alert_channels,
    analytics,
    audit,
    completeness,
    events,
    exports,
    flags,
    gateways,
    ingest,
    overview,
    readings,
    registry,
    registry_changes,
    study_rules,
    subject_lifecycle,
)
from api.security_headers import SecurityHeaders
from api.settings import ApiSettings
from api.web.mount import mount_monitoring
from storage.pool import open_pool
from storage.queries import health
from storage.settings import DatabaseSettings
from stream.contract.envelope import Envelope
from stream.contract.loss_evidence import BatchCheck
from stream.kafka.settings import KafkaSettings
from stream.settings import StreamSettings


class Error(BaseModel):
    """Every error answer: ``detail`` says what is wrong (a list when there are several)."""

    detail: str | list[Any]


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error, "description": text} for code, text in (
        (400, "Malformed request (e.g. a body that is not JSON)"),
        (401, "Missing, invalid, expired or revoked token"),
        (403, "The token's role or study may not do this"),
        (404, "Not found (or not in this study)"),
        (409, "Conflicts with the current state"),
        (413, "Request too large"),
        (503, "A dependency (database, broker) is unavailable; retry later"))}


def create_app(database: DatabaseSettings, kafka: KafkaSettings | None = None,
               settings: ApiSettings | None = None) -> FastAPI:
    """The app; without ``kafka`` the HTTP ingest route answers 503."""
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await open_pool(database, name="api")
        app.state.ingest = None
        app.state.export_lag = timedelta(seconds=settings.export_lag_s)
        app.state.settings = settings
        app.state.flag_events = FlagEventHub(database.dsn(),
                                             max_subscribers=settings.live_max_subscribers)
        await app.state.flag_events.start()
        try:
            if kafka is not None:
                app.state.ingest = IngestService(kafka, app.state.pool, database.dsn(),
                                                 platform_group=StreamSettings().app_id)
                await app.state.ingest.start()
            yield
        finally:
            if app.state.ingest is not None:
                await app.state.ingest.stop()
            await app.state.flag_events.stop()
            await app.state.pool.close()

    app = FastAPI(title="trialwire", version="1", lifespan=lifespan, responses=ERRORS,
                  description="Study database API: registry, readings, flags, exports. The monitoring"
                              " page is served at /monitor/.")
    app.include_router(registry.router)
    app.include_router(subject_lifecycle.router)
    app.include_router(registry_changes.router)
    app.include_router(study_rules.router)
    app.include_router(readings.router)
    app.include_router(flags.router)
    app.include_router(events.router)
    app.include_router(alert_channels.router)
    app.include_router(audit.router)
    app.include_router(gateways.router)
    app.include_router(ingest.router)
    app.include_router(exports.router)
    app.include_router(completeness.router)
    app.include_router(analytics.router)
    app.include_router(overview.router)
    mount_monitoring(app)
    app.router.add_route("/healthz", _health, methods=["GET"], include_in_schema=False)
    app.add_middleware(BodyLimits)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(SecurityHeaders)
    errors.install(app)
    _document_envelope(app)
    return app


async def _health(request: Request) -> Response:
    """Liveness/readiness probe: 200 when a pooled database connection answers, else 503.

    Not an API route (no token, not in OpenAPI): it says nothing about any study.
    """
    try:
        async with request.app.state.pool.connection(timeout=2.0) as conn:
            await health.ping(conn)
    except Exception as exc:  # any failure means: not ready; say which
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__},
                            status_code=503)
    return JSONResponse({"status": "ok"})


def _document_envelope(app: FastAPI) -> None:
    """Put the wire envelope's and the batch check's schemas (msgspec, the same the
    decoders enforce) into the OpenAPI components, where the ingest routes' request
    bodies refer to them."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            (_, components) = msgspec.json.schema_components(
                [Envelope, BatchCheck], ref_template="#/components/schemas/{name}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
