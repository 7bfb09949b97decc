"""The FastAPI application: ``create_app`` opens the database pool for its lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.routes import audit, flags, gateways, readings, registry
from storage.pool import open_pool
from storage.settings import DatabaseSettings


def create_app(database: DatabaseSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await open_pool(database, name="api")
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="trialwire", version="1", lifespan=lifespan,
                  description="Study database API: registry, readings, flags, exports.")
    app.include_router(registry.router)
    app.include_router(readings.router)
    app.include_router(flags.router)
    app.include_router(audit.router)
    app.include_router(gateways.router)
    return app
