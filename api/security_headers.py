"""Security headers on every response (pure ASGI, so streamed exports pass through).

- everywhere: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY``;
- data (``/v1/``): ``Cache-Control: no-store`` (health data must not sit in caches) and a
  CSP that allows nothing (a JSON answer is never a document);
- the monitoring page (``/monitor/``): a CSP allowing only its own scripts, styles and
  requests, and no framing (``frame-ancestors 'none'``).
The OpenAPI pages (``/docs``) load Swagger UI from a CDN and keep no CSP.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from api.http_middleware import HttpMiddleware

COMMON = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
          (b"x-frame-options", b"DENY")]
DATA = [(b"cache-control", b"no-store"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]
PAGE = [(b"content-security-policy",
         b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
         b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
         b"frame-ancestors 'none'")]


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    if path.startswith("/v1/"):
        return COMMON + DATA
    if path.startswith("/monitor"):
        return COMMON + PAGE
    return COMMON


class SecurityHeaders(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = headers_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in extra if k not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
