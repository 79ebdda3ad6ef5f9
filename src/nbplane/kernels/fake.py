"""An in-memory KernelBackend with no processes, for fast tests of the layers above."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime

from nbplane.errors import BackendError, ConflictError, InvalidInputError, NotFoundError
from nbplane.kernels.base import (
    ExecutionState,
    KernelActivity,
    KernelAttachment,
    KernelBackend,
    KernelSpecInfo,
    StartedKernel,
    WireMessage,
)


class FakeAttachment:
    """Answers every `*_request` with busy, an ok `*_reply` on the same channel, and idle; runs nothing."""

    def __init__(self, backend: FakeKernelBackend, kernel_id: str, client_id: str) -> None:
        self.client_id = client_id
        self.close_reason: str | None = None
        self._backend = backend
        self._kernel_id = kernel_id
        self._queue: asyncio.Queue[WireMessage | None] = asyncio.Queue()

    async def send(self, channel: str, msg: WireMessage) -> None:
        if self.close_reason is not None:
            raise ConflictError("this kernel connection was detached")
        if channel not in ("shell", "control", "stdin"):
            raise InvalidInputError(f"clients cannot send on channel {channel!r}")
        msg_type = str(msg["header"]["msg_type"])
        if not msg_type.endswith("_request"):
            return
        parent = msg["header"]
        reply_type = msg_type.removesuffix("_request") + "_reply"
        for ch, kind, content in (
            ("iopub", "status", {"execution_state": "busy"}),
            (channel, reply_type, {"status": "ok"}),
            ("iopub", "status", {"execution_state": "idle"}),
        ):
            header = {"msg_id": str(uuid.uuid4()), "msg_type": kind, "session": "fake", "version": "5.3"}
            self._queue.put_nowait(
                {"channel": ch, "header": header, "parent_header": parent, "metadata": {}, "content": content}
            )

    def detach(self) -> None:
        if self.close_reason is None:
            self.close_reason = "detached"
            self._queue.put_nowait(None)
            self._backend._detached(self._kernel_id, self)

    def __aiter__(self) -> FakeAttachment:
        return self

    async def __anext__(self) -> WireMessage:
        msg = await self._queue.get()
        if msg is None:
            raise StopAsyncIteration
        return msg


class FakeKernelBackend(KernelBackend):
    """Kernels that start instantly (or after `start_delay`), with a `fail_kernels` set to simulate failures."""

    def __init__(self, specs: tuple[str, ...] = ("python3", "python3-alt"), start_delay: float = 0.0) -> None:
        self.default_kernel_name = specs[0]
        self._spec_names = specs
        self.start_delay = start_delay
        self.fail_kernels: set[str] = set()
        self.started: list[str] = []
        self.restarts: dict[str, int] = {}
        self._alive: dict[str, KernelActivity] = {}
        self._attached: dict[str, dict[str, FakeAttachment]] = {}

    def kernelspecs(self) -> dict[str, KernelSpecInfo]:
        return {n: KernelSpecInfo(n, n, "python") for n in self._spec_names}

    async def start(
        self, kernel_name: str, *, kernel_id: str, cwd: str | None = None, env: dict[str, str] | None = None
    ) -> StartedKernel:
        if kernel_name not in self._spec_names:
            raise InvalidInputError(f"No such kernel '{kernel_name}'. Available kernels: {self._spec_names}")
        if self.start_delay:
            await asyncio.sleep(self.start_delay)
        if kernel_name in self.fail_kernels:
            raise BackendError(f"kernel '{kernel_name}' failed to start: simulated failure")
        self.started.append(kernel_id)
        self._alive[kernel_id] = KernelActivity(ExecutionState.IDLE, datetime.now(UTC), 0)
        return StartedKernel(kernel_id, kernel_name, {"transport": "fake", "key": ""}, None)

    async def shutdown(self, kernel_id: str, *, now: bool = False) -> None:
        self._alive.pop(kernel_id, None)
        for att in list(self._attached.pop(kernel_id, {}).values()):
            att.detach()

    async def restart(self, kernel_id: str) -> None:
        if kernel_id not in self._alive:
            raise NotFoundError(f"Kernel does not exist: {kernel_id}")
        self.restarts[kernel_id] = self.restarts.get(kernel_id, 0) + 1

    async def interrupt(self, kernel_id: str) -> None:
        if kernel_id not in self._alive:
            raise NotFoundError(f"Kernel does not exist: {kernel_id}")

    def is_alive(self, kernel_id: str) -> bool:
        return kernel_id in self._alive

    def activity(self, kernel_id: str) -> KernelActivity | None:
        return self._alive.get(kernel_id)

    def attach(self, kernel_id: str, client_id: str) -> KernelAttachment:
        if kernel_id not in self._alive:
            raise NotFoundError(f"Kernel does not exist: {kernel_id}")
        attached = self._attached.setdefault(kernel_id, {})
        if client_id in attached:
            attached[client_id].detach()
        att = attached[client_id] = FakeAttachment(self, kernel_id, client_id)
        self._set_connections(kernel_id)
        return att

    def _detached(self, kernel_id: str, att: FakeAttachment) -> None:
        attached = self._attached.get(kernel_id, {})
        if attached.get(att.client_id) is att:
            del attached[att.client_id]
        self._set_connections(kernel_id)

    def _set_connections(self, kernel_id: str) -> None:
        if kernel_id in self._alive:
            count = len(self._attached.get(kernel_id, {}))
            self._alive[kernel_id] = dataclasses.replace(self._alive[kernel_id], connections=count)

    def kernel_ids(self) -> list[str]:
        return list(self._alive)

    async def close(self) -> None:
        self._alive.clear()
