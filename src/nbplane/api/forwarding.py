"""Forwarding to the node that runs a kernel: HTTP requests (the kernels API's get, delete, interrupt and
restart; a session refresh) are sent on as they came, and a kernel websocket is proxied frame by frame.

Both carry the caller this node authenticated, signed for the owning node (`nbplane.auth.forwarded`); the
owner authorises the request again and serves it from its own routes, so what a client sees is what the owner
answers. A request that was itself forwarded is never forwarded again (no loops between nodes that disagree).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import httpx
from fastapi import Request, Response, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from nbplane import errors
from nbplane.auth.authenticator import RequestFacts
from nbplane.auth.forwarded import HEADERS as FORWARDING_HEADERS
from nbplane.auth.forwarded import forward_headers
from nbplane.auth.principal import Principal
from nbplane.nodes.models import NodeInfo
from nbplane.nodes.signing import is_signed
from nbplane.services import Services

log = logging.getLogger(__name__)

# Not passed on: hop-by-hop headers, the client's credentials (the forwarding signature replaces them) and
# what the HTTP client or this server sets itself.
_DROP_REQUEST = {
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "authorization",
    "x-date",
    "date",
    "upgrade",
    *FORWARDING_HEADERS,
}
_DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "server"}
_DROP_RESPONSE |= {"date", "opc-request-id"}
_UNSENDABLE_CLOSE = {1005, 1006, 1015}


def was_forwarded(headers: object) -> bool:
    """True for a request another node forwarded here (already verified by the authenticator)."""
    return is_signed({k.lower(): v for k, v in dict(headers).items()})  # type: ignore[call-overload]


def _unreachable(node: NodeInfo, exc: Exception) -> errors.BackendError:
    return errors.BackendError(f"The nbplane server that runs this kernel ({node.describe()}) did not answer: {exc}")


async def forward_http(request: Request, services: Services, node: NodeInfo, principal: Principal) -> Response:
    """Send this request to `node` on behalf of `principal`; its answer is this request's answer."""
    assert node.address is not None
    body = await request.body()
    raw_path = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    facts = RequestFacts(request.method, raw_path, query, {}, body)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST}
    headers.update(forward_headers(services.node_signer, node.id, facts, principal))
    url = node.address + raw_path + (f"?{query}" if query else "")
    timeout = httpx.Timeout(services.settings.kernel_start_timeout + 30, connect=10)
    try:
        async with httpx.AsyncClient(verify=services.peer_ssl, timeout=timeout) as client:
            answer = await client.request(request.method, httpx.URL(url), headers=headers, content=body)
    except httpx.HTTPError as exc:
        raise _unreachable(node, exc) from exc
    kept = {k: v for k, v in answer.headers.items() if k.lower() not in _DROP_RESPONSE}
    return Response(content=answer.content, status_code=answer.status_code, headers=kept)


def _refusal(status: int, body: bytes) -> errors.NbplaneError:
    """The owner's refusal of the upgrade as the error this node refuses its client with."""
    try:
        message = str(json.loads(body).get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    message = message or f"The kernel's server refused the websocket ({status})."
    if status == 404:
        return errors.NotFoundError(message)
    if status == 401:
        return errors.NotAuthenticatedError(message)
    if status == 409:
        return errors.ConflictError(message)
    if 400 <= status < 500:
        return errors.InvalidInputError(message)
    return errors.BackendError(message)


async def open_upstream(
    websocket: WebSocket, services: Services, node: NodeInfo, principal: Principal
) -> ClientConnection:
    """Open the owner's kernel websocket for this upgrade (same path, query and offered subprotocols).
    Raises the owner's refusal as a domain error, BackendError when it cannot be reached."""
    assert node.address is not None
    raw_path = (websocket.scope.get("raw_path") or websocket.scope["path"].encode()).decode("latin-1")
    query = websocket.scope.get("query_string", b"").decode("latin-1")
    headers = forward_headers(services.node_signer, node.id, RequestFacts("GET", raw_path, query, {}, b""), principal)
    url = "wss://" + node.address.split("://", 1)[-1] + raw_path + (f"?{query}" if query else "")
    offered = list(websocket.scope.get("subprotocols") or [])
    try:
        return await connect(
            url,
            ssl=services.peer_ssl,
            subprotocols=offered or None,  # type: ignore[arg-type]
            additional_headers=headers,
            max_size=services.settings.max_body_bytes,
            open_timeout=30,
        )
    except InvalidStatus as exc:
        raise _refusal(exc.response.status_code, exc.response.body or b"") from exc
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise _unreachable(node, exc) from exc


async def proxy(websocket: WebSocket, upstream: ClientConnection) -> None:
    """Accept the client with the subprotocol the owner chose, then pump frames both ways (each send waits
    for the other side, so a slow reader slows the writer down) until one side closes; the other is then
    closed with its code and reason."""
    try:
        await websocket.accept(subprotocol=upstream.subprotocol)
        down = asyncio.create_task(_downstream(websocket, upstream))
        up = asyncio.create_task(_upstream(websocket, upstream))
        try:
            await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (down, up):
                task.cancel()
            await asyncio.gather(down, up, return_exceptions=True)
        if down.done() and not down.cancelled() and websocket.application_state is WebSocketState.CONNECTED:
            code = upstream.close_code
            code = 1011 if code is None or code in _UNSENDABLE_CLOSE else code
            with contextlib.suppress(Exception):
                await websocket.close(code=code, reason=upstream.close_reason or None)
    finally:
        await upstream.close()


async def _downstream(websocket: WebSocket, upstream: ClientConnection) -> None:
    """Owner → client until the owner closes."""
    with contextlib.suppress(ConnectionClosed):
        async for frame in upstream:
            if isinstance(frame, str):
                await websocket.send_text(frame)
            else:
                await websocket.send_bytes(frame)


async def _upstream(websocket: WebSocket, upstream: ClientConnection) -> None:
    """Client → owner until the client goes away (then the owner's side is closed with the client's code)."""
    code, reason = 1000, ""
    try:
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                code, reason = int(event.get("code") or 1000), str(event.get("reason") or "")
                break
            frame = event.get("text")
            if frame is None:
                frame = event.get("bytes")
            if frame is not None:
                await upstream.send(frame)
    except WebSocketDisconnect as exc:
        code, reason = exc.code, str(exc.reason or "")
    except ConnectionClosed:
        return
    with contextlib.suppress(Exception):
        await upstream.close(code=1000 if code in _UNSENDABLE_CLOSE else code, reason=reason)
