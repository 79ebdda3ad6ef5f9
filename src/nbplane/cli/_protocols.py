"""Corrections to uvicorn's protocols, passed to `uvicorn.Config` as classes.

- The request line and headers are bounded (`MAX_HEAD_BYTES`): httptools has no limit of its own and
  assembles each header in memory, so one unauthenticated 256 MiB header took 78 s and 440 MB of RSS while
  other clients' requests stalled. Past the limit the client gets 431 with an OCI error body and the connection
  is closed, before anything reaches the application. (uvicorn's h11 implementation, not used here, bounds an
  incomplete event at `h11_max_incomplete_event_size`, 16 KiB by default.)

- An idle keep-alive connection is aborted at shutdown instead of closed: over TLS, `close()` waits for the
  client's close_notify, which an idle client never sends, so every such connection held a stop for the
  whole graceful-shutdown timeout (10 s measured with three idle httpx clients).
- A refused websocket upgrade (a `websocket.http.response` denial: 401, 404) completes the ASGI exchange:
  uvicorn's websockets-sansio implementation never marks that handshake complete and logs "ASGI callable
  returned without completing handshake." for every refusal (uvicorn PR #3138, open; wsproto already does
  this). Drop the override once that fix is released.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger("nbplane.http")

MAX_HEAD_BYTES = 64 * 1024
"""Request line plus headers, as Tornado's (Jupyter Server's) default `max_header_size`. nbplane's largest
legitimate header is an OCI `Authorization` (bounded at 16 KiB by the signature parser); the SDK's whole request
head is well under 4 KiB."""

_END_OF_HEAD = b"\r\n\r\n"
_LINGER_S = 2.0


def _refusal(limit: int) -> bytes:
    body = json.dumps(
        {"code": "RequestHeaderFieldsTooLarge", "message": f"The request line and headers exceed {limit} bytes."}
    ).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class HttpProtocol(HttpToolsProtocol):  # type: ignore[misc]
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True  # reading a request line and headers
        self._head_size = 0
        self._head_tail = b""  # the last bytes seen, to find an end of headers split across reads
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_open:
            window = self._head_tail + data
            end = window.find(_END_OF_HEAD)
            size = self._head_size + (len(data) if end < 0 else end + len(_END_OF_HEAD) - len(self._head_tail))
            if size > self.max_head_bytes:
                self._refuse()
                return
            if end < 0:
                self._head_size, self._head_tail = size, window[-(len(_END_OF_HEAD) - 1) :]
            else:
                self._head_open = False
        super().data_received(data)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_open, self._head_size, self._head_tail = True, 0, b""  # the next request on this connection

    def _refuse(self) -> None:
        """431, before httptools has seen (and buffered) the oversized head. What the client still sends is
        read and dropped for a moment before the connection closes (a lingering close): closing at once would
        answer its next bytes with a reset, which discards the 431 before the client reads it."""
        self._refused = True
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown client"
        log.warning("refused a request from %s: request line and headers over %d bytes", client, self.max_head_bytes)
        self.transport.write(_refusal(self.max_head_bytes))
        self.loop.call_later(_LINGER_S, self.transport.close)
        self.loop.call_later(_LINGER_S + 5.0, self.transport.abort)  # a TLS close may wait on the client

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()  # idle: nothing in flight, and no TLS close_notify to wait for
        else:
            super().shutdown()


class WebSocketProtocol(WebSocketsSansIOProtocol):  # type: ignore[misc]
    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            self.handshake_complete = True
