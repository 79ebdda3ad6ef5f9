"""Kernels on a Jupyter Kernel Gateway or Enterprise Gateway: the backend contract over the gateway's REST
(`/api/kernelspecs`, `/api/kernels`) and one websocket per kernel (`/api/kernels/{id}/channels`, Jupyter's
legacy JSON protocol), shared by every nbplane client of that kernel as local kernels share their zmq sockets.

- Auth is `Authorization: token …`; TLS verifies against the system store or the cluster's CA bundle.
- Requests have timeouts and are retried with backoff: reads and deletes on transport errors and 502/503/504,
  a kernel start only when the connection was never made (a retried POST could start a second kernel).
- The environment goes in the start body's `env`, as Enterprise Gateway expects: the cluster's kernel env
  (`KERNEL_USERNAME`, `KERNEL_WORKING_DIR`, ...), the request's `KERNEL_*` variables and `KERNEL_ID` (the id
  nbplane gave the kernel; Enterprise Gateway uses it as the remote id, Kernel Gateway picks its own). The
  launch's local `cwd` does not apply on a remote machine.
- Live state comes from the gateway's own messages (status, and the `restarting`/`dead` statuses a gateway
  sends when its kernel restarts or dies). A lost websocket makes the kernel `unknown` with the reason while
  the backend asks the gateway and reconnects with backoff; a gateway that says the kernel is gone makes it
  `dead`. Reads never raise.
- The record (`details`) is the cluster key, the gateway URL and the remote kernel id: any node that knows
  the cluster can adopt the kernel again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from time import monotonic
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import websockets
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential
from websockets.asyncio.client import ClientConnection

from nbplane.errors import BackendError, InvalidInputError, NotFoundError
from nbplane.kernels import wsproto
from nbplane.kernels.base import (
    Adoption,
    ExecutionState,
    KernelActivity,
    KernelAttachment,
    KernelBackend,
    KernelRecord,
    KernelSpecInfo,
    LaunchRequest,
    WireMessage,
)
from nbplane.kernels.channels import KernelChannels

__all__ = ["GatewayChannels", "GatewayKernelBackend", "GatewayTarget"]

log = logging.getLogger(__name__)

RUNTIME = "gateway"
_RETRY_STATUSES = frozenset({502, 503, 504})
_SPEC_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class GatewayTarget:
    """Where a gateway cluster's kernels run. `token` is a secret (never logged, never in a record)."""

    url: str
    token: str | None = None
    ca_pem: str | None = None
    kernel_env: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"GatewayTarget(url={self.url!r}, token={'***' if self.token else None})"


def _ssl_context(target: GatewayTarget) -> ssl.SSLContext | None:
    if urlsplit(target.url).scheme != "https":
        return None
    return ssl.create_default_context(cadata=target.ca_pem) if target.ca_pem else ssl.create_default_context()


def _ws_base(url: str) -> str:
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class _Retryable(Exception):
    """A gateway answer worth another try (502/503/504)."""


class GatewayChannels(KernelChannels):
    """`KernelChannels` over the gateway's websocket instead of zmq sockets: the same attachments, replay
    buffer, probes and activity tracking. `on_lost` is called when the websocket ends without `close`."""

    def __init__(
        self,
        ws_url: str,
        headers: Mapping[str, str],
        ssl_context: ssl.SSLContext | None,
        *,
        open_timeout: float,
        on_lost: Callable[[str], None],
        **kwargs: Any,
    ) -> None:
        super().__init__({"key": "", "transport": "tcp", "ip": "gateway"}, **kwargs)
        self._ws_url = ws_url
        self._headers = dict(headers)
        self._ssl = ssl_context
        self._open_timeout = open_timeout
        self._on_lost = on_lost
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, wait_s: float = 30.0) -> None:
        await self.connect()
        try:
            await self.nudge(wait_s)
        except BackendError:
            await self.close()
            raise

    async def connect(self) -> None:
        """(Re)open the websocket, keeping attachments, live state and the replay buffer."""
        if self._closed:
            raise BackendError("kernel channels are closed")
        await self._close_sockets()
        try:
            self._ws = await websockets.connect(
                self._ws_url,
                additional_headers=self._headers,
                ssl=self._ssl,
                open_timeout=self._open_timeout,
                max_size=None,
                proxy=None,
            )
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            raise BackendError(f"could not open the gateway's kernel websocket: {exc}") from exc
        self._reader = asyncio.get_running_loop().create_task(self._read(self._ws), name="gateway-ws")

    def _is_open(self) -> bool:
        return self._ws is not None

    async def _transmit(self, channel: str, msg: WireMessage, buffers: list[bytes]) -> None:
        if self._ws is None:
            raise BackendError("the gateway's kernel websocket is not open")
        frame = wsproto.encode_legacy({**msg, "channel": channel, "buffers": buffers})
        try:
            await self._ws.send(frame)
        except websockets.WebSocketException as exc:
            raise BackendError(f"the gateway's kernel websocket failed: {exc}") from exc

    async def _read(self, ws: ClientConnection) -> None:
        detail = "the gateway closed the kernel websocket"
        try:
            async for frame in ws:
                try:
                    msg = wsproto.decode_legacy(frame)
                except InvalidInputError as exc:
                    log.warning("dropping an unreadable message from the gateway: %s", exc.message)
                    continue
                msg.setdefault("msg_id", msg["header"]["msg_id"])
                msg.setdefault("msg_type", msg["header"]["msg_type"])
                try:
                    self._gateway_state(msg)
                    self._dispatch(msg["channel"], msg, len(frame))
                except Exception:
                    log.exception("failed to dispatch a message from the gateway")
        except websockets.WebSocketException as exc:
            detail = f"the gateway's kernel websocket failed: {exc}"
        except asyncio.CancelledError:
            raise
        if self._ws is ws and not self._closed:
            self._ws = None
            self._on_lost(detail)

    def _gateway_state(self, msg: WireMessage) -> None:
        """What a gateway says about its kernel beyond busy/idle: a crash-restart or death."""
        if msg["channel"] != "iopub" or msg["header"].get("msg_type") != "status":
            return
        state = msg["content"].get("execution_state")
        if state == "dead":
            self.set_state(ExecutionState.DEAD, "the kernel died on the gateway", announce=False)
        elif state in ("restarting", "autorestarting"):
            self.set_state(ExecutionState.AUTORESTARTING, announce=False)

    async def _close_sockets(self) -> None:
        ws, reader = self._ws, self._reader
        self._ws, self._reader = None, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)


@dataclass
class _Remote:
    kernel_id: str
    remote_id: str
    name: str
    channels: GatewayChannels
    watcher: asyncio.Task[None] | None = None


class GatewayKernelBackend(KernelBackend):
    """One gateway (one cluster's target). Kernels are tracked by nbplane's kernel id; the gateway's own id
    is in the record."""

    runtime = RUNTIME
    shared_runtime = True

    def __init__(
        self,
        target: GatewayTarget,
        *,
        cluster_key: str,
        default_kernel_name: str = "python3",
        request_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        start_timeout: float = 120.0,
        adopt_timeout: float = 10.0,
        retries: int = 3,
        reconnect_max_delay: float = 10.0,
        replay_max_messages: int = 10_000,
        replay_max_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.default_kernel_name = default_kernel_name
        self._target = target
        self._cluster_key = cluster_key
        self._base = target.url.rstrip("/")
        self._ssl = _ssl_context(target)
        self._headers = {"Authorization": f"token {target.token}"} if target.token else {}
        self._http = httpx.AsyncClient(
            base_url=self._base,
            headers=self._headers,
            verify=self._ssl if self._ssl is not None else True,
            timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
            trust_env=False,
        )
        self._connect_timeout = connect_timeout
        self._start_timeout = start_timeout
        self._adopt_timeout = adopt_timeout
        self._retries = max(1, retries)
        self._reconnect_max_delay = reconnect_max_delay
        self._replay = (replay_max_messages, replay_max_bytes)
        self._kernels: dict[str, _Remote] = {}
        self._specs: dict[str, KernelSpecInfo] | None = None
        self._specs_at = float("-inf")

    # ---- HTTP -----------------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, *, json: object = None, idempotent: bool = True, wait: float | None = None
    ) -> httpx.Response:
        """One gateway request with retries; BackendError when the gateway cannot be reached."""

        def worth_retrying(exc: BaseException) -> bool:
            if isinstance(exc, _Retryable):
                return idempotent
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                return True  # nothing reached the gateway
            return idempotent and isinstance(exc, httpx.TransportError)

        extra: dict[str, Any] = {} if wait is None else {"timeout": wait}
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._retries),
                wait=wait_exponential(multiplier=0.25, max=2.0),
                retry=retry_if_exception(worth_retrying),
                reraise=True,
            ):
                with attempt:
                    response = await self._http.request(method, path, json=json, **extra)
                    if response.status_code in _RETRY_STATUSES:
                        raise _Retryable(f"{response.status_code}")
                    return response
        except _Retryable as exc:
            raise BackendError(f"the gateway at {self._base} answered {exc} to {method} {path}") from None
        except httpx.HTTPError as exc:
            raise BackendError(f"the gateway at {self._base} is unreachable: {exc or type(exc).__name__}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            body = response.json()
            return str(body.get("message") or body.get("reason") or response.text)[:500]
        except ValueError:
            return response.text[:500]

    # ---- kernelspecs ------------------------------------------------------------------------------

    async def kernelspecs(self) -> dict[str, KernelSpecInfo]:
        """The gateway's kernelspecs (cached briefly; the last known ones while it does not answer)."""
        if self._specs is not None and monotonic() - self._specs_at < _SPEC_CACHE_SECONDS:
            return dict(self._specs)
        try:
            response = await self._request("GET", "/api/kernelspecs")
        except BackendError:
            if self._specs is not None:
                return dict(self._specs)
            raise
        if response.status_code != 200:
            raise BackendError(f"the gateway's kernelspecs: {response.status_code} {self._message(response)}")
        body = response.json()
        specs: dict[str, KernelSpecInfo] = {}
        for name, model in (body.get("kernelspecs") or {}).items():
            spec = dict(model.get("spec") or {})
            specs[name] = KernelSpecInfo(
                name=name,
                display_name=str(spec.get("display_name", name)),
                language=str(spec.get("language", "")),
                spec=spec,
            )
        if isinstance(body.get("default"), str) and body["default"] in specs:
            self.default_kernel_name = body["default"]
        self._specs, self._specs_at = specs, monotonic()
        return dict(specs)

    # ---- lifecycle --------------------------------------------------------------------------------

    def _env(self, request: LaunchRequest) -> dict[str, str]:
        env = {k: str(v) for k, v in self._target.kernel_env.items()}
        env.update({k: v for k, v in request.env.items() if k.startswith("KERNEL_") or k == "JPY_SESSION_NAME"})
        env["KERNEL_ID"] = request.kernel_id
        return env

    def _record(self, kernel_id: str, name: str, remote_id: str) -> KernelRecord:
        details = {"cluster_key": self._cluster_key, "gateway_url": self._base, "remote_id": remote_id}
        return KernelRecord(kernel_id, name, RUNTIME, details)

    def _channels(self, kernel_id: str, remote_id: str) -> GatewayChannels:
        url = f"{_ws_base(self._base)}/api/kernels/{quote(remote_id, safe='')}/channels"
        return GatewayChannels(
            url,
            self._headers,
            self._ssl,
            open_timeout=self._connect_timeout,
            on_lost=lambda detail: self._lost(kernel_id, detail),
            replay_max_messages=self._replay[0],
            replay_max_bytes=self._replay[1],
        )

    async def start(self, request: LaunchRequest) -> KernelRecord:
        specs = await self.kernelspecs()
        if request.kernel_name not in specs:
            available = ", ".join(sorted(specs)) or "none"
            raise InvalidInputError(f"No such kernel '{request.kernel_name}'. Available kernels: {available}.")
        body = {"name": request.kernel_name, "env": self._env(request)}
        response = await self._request("POST", "/api/kernels", json=body, idempotent=False, wait=self._start_timeout)
        if response.status_code not in (200, 201):
            raise BackendError(
                f"the gateway did not start the kernel: {response.status_code} {self._message(response)}"
            )
        remote_id = str(response.json()["id"])
        channels = self._channels(request.kernel_id, remote_id)
        try:
            await channels.start(self._start_timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._request("DELETE", f"/api/kernels/{quote(remote_id, safe='')}")
            raise
        self._kernels[request.kernel_id] = _Remote(request.kernel_id, remote_id, request.kernel_name, channels)
        log.info("kernel %s started on gateway %s as %s", request.kernel_id, self._base, remote_id)
        return self._record(request.kernel_id, request.kernel_name, remote_id)

    async def adopt(self, record: KernelRecord, *, last_activity: datetime | None = None) -> Adoption:
        if record.runtime != RUNTIME:
            raise InvalidInputError(f"a {record.runtime} kernel record cannot be adopted by the gateway backend")
        remote_id = str((record.details or {}).get("remote_id") or "")
        if not remote_id:
            return Adoption(False, "the kernel's record names no gateway kernel")
        if record.kernel_id in self._kernels:
            return Adoption(True)
        try:
            response = await self._request("GET", f"/api/kernels/{quote(remote_id, safe='')}", wait=self._adopt_timeout)
        except BackendError as exc:
            return Adoption(False, f"the gateway did not answer: {exc.message}")
        if response.status_code == 404:
            return Adoption(False, "the kernel is gone from the gateway")
        if response.status_code != 200:
            return Adoption(False, f"the gateway answered {response.status_code} for the kernel")
        channels = self._channels(record.kernel_id, remote_id)
        try:
            await channels.start(self._adopt_timeout)
        except BackendError as exc:
            return Adoption(False, exc.message)
        if last_activity is not None:
            channels.resume(last_activity)
        self._kernels[record.kernel_id] = _Remote(record.kernel_id, remote_id, record.kernel_name, channels)
        return Adoption(True)

    async def stop_orphans(self, known: Collection[str]) -> list[str]:
        """Nothing: a gateway is shared by every nbplane node and may run kernels nbplane did not start, so
        no gateway kernel is stopped for lacking a record on this node."""
        return []

    async def shutdown(self, kernel_id: str, *, now: bool = False, reason: str | None = None) -> None:
        remote = self._kernels.pop(kernel_id, None)
        if remote is None:
            return
        if remote.watcher is not None:
            remote.watcher.cancel()
        remote.channels.set_state(ExecutionState.DEAD, reason)
        await remote.channels.close(detail=reason)
        try:
            response = await self._request("DELETE", f"/api/kernels/{quote(remote.remote_id, safe='')}")
            if response.status_code not in (200, 204, 404):
                log.warning("the gateway answered %s to deleting kernel %s", response.status_code, kernel_id)
        except BackendError as exc:
            log.warning("could not delete kernel %s on the gateway: %s", kernel_id, exc.message)

    def _get(self, kernel_id: str) -> _Remote:
        remote = self._kernels.get(kernel_id)
        if remote is None:
            raise NotFoundError(f"Kernel does not exist: {kernel_id}")
        return remote

    async def restart(self, kernel_id: str) -> None:
        remote = self._get(kernel_id)
        remote.channels.set_state(ExecutionState.RESTARTING, announce=False)
        response = await self._request(
            "POST",
            f"/api/kernels/{quote(remote.remote_id, safe='')}/restart",
            idempotent=False,
            wait=self._start_timeout,
        )
        if response.status_code not in (200, 201):
            raise BackendError(
                f"the gateway did not restart the kernel: {response.status_code} {self._message(response)}"
            )
        await remote.channels.nudge(self._start_timeout)

    async def interrupt(self, kernel_id: str) -> None:
        remote = self._get(kernel_id)
        response = await self._request(
            "POST", f"/api/kernels/{quote(remote.remote_id, safe='')}/interrupt", idempotent=False
        )
        if response.status_code not in (200, 204):
            raise BackendError(f"the gateway did not interrupt the kernel: {response.status_code}")

    async def is_alive(self, kernel_id: str) -> bool:
        remote = self._kernels.get(kernel_id)
        return remote is not None and remote.channels.execution_state is not ExecutionState.DEAD

    async def activity(self, kernel_id: str) -> KernelActivity | None:
        remote = self._kernels.get(kernel_id)
        return None if remote is None else remote.channels.activity

    async def attach(self, kernel_id: str, client_id: str) -> KernelAttachment:
        remote = self._get(kernel_id)
        if remote.channels.execution_state is ExecutionState.DEAD:
            raise BackendError(f"Kernel {kernel_id} is dead")
        return remote.channels.attach(client_id)

    async def kernel_ids(self) -> list[str]:
        return list(self._kernels)

    async def close(self, *, stop_kernels: bool) -> None:
        for kernel_id in list(self._kernels):
            if stop_kernels:
                await self.shutdown(kernel_id, reason="the server stopped")
                continue
            remote = self._kernels.pop(kernel_id)
            if remote.watcher is not None:
                remote.watcher.cancel()
            await remote.channels.close(detail="the server stopped")
        await self._http.aclose()

    # ---- outages ----------------------------------------------------------------------------------

    def _lost(self, kernel_id: str, detail: str) -> None:
        remote = self._kernels.get(kernel_id)
        if remote is None or (remote.watcher is not None and not remote.watcher.done()):
            return
        remote.channels.set_state(ExecutionState.UNKNOWN, f"the gateway does not answer: {detail}", announce=False)
        remote.watcher = asyncio.get_running_loop().create_task(self._recover(remote), name="gateway-recover")

    async def _recover(self, remote: _Remote) -> None:
        """Ask the gateway until it answers: a kernel it still runs is reconnected, one it lost is dead."""
        delay = 0.5
        while self._kernels.get(remote.kernel_id) is remote:
            try:
                response = await self._request("GET", f"/api/kernels/{quote(remote.remote_id, safe='')}")
                if response.status_code == 404:
                    remote.channels.set_state(ExecutionState.DEAD, "the kernel is gone from the gateway")
                    return
                if response.status_code == 200:
                    await remote.channels.connect()
                    await remote.channels.nudge(self._adopt_timeout)
                    log.info("kernel %s: reconnected to the gateway", remote.kernel_id)
                    return
                reason = f"the gateway answered {response.status_code}"
            except BackendError as exc:
                reason = exc.message
            remote.channels.set_state(ExecutionState.UNKNOWN, f"the gateway does not answer: {reason}", announce=False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max_delay)
