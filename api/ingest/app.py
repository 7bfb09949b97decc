"""The ingest service on its own (``trialwire ingest serve``): only the gateway routes and
a health probe, for a deployment that puts ingest at the internet edge (behind TLS) and
keeps the study API inside. The API process serves the same routes too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api import errors
from api.ingest.service import IngestService
from api.metrics import MetricsMiddleware
from api.request_limits import BodyLimits
from api.routes import ingest
from api.security_headers import SecurityHeaders
from storage.pool import open_pool
from storage.settings import DatabaseSettings
from stream.kafka.settings import KafkaSettings
from stream.settings import StreamSettings


def create_ingest_app(database: DatabaseSettings, kafka: KafkaSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Look-ups only on cache misses: a small pool.
        app.state.pool = await open_pool(
            database.model_copy(update={"pool_min_size": 1, "pool_max_size": 4}),
            name="ingest")
        app.state.ingest = IngestService(kafka, app.state.pool, database.dsn(),
                                         platform_group=StreamSettings().app_id)
        try:
            await app.state.ingest.start()
            yield
        finally:
            await app.state.ingest.stop()
            await app.state.pool.close()

    app = FastAPI(title="trialwire ingest", version="1", lifespan=lifespan,
                  description="Gateways upload envelopes and read their own persisted "
                              "watermarks here.")
    app.include_router(ingest.router)
    app.router.add_route("/healthz", _health, methods=["GET"], include_in_schema=False)
    app.add_middleware(BodyLimits)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(SecurityHeaders)
    errors.install(app)
    return app


async def _health(request: Request) -> Response:
    """200 while the Kafka producer is up (uploads are possible); the database is not
    needed for known gateways (cached), so its outage does not fail this probe."""
    service: IngestService | None = getattr(request.app.state, "ingest", None)
    if service is None or service.producer is None:
        return JSONResponse({"status": "unavailable", "reason": "producer"}, status_code=503)
    return JSONResponse({"status": "ok", "watermarks_caught_up":
                         service.board.caught_up.is_set()})
