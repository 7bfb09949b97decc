"""Serve the monitoring page's static files at ``/monitor/`` and send ``/`` there.

The files hold no study data: the page asks for a token at sign-in and reads everything
through the role-checked ``/v1`` routes, so serving them without a token exposes nothing.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PREFIX = "/monitor"


async def _to_monitor(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


def mount_monitoring(app: FastAPI) -> None:
    """Add the page (a Starlette mount, so not an API route and not in the OpenAPI)."""
    app.mount(PREFIX, StaticFiles(directory=STATIC, html=True), name="monitor")
    app.router.add_route("/", _to_monitor, methods=["GET"], include_in_schema=False)
