"""Two small corrections to uvicorn's protocols, passed to `uvicorn.Config` as classes.

- An idle keep-alive connection is aborted at shutdown instead of closed: over TLS, `close()` waits for the
  client's close_notify, which an idle client never sends, so every such connection held a stop for the
  whole graceful-shutdown timeout (10 s measured with three idle httpx clients).
- A refused websocket upgrade (a `websocket.http.response` denial: 401, 404) completes the ASGI exchange:
  uvicorn's websockets-sansio implementation never marks that handshake complete and logs "ASGI callable
  returned without completing handshake." for every refusal (uvicorn PR #3138, open; wsproto already does
  this). Drop the override once that fix is released.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class HttpProtocol(HttpToolsProtocol):  # type: ignore[misc]
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
