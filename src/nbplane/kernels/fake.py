"""An in-memory KernelBackend with no processes, for fast tests of the layers above.

Its kernels live in a `FakeMachine` that several backends can share, so a test can let one backend go
(`close(stop_kernels=False)`, a server restart) and have another `adopt` its kernels, or `crash` a kernel
while no backend watches it."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime

from nbplane.errors import BackendError, ConflictError, InvalidInputError, NotFoundError
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


class FakeMachine:
    """Where fake kernels "run": kernel id -> kernelspec name; survives any one backend."""

    def __init__(self) -> None:
        self.running: dict[str, str] = {}
        self.env: dict[str, dict[str, str]] = {}
        self.launches: dict[str, LaunchRequest] = {}  # what each kernel was started with
        self.generation: dict[str, int] = {}  # bumped by a restart, as a relaunch gives a local kernel a new pid

    def crash(self, kernel_id: str) -> None:
        """The kernel's process ends (e.g. while no server is running)."""
        self.running.pop(kernel_id, None)


def _message(channel: str, kind: str, content: dict[str, object], parent: dict[str, object]) -> WireMessage:
    header = {"msg_id": str(uuid.uuid4()), "msg_type": kind, "session": "fake", "version": "5.3"}
    return {"channel": channel, "header": header, "parent_header": parent, "metadata": {}, "content": content}


class FakeAttachment:
    """Answers every `*_request` with busy, an ok `*_reply` on the same channel, and idle; runs nothing."""

    def __init__(self, backend: FakeKernelBackend, kernel_id: str, client_id: str) -> None:
        self.client_id = client_id
        self.close_reason: str | None = None
        self.close_detail: str | None = None
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
            self._queue.put_nowait(_message(ch, kind, content, parent))

    def detach(self) -> None:
        if self.close_reason is None:
            self.close_reason = "detached"
            self._queue.put_nowait(None)
            self._backend._detached(self._kernel_id, self)

    def _finish(self, detail: str | None) -> None:
        if self.close_reason is None:
            if detail is not None:
                self._queue.put_nowait(_message("iopub", "status", {"execution_state": "dead", "reason": detail}, {}))
            self.close_reason = "closed"
            self.close_detail = detail
            self._queue.put_nowait(None)

    def __aiter__(self) -> FakeAttachment:
        return self

    async def __anext__(self) -> WireMessage:
        msg = await self._queue.get()
        if msg is None:
            raise StopAsyncIteration
        return msg


class FakeKernelBackend(KernelBackend):
    """Kernels that start instantly (or after `start_delay`), with a `fail_kernels` set to simulate failures."""

    runtime = "fake"

    def __init__(
        self,
        specs: tuple[str, ...] = ("python3", "python3-alt"),
        start_delay: float = 0.0,
        machine: FakeMachine | None = None,
    ) -> None:
        self.default_kernel_name = specs[0]
        self.machine = machine or FakeMachine()
        self._spec_names = specs
        self.start_delay = start_delay
        self.fail_kernels: set[str] = set()
        self.started: list[str] = []
        self.restarts: dict[str, int] = {}
        self.handed_out: list[str] = []
        self._alive: dict[str, KernelActivity] = {}
        self._attached: dict[str, dict[str, FakeAttachment]] = {}

    async def kernelspecs(self) -> dict[str, KernelSpecInfo]:
        return {n: KernelSpecInfo(n, n, "python") for n in self._spec_names}

    async def start(self, request: LaunchRequest) -> KernelRecord:
        if request.kernel_name not in self._spec_names:
            raise InvalidInputError(f"No such kernel '{request.kernel_name}'. Available kernels: {self._spec_names}")
        if self.start_delay:
            await asyncio.sleep(self.start_delay)
        if request.kernel_name in self.fail_kernels:
            raise BackendError(f"kernel '{request.kernel_name}' failed to start: simulated failure")
        self.started.append(request.kernel_id)
        self.machine.running[request.kernel_id] = request.kernel_name
        self.machine.env[request.kernel_id] = dict(request.env)
        self.machine.launches[request.kernel_id] = request
        self.machine.generation[request.kernel_id] = 0
        now = datetime.now(UTC)
        self._alive[request.kernel_id] = KernelActivity(ExecutionState.IDLE, now, 0, state_since=now)
        return self._record(request.kernel_id, request.kernel_name)

    def _record(self, kernel_id: str, kernel_name: str) -> KernelRecord:
        details = {"generation": self.machine.generation[kernel_id]}
        return KernelRecord(kernel_id, kernel_name, self.runtime, details, {"transport": "fake"})

    async def adopt(self, record: KernelRecord, *, last_activity: datetime | None = None) -> Adoption:
        if record.runtime != self.runtime:
            raise InvalidInputError(f"a {record.runtime!r} kernel record cannot be adopted by the fake runtime")
        if record.kernel_id not in self.machine.running or record.details.get(
            "generation"
        ) != self.machine.generation.get(record.kernel_id):
            return Adoption(False, "the kernel process ended while no server was running")
        now = datetime.now(UTC)
        self._alive[record.kernel_id] = KernelActivity(ExecutionState.IDLE, last_activity or now, 0, state_since=now)
        return Adoption(True)

    async def stop_orphans(self, known: Collection[str]) -> list[str]:
        orphans = [k for k in self.machine.running if k not in known and k not in self._alive]
        for kernel_id in orphans:
            self.machine.crash(kernel_id)
        return orphans

    async def shutdown(self, kernel_id: str, *, now: bool = False, reason: str | None = None) -> None:
        self._alive.pop(kernel_id, None)
        self.machine.crash(kernel_id)
        for att in list(self._attached.pop(kernel_id, {}).values()):
            att._finish(reason)

    supports_pool = True
    handout_env_keys: frozenset[str] = frozenset({"JPY_SESSION_NAME"})
    """The env variables `hand_out` can apply to a started kernel (a local python kernel's)."""

    async def hand_out(self, kernel_id: str, env: Mapping[str, str]) -> KernelRecord | None:
        if kernel_id not in self.machine.running or not await self.is_alive(kernel_id):
            raise BackendError(f"kernel {kernel_id} is dead")
        current = self.machine.env[kernel_id]
        changed = {k for k in set(env) | set(current) if env.get(k) != current.get(k)}
        if not changed <= self.handout_env_keys or not set(current) <= set(env):
            return None
        self.machine.env[kernel_id] = dict(env)
        self.handed_out.append(kernel_id)
        self.set_activity(kernel_id, last_activity=datetime.now(UTC))
        return self._record(kernel_id, self.machine.running[kernel_id])

    async def restart(self, kernel_id: str) -> None:
        self._require(kernel_id)
        self.restarts[kernel_id] = self.restarts.get(kernel_id, 0) + 1
        self.machine.generation[kernel_id] += 1  # a new process: the old record no longer reaches it
        if self.record_listener is not None:
            await self.record_listener(self._record(kernel_id, self.machine.running[kernel_id]))

    async def interrupt(self, kernel_id: str) -> None:
        self._require(kernel_id)

    def _require(self, kernel_id: str) -> None:
        if kernel_id not in self._alive:
            raise NotFoundError(f"Kernel does not exist: {kernel_id}")

    async def is_alive(self, kernel_id: str) -> bool:
        activity = self._alive.get(kernel_id)
        return activity is not None and activity.execution_state is not ExecutionState.DEAD

    async def activity(self, kernel_id: str) -> KernelActivity | None:
        return self._alive.get(kernel_id)

    def set_activity(self, kernel_id: str, **changes: object) -> None:
        """Tests: move a kernel's live state (execution_state, last_activity, state_since, ...)."""
        self._alive[kernel_id] = dataclasses.replace(self._alive[kernel_id], **changes)  # type: ignore[arg-type]

    async def attach(self, kernel_id: str, client_id: str) -> KernelAttachment:
        self._require(kernel_id)
        if self._alive[kernel_id].execution_state is ExecutionState.DEAD:
            raise BackendError(f"kernel {kernel_id} is dead")
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

    async def kernel_ids(self) -> list[str]:
        return list(self._alive)

    async def close(self, *, stop_kernels: bool) -> None:
        for kernel_id in list(self._alive):
            if stop_kernels:
                await self.shutdown(kernel_id)
            else:
                for att in list(self._attached.pop(kernel_id, {}).values()):
                    att._finish(None)
        self._alive.clear()
