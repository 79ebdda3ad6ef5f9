"""One kernel's zmq channels shared by many websocket clients, and the kernel's live state.

`KernelChannels` owns one set of zmq sockets per kernel. Clients `attach`; iopub is broadcast to
all of them, shell/control/stdin replies go to the client whose request they answer. While no
client is attached, output is kept in a bounded `ReplayBuffer` and replayed to whichever client
attaches next (Jupyter Server replays only to the same websocket session id).

A websocket handler uses it like this (framing from `nbplane.kernels.wsproto`)::

    proto = wsproto.select_subprotocol(offered)
    attachment = channels.attach(session_id or new_id())
    # pump out:  async for msg in attachment: send(wsproto.encode(msg, proto))
    # pump in:   msg = wsproto.decode(frame, proto); await attachment.send(msg["channel"], msg)
    # finally:   attachment.detach()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.session import Session

from nbplane.errors import BackendError, ConflictError, InvalidInputError
from nbplane.kernels.activity import (
    UNTRACKED_REQUEST_TYPES,
    ActivityTracker,
    BoundedMap,
    ExecutionState,
    KernelActivity,
)
from nbplane.kernels.replay import Replay, ReplayBuffer
from nbplane.kernels.wsproto import WireMessage

__all__ = ["Attachment", "KernelChannels"]

log = logging.getLogger(__name__)

_SOCKET_TYPES = {"shell": zmq.DEALER, "control": zmq.DEALER, "stdin": zmq.DEALER, "iopub": zmq.SUB}
_CLIENT_CHANNELS = frozenset({"shell", "control", "stdin"})
_NUDGE_INTERVAL = 0.5
_TRANSITIONAL = frozenset({ExecutionState.STARTING, ExecutionState.RESTARTING, ExecutionState.AUTORESTARTING})


class Attachment:
    """One client's view of a kernel: iterate it for outgoing messages, `send` for incoming ones.

    Iteration ends when the attachment is detached, replaced by a newer attachment with the same
    client id, falls too far behind (`close_reason == "overflow"`) or the channels close.
    """

    def __init__(self, owner: KernelChannels, client_id: str, max_queue: int, replay_dropped: int) -> None:
        self.client_id = client_id
        self.replay_dropped = replay_dropped
        self.close_reason: str | None = None
        self.close_detail: str | None = None
        self._owner = owner
        self._max_queue = max_queue
        self._queue: asyncio.Queue[WireMessage | None] = asyncio.Queue()

    @property
    def closed(self) -> bool:
        return self.close_reason is not None

    async def send(self, channel: str, msg: WireMessage) -> None:
        """Send a client message to the kernel on shell, control or stdin.

        Raises `InvalidInputError` for a bad channel or message, `ConflictError` once detached.
        """
        if self.closed:
            raise ConflictError("this kernel connection was detached", reason=self.close_reason)
        await self._owner._send_from_client(self.client_id, channel, msg)

    def detach(self) -> None:
        """Stop receiving; idempotent. Does nothing to a newer attachment with the same id."""
        self._owner._remove(self, "detached")

    def __aiter__(self) -> Attachment:
        return self

    async def __anext__(self) -> WireMessage:
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        msg = await self._queue.get()
        if msg is None:
            raise StopAsyncIteration
        return msg

    def _put(self, msg: WireMessage, *, force: bool = False) -> bool:
        if not force and self._queue.qsize() >= self._max_queue:
            return False
        self._queue.put_nowait(msg)
        return True

    def _close(self, reason: str) -> list[WireMessage]:
        """Mark closed, wake the iterator, and hand back what was never delivered."""
        leftovers = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                leftovers.append(item)
        self.close_reason = reason
        self._queue.put_nowait(None)
        return leftovers

    def _finish(self, reason: str, detail: str | None) -> None:
        """Mark closed after what is queued (e.g. a final dead status) has been delivered."""
        self.close_reason = reason
        self.close_detail = detail
        self._queue.put_nowait(None)


class KernelChannels:
    """All clients' traffic to one kernel, plus its `execution_state`, `last_activity`, `connections`.

    Built from the kernel's connection info (as jupyter_client writes it). Call `start` once, then
    `attach` clients; `close` releases every socket. Runs on one event loop; not thread-safe.
    After a restart on new ports, call `reconnect` with the new connection info.
    """

    def __init__(
        self,
        connection_info: Mapping[str, Any],
        *,
        context: zmq.asyncio.Context | None = None,
        replay_max_messages: int = 10_000,
        replay_max_bytes: int = 16 * 1024 * 1024,
        client_queue_size: int = 10_000,
        tracked_requests: int = 10_000,
        untracked_types: frozenset[str] = UNTRACKED_REQUEST_TYPES,
        announce_dropped: bool = True,
        on_state_change: Callable[[KernelActivity], None] | None = None,
        activity_notify_interval: float = 1.0,
    ) -> None:
        self._info = dict(connection_info)
        key = self._info.get("key", b"")
        self.session = Session(
            key=key.encode() if isinstance(key, str) else bytes(key),
            signature_scheme=str(self._info.get("signature_scheme", "hmac-sha256")),
        )
        self._context = context or zmq.asyncio.Context.instance()
        self._replay = ReplayBuffer(replay_max_messages, replay_max_bytes)
        self._client_queue_size = client_queue_size
        self._announce_dropped = announce_dropped
        self._tracker = ActivityTracker(
            untracked_types=untracked_types,
            on_state_change=on_state_change,
            notify_interval=activity_notify_interval,
        )
        self._sockets: dict[str, zmq.asyncio.Socket] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._attachments: dict[str, Attachment] = {}
        self._requests = BoundedMap(tracked_requests)  # client msg_id -> client_id
        self._probes = BoundedMap(1_000)  # msg_ids the server sent itself
        self._probe_replies: dict[str, asyncio.Future[WireMessage]] = {}
        self._iopub_seen = asyncio.Event()
        self._closed = False

    # -- live state -------------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Number of attached clients."""
        return len(self._attachments)

    @property
    def execution_state(self) -> ExecutionState:
        return self._tracker.execution_state

    @property
    def last_activity(self) -> datetime:
        """Last user activity (timezone-aware UTC): a client message or output for a user request."""
        return self._tracker.last_activity

    @property
    def activity(self) -> KernelActivity:
        return self._tracker.snapshot

    def set_state(self, state: ExecutionState, reason: str | None = None, *, announce: bool = True) -> None:
        """Owner-known transitions: restarting, autorestarting, dead, or starting after a restart.

        With `announce`, clients are told about restarting/dead with a status message, as Jupyter Server
        does for a crash (a dead status carries `reason` too). A restart the user asked for is not announced:
        frontends read `restarting` as a crash. Raises `ValueError` for busy, which only the kernel reports.
        """
        self._tracker.set_state(state, reason)
        if announce and state in (ExecutionState.RESTARTING, ExecutionState.AUTORESTARTING, ExecutionState.DEAD):
            content: dict[str, str] = {"execution_state": "dead" if state is ExecutionState.DEAD else "restarting"}
            if state is ExecutionState.DEAD and reason:
                content["reason"] = reason
            msg = self.session.msg("status", content=content)
            self._broadcast({"channel": "iopub", **msg, "buffers": []}, None)

    def resume(self, last_activity: datetime) -> None:
        """Carry over the last activity an earlier server recorded for this kernel (after adoption)."""
        self._tracker.resume(last_activity)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, wait_s: float = 30.0) -> None:
        """Connect the sockets and wait until the kernel answers and iopub is known to be live.

        Probes with kernel_info_request (shell once, control every 0.5 s: control is answered
        even while the kernel is busy) until a reply and some iopub message have arrived, as
        Jupyter Server's `nudge` does. Raises `BackendError` after `wait_s` seconds, having closed.
        """
        if self._sockets or self._closed:
            raise RuntimeError("KernelChannels.start() called twice")
        self._open()
        try:
            await self.nudge(wait_s)
        except BackendError:
            await self.close()
            raise

    async def nudge(self, wait_s: float) -> None:
        """Wait until the kernel answers and an iopub message has arrived since this call (as Jupyter Server's
        nudge does). After a restart a control reply alone is not enough: until our subscription reaches the
        new process, its output (the idle status that ends an execution) is published to no one."""
        self._iopub_seen.clear()
        try:
            await asyncio.wait_for(self._nudge(), wait_s)
        except TimeoutError:
            raise BackendError("the kernel did not answer kernel_info_request in time") from None
        if self.execution_state in _TRANSITIONAL:
            # It answered, so it is up. The iopub message that completed the nudge may have been ipykernel 7's
            # welcome rather than a status, which would leave the state in transition until a status arrives.
            self.set_state(ExecutionState.IDLE)

    def _open(self) -> None:
        for channel, kind in _SOCKET_TYPES.items():
            sock = self._context.socket(kind)
            sock.linger = 0
            if kind == zmq.SUB:
                sock.setsockopt(zmq.SUBSCRIBE, b"")
            else:
                # shell and stdin must share the identity: the kernel answers input on stdin
                # to the identity that sent the execute_request on shell.
                sock.setsockopt(zmq.IDENTITY, self.session.bsession)
            sock.connect(self._url(channel))
            self._sockets[channel] = sock
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._recv_loop(ch), name=f"kernel-{ch}") for ch in self._sockets]

    async def _close_sockets(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for sock in self._sockets.values():
            sock.close(linger=0)
        self._sockets.clear()

    def same_ports(self, connection_info: Mapping[str, Any]) -> bool:
        """Whether `connection_info` addresses the sockets these channels are connected to."""
        return all(self._url(ch) == self._url(ch, connection_info) for ch in _SOCKET_TYPES)

    async def reconnect(self, connection_info: Mapping[str, Any]) -> None:
        """Move to a restarted kernel's new ports, keeping attachments, live state and the replay
        buffer. Requests in flight on the old sockets get no reply."""
        if self._closed:
            raise BackendError("kernel channels are closed")
        await self._close_sockets()
        self._info = dict(connection_info)
        self._open()

    async def _nudge(self) -> None:
        replies = [await self._send_probe("shell")]
        while True:
            replies.append(await self._send_probe("control"))
            done, _ = await asyncio.wait(replies, timeout=_NUDGE_INTERVAL)
            if done and self._iopub_seen.is_set():
                break
        for fut in replies:
            fut.cancel()

    async def probe(self, channel: str = "control", wait_s: float = 10.0) -> WireMessage:
        """Send the server's own kernel_info_request and return the reply.

        Its status messages never change `execution_state` or `last_activity` and are not shown
        to clients. Raises `BackendError` if no reply arrives within `wait_s` seconds.
        """
        fut = await self._send_probe(channel)
        try:
            return await asyncio.wait_for(fut, wait_s)
        except TimeoutError:
            raise BackendError("the kernel did not answer kernel_info_request in time") from None

    async def server_execute(self, code: str, wait_s: float = 10.0) -> WireMessage:
        """Run `code` silently as the server (no history, no execution count, no output to clients, no user
        activity) and return the execute_reply. Raises `BackendError` if no reply arrives within `wait_s`."""
        content = {"code": code, "silent": True, "store_history": False, "allow_stdin": False}
        fut = await self._send_probe("shell", "execute_request", content)
        try:
            return await asyncio.wait_for(fut, wait_s)
        except TimeoutError:
            raise BackendError("the kernel did not answer the server's execute_request in time") from None

    async def _send_probe(
        self, channel: str, msg_type: str = "kernel_info_request", content: dict[str, Any] | None = None
    ) -> asyncio.Future[WireMessage]:
        if channel not in ("shell", "control"):
            raise ValueError(f"{msg_type} goes on shell or control, not {channel!r}")
        if self._closed or not self._sockets:
            raise BackendError("kernel channels are not open")
        msg = self.session.msg(msg_type, content=content or {})
        fut: asyncio.Future[WireMessage] = asyncio.get_running_loop().create_future()
        self._probes.put(msg["msg_id"])
        self._probe_replies[msg["msg_id"]] = fut
        fut.add_done_callback(lambda _: self._probe_replies.pop(msg["msg_id"], None))
        await self._sockets[channel].send_multipart(self.session.serialize(msg))
        return fut

    async def close(self, *, detail: str | None = None) -> None:
        """End every attachment (after what is queued to it, e.g. a final dead status; `detail` says why),
        stop the receive loops and close every socket; idempotent."""
        if self._closed:
            return
        self._closed = True
        for att in list(self._attachments.values()):
            att._finish("closed", detail)
        self._attachments.clear()
        self._tracker.set_connections(0)
        for fut in list(self._probe_replies.values()):
            fut.cancel()
        await self._close_sockets()

    async def __aenter__(self) -> KernelChannels:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- clients ----------------------------------------------------------------------------------

    def attach(self, client_id: str) -> Attachment:
        """Attach a client; output buffered while nobody was attached is queued to it first.

        An existing attachment with the same `client_id` is replaced (a stale connection), and
        replies to its requests go to the new one.
        """
        if not client_id:
            raise InvalidInputError("client id must not be empty")
        if self._closed:
            raise BackendError("kernel channels are closed")
        old = self._attachments.get(client_id)
        if old is not None:
            self._remove(old, "replaced")
        replay = self._replay.drain()
        att = Attachment(self, client_id, self._client_queue_size, replay.dropped)
        if replay.dropped and self._announce_dropped:
            att._put(self._dropped_notice(replay), force=True)
        for msg in replay.messages:
            att._put(msg, force=True)
        self._attachments[client_id] = att
        self._tracker.set_connections(len(self._attachments))
        return att

    def detach(self, client_id: str) -> None:
        """Detach the client's current attachment, if any; idempotent."""
        att = self._attachments.get(client_id)
        if att is not None:
            self._remove(att, "detached")

    def _remove(self, att: Attachment, reason: str) -> None:
        if self._attachments.get(att.client_id) is not att:
            return
        del self._attachments[att.client_id]
        leftovers = att._close(reason)
        if not self._attachments:
            # Never sent to the websocket: keep them for whoever attaches next.
            for msg in leftovers:
                self._replay.push(msg)
        self._tracker.set_connections(len(self._attachments))

    def _dropped_notice(self, replay: Replay) -> WireMessage:
        parent = replay.messages[0]["parent_header"] if replay.messages else {}
        text = f"[nbplane] {replay.dropped} output message(s) were dropped while no client was connected.\n"
        msg = self.session.msg("stream", content={"name": "stderr", "text": text}, parent=parent)
        return {"channel": "iopub", **msg, "buffers": []}

    async def _send_from_client(self, client_id: str, channel: str, msg: WireMessage) -> None:
        if channel not in _CLIENT_CHANNELS:
            raise InvalidInputError(f"clients cannot send on channel {channel!r}")
        header = msg.get("header")
        if not isinstance(header, dict) or not isinstance(header.get("msg_id"), str) or not header["msg_id"]:
            raise InvalidInputError("message header needs a string msg_id")
        msg_id = header["msg_id"]
        owner = self._requests.get(msg_id)
        if msg_id in self._probes or (owner not in (None, client_id) and owner in self._attachments):
            raise InvalidInputError("msg_id is already in use by another client")
        if self._closed or not self._sockets:
            raise BackendError("kernel channels are not open")
        self._requests.put(msg_id, client_id)
        self._tracker.client_message(header)
        parts = self.session.serialize(
            {
                "header": header,
                "parent_header": msg.get("parent_header") or {},
                "metadata": msg.get("metadata") or {},
                "content": msg.get("content") or {},
            }
        )
        await self._sockets[channel].send_multipart([*parts, *(msg.get("buffers") or ())])

    # -- kernel -> clients ------------------------------------------------------------------------

    async def _recv_loop(self, channel: str) -> None:
        sock = self._sockets[channel]
        while True:
            try:
                frames = await sock.recv_multipart()
            except zmq.ZMQError as exc:
                log.warning("kernel %s socket failed: %s", channel, exc)
                return
            try:
                _, parts = self.session.feed_identities(frames)
                raw = self.session.deserialize(parts)
            except Exception as exc:  # a bad signature or malformed message must not stop the loop
                log.warning("dropping unreadable %s message from kernel: %s", channel, exc)
                continue
            msg: WireMessage = {
                "channel": channel,
                "header": raw["header"],
                "msg_id": raw["msg_id"],
                "msg_type": raw["msg_type"],
                "parent_header": raw["parent_header"],
                "metadata": raw["metadata"],
                "content": raw["content"],
                "buffers": [bytes(b) for b in raw["buffers"]],
            }
            try:
                self._dispatch(channel, msg, sum(len(p) for p in parts))
            except Exception:
                log.exception("failed to dispatch a %s message from the kernel", channel)

    def _dispatch(self, channel: str, msg: WireMessage, size: int) -> None:
        parent_id = str((msg["parent_header"] or {}).get("msg_id", ""))
        if channel == "iopub":
            self._iopub_seen.set()
            self._tracker.kernel_message(msg, parent_from_server=parent_id in self._probes)
            # The server's probes are nobody's business, and iopub_welcome (ipykernel 7, JEP 65)
            # greets our own subscription, not a client's.
            if parent_id not in self._probes and msg["msg_type"] != "iopub_welcome":
                self._broadcast(msg, size)
            return
        if parent_id in self._probes:
            fut = self._probe_replies.get(parent_id)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        att = self._attachments.get(self._requests.get(parent_id, ""))
        if att is not None and att._put(msg):
            return
        if att is not None:
            self._remove(att, "overflow")
        if not self._attachments:
            self._replay.push(msg, size)
        else:
            log.debug("dropping %s reply for a client that is gone", channel)

    def _broadcast(self, msg: WireMessage, size: int | None) -> None:
        delivered = False
        for att in list(self._attachments.values()):
            if att._put(msg):
                delivered = True
            else:
                self._remove(att, "overflow")
        if not delivered:
            self._replay.push(msg, size)

    def _url(self, channel: str, info: Mapping[str, Any] | None = None) -> str:
        info = self._info if info is None else info
        transport, ip = info.get("transport", "tcp"), info["ip"]
        port = int(info[f"{channel}_port"])
        return f"tcp://{ip}:{port}" if transport == "tcp" else f"{transport}://{ip}-{port}"
