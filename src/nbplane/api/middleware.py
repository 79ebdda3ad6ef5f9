"""Pure ASGI middleware: opc-request-id and Date on every response, one access-log line per request, and
the request body limit."""

from __future__ import annotations

import json
import logging
import time
import uuid
from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nbplane.errors import PayloadTooLargeError

access_log = logging.getLogger("nbplane.access")

TRANSFER_PREFIX = "/p/"
"""Download links carry their one-time token as a path segment (`/p/<operation>/<token>/<name>`)."""


def loggable_path(path: str) -> str:
    """The request path as the access log shows it: never the query string (clients may put tokens there)
    and never a download link's token."""
    if path.startswith(TRANSFER_PREFIX):
        parts = path.split("/", 4)
        if len(parts) > 3:
            parts[3] = "<token>"
        return "/".join(parts)
    return path


class RequestIdMiddleware:
    """Echo `opc-request-id` (or mint one) and send `Date` on every HTTP response, errors included; log one
    line per request (method, path without query, status, milliseconds, request id; never a header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"opc-request-id":
                request_id = value.decode("latin-1")[:256]
                break
        if not request_id:
            request_id = uuid.uuid4().hex.upper()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"opc-request-id", request_id.encode("latin-1")))
                headers.append((b"date", formatdate(usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d %.1fms %s",
                    scope["method"],
                    loggable_path(scope["path"]),
                    status,
                    (time.perf_counter() - started) * 1e3,
                    request_id,
                )


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413 before the application reads them all."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLargeError(_too_large_message(self.max_bytes))
            return message

        await self.app(scope, limited_receive, send)


def _too_large_message(limit: int) -> str:
    return f"The request body is larger than the limit of {limit} bytes."


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"code": "PayloadTooLarge", "message": _too_large_message(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
