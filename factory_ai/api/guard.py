"""What every request meets before a handler reads a byte of its body.

Why a middleware and not a check in the handler: FastAPI reads a multipart upload to its end
(spooling it to a temporary file) before it calls the handler or its token dependency, so a
size check in the handler comes after the bytes, and a client without the token could still
make the daemon take in an unlimited upload. Here a body is bounded by its Content-Length
before it is read, and by counting when it comes in chunks; a write to the API without the
bearer token is refused before its body is read at all. Every answer also carries the headers
that keep browsers from sniffing images into pages and from framing the console.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"content-security-policy", b"frame-ancestors 'none'")]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a chunked body passes its limit. An HTTPException, so that
    FastAPI passes it on as the 413 it is instead of a 400 "error parsing the body"."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit:,} bytes")


def refusal(authorization: str | None, token: str | None) -> HTTPException | None:
    """Why a write with this Authorization header is refused, or None when the bearer token is
    right (compared in constant time)."""
    if not token:
        return HTTPException(403, "writes are disabled: set [api] token (or FACTORY_AI_API__TOKEN) to enable them")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
    return None


class Guard:
    """ASGI middleware: security headers, bearer token on API writes, bounded bodies.

    ``limit(path)`` is the most bytes a request body to ``path`` may have; ``token()`` the API
    token now (read per request, as the handlers do).
    """

    def __init__(self, app: ASGIApp, *, limit: Callable[[str], int], token: Callable[[], str | None],
                 api_prefix: str = "/api/") -> None:
        self.app, self.limit, self.token, self.api_prefix = app, limit, token, api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *(h for h in HEADERS if h[0] not in present)]}
            await send(message)

        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        if scope["method"] in WRITES and scope["path"].startswith(self.api_prefix):
            authorization = headers.get(b"authorization")
            refused = refusal(authorization.decode("latin-1") if authorization else None, self.token())
            if refused is not None:
                await _answer(send_with_headers, refused)
                return
        limit = self.limit(scope["path"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
            await _answer(send_with_headers, BodyTooLarge(limit))
            return
        received = 0

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, bounded, send_with_headers)
        except BodyTooLarge as exc:
            if started:
                raise
            await _answer(send_with_headers, exc)


async def _answer(send: Send, exc: HTTPException) -> None:
    """The JSON error FastAPI itself would give, sent without reading the request's body."""
    body = json.dumps({"detail": exc.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"),
               *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (exc.headers or {}).items())]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
