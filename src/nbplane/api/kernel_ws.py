"""The kernel websocket (`…/notebook/api/kernels/{id}/channels`): Jupyter's legacy JSON/binary protocol
and `v1.kernel.websocket.jupyter.org`, bridged to one attachment on the kernel's shared channels."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from nbplane import errors
from nbplane.api import forwarding, urls
from nbplane.api.errors import status_and_code
from nbplane.auth import access
from nbplane.auth.authenticator import RequestFacts
from nbplane.kernels import wsproto
from nbplane.kernels.base import KernelAttachment
from nbplane.services import Services

log = logging.getLogger(__name__)

PATH = f"{urls.NOTEBOOK_API}/kernels/{{kernelId}}/channels"
router = APIRouter()

# Close codes when the kernel side ends a connection (RFC 6455 / IANA registry).
_CLOSE_CODES = {"replaced": 1000, "closed": 1001, "overflow": 1013, "detached": 1000, "dead": 1011}


def _facts(websocket: WebSocket) -> RequestFacts:
    """The upgrade request as the authenticator sees an HTTP request: GET, raw path, headers, no body."""
    raw_path = websocket.scope.get("raw_path") or websocket.scope["path"].encode()
    return RequestFacts(
        method="GET",
        raw_path=raw_path.decode("latin-1"),
        query_string=websocket.scope.get("query_string", b"").decode("latin-1"),
        headers={k.lower(): v for k, v in websocket.headers.items()},
        body=b"",
    )


async def _deny(websocket: WebSocket, exc: errors.NbplaneError) -> None:
    """Refuse the upgrade with the error's HTTP status when the server supports it, else close (403)."""
    status, code = status_and_code(exc)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"code": code, "message": exc.message}, status_code=status))
    else:
        await websocket.close(code=1008, reason=exc.message[:120])


# Jupyter's GatewayClient derives its default ws_url from the gateway URL with `url.lower()`
# (gateway_client.py `_ws_url_default`), path included; accept that spelling too. A workspace key
# with capitals still needs an explicit `--GatewayClient.ws_url`.
@router.websocket(PATH.replace("aiDataPlatforms", "aidataplatforms"))
@router.websocket(PATH)
async def kernel_channels(websocket: WebSocket, aiDataPlatformId: str, workspaceKey: str, kernelId: str) -> None:
    services: Services = websocket.app.state.services
    session_id = websocket.query_params.get("session_id") or ""
    try:
        principal = await services.authenticator.authenticate(_facts(websocket))
        scope = await access.resolve_workspace(
            services.db, principal, aiDataPlatformId, workspaceKey, cache=services.authenticator.cache
        )
        # Namespaced by caller, so one caller's session id can never take over another's connection.
        client_id = f"{principal.key}:{session_id}" if session_id else ""
        owner = None if forwarding.was_forwarded(websocket.headers) else await services.kernels.owner(scope, kernelId)
        if owner is not None:  # another live node runs the kernel: proxy to its websocket
            upstream = await forwarding.open_upstream(websocket, services, owner, principal)
        else:
            attachment = await services.kernels.attach(scope, kernelId, client_id)
    except errors.NbplaneError as exc:
        await _deny(websocket, exc)
        return
    if owner is not None:
        await forwarding.proxy(websocket, upstream)
        return
    try:
        protocol = wsproto.select_subprotocol(websocket.scope.get("subprotocols") or [])
        await websocket.accept(subprotocol=protocol)
        await _bridge(websocket, attachment, protocol)
    finally:
        attachment.detach()


async def _bridge(websocket: WebSocket, attachment: KernelAttachment, protocol: str | None) -> None:
    outgoing = asyncio.create_task(_pump_out(websocket, attachment, protocol))
    incoming = asyncio.create_task(_pump_in(websocket, attachment, protocol))
    try:
        await asyncio.wait({outgoing, incoming}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (outgoing, incoming):
            task.cancel()
        await asyncio.gather(outgoing, incoming, return_exceptions=True)
    if outgoing.done() and not outgoing.cancelled() and websocket.application_state is WebSocketState.CONNECTED:
        code = _CLOSE_CODES.get(attachment.close_reason or "", 1000)
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=_close_reason(attachment.close_detail))


def _close_reason(detail: str | None) -> str | None:
    """A close frame's reason must fit in 123 bytes of UTF-8."""
    if not detail:
        return None
    return detail.encode()[:123].decode(errors="ignore")


async def _pump_out(websocket: WebSocket, attachment: KernelAttachment, protocol: str | None) -> None:
    """Kernel → client until the attachment ends (replaced, overflow, kernel gone)."""
    async for msg in attachment:
        frame = wsproto.encode(msg, protocol)
        if isinstance(frame, str):
            await websocket.send_text(frame)
        else:
            await websocket.send_bytes(frame)


async def _pump_in(websocket: WebSocket, attachment: KernelAttachment, protocol: str | None) -> None:
    """Client → kernel until the client goes away; a bad message is dropped, as Jupyter Server does."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                return
            frame = event.get("text")
            if frame is None:
                frame = event.get("bytes")
            if frame is None:
                continue
            try:
                msg = wsproto.decode(frame, protocol)
                await attachment.send(msg["channel"], msg)
            except errors.InvalidInputError as exc:
                log.info("dropping a kernel websocket message: %s", exc.message)
            except (errors.ConflictError, errors.BackendError):
                return
