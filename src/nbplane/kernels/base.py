"""The kernel runtime contract. `LocalKernelBackend` runs kernels as local processes, `FakeKernelBackend`
runs none (tests); a gateway backend (Jupyter Kernel/Enterprise Gateway) is a sibling. Backends never touch
the database: `nbplane.kernels.service.KernelService` owns kernel rows and calls a backend, and it stores the
`KernelRecord` a backend hands back so that a later server can `adopt` the kernel again.

Every method is async, because only a local process can answer some questions without I/O."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

WireMessage = dict[str, Any]
"""A Jupyter message as a dict (`channel, header, parent_header, metadata, content, buffers`); raw JSON."""


@dataclass(frozen=True)
class KernelSpecInfo:
    name: str
    display_name: str
    language: str
    resource_dir: str | None = None
    spec: dict[str, Any] | None = None


def resource_files(spec: KernelSpecInfo) -> dict[str, Path]:
    """A kernelspec's resource files (logos, kernel.js, ...) by file name; never kernel.json or a subdirectory."""
    if spec.resource_dir is None:
        return {}
    folder = Path(spec.resource_dir)
    if not folder.is_dir():
        return {}
    return {f.name: f for f in sorted(folder.iterdir()) if f.is_file() and f.name != "kernel.json"}


@dataclass(frozen=True)
class LaunchRequest:
    """What to start: a kernelspec in a working directory, with extra environment variables (the backend
    adds its own base environment; the server's own environment never reaches a kernel). `run_as` is the
    workspace's own uid/gid, for backends that run kernels as local processes and isolate them."""

    kernel_id: str
    kernel_name: str
    cwd: str
    env: Mapping[str, str] = field(default_factory=dict)
    run_as: tuple[int, int] | None = None


@dataclass(frozen=True)
class KernelRecord:
    """What a later server needs to reach a running kernel again, as plain JSON.

    `runtime` names the backend kind ("local", "fake", "gateway"); `details` is that backend's own typed
    record serialised (local: connection file, connection info, pid and its start time, the launch's cwd and
    extra env; gateway: the gateway's kernel id). Stored in the kernel's row."""

    kernel_id: str
    kernel_name: str
    runtime: str
    details: Mapping[str, Any]
    connection_info: Mapping[str, Any] | None = None
    pid: int | None = None


@dataclass(frozen=True)
class Adoption:
    """The outcome of `adopt`: whether the kernel answered, and if not, why it is considered dead."""

    alive: bool
    reason: str | None = None


class ExecutionState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    RESTARTING = "restarting"
    AUTORESTARTING = "autorestarting"
    DEAD = "dead"
    UNKNOWN = "unknown"  # a kernel of another node whose lease ran out: nobody can tell


@dataclass(frozen=True)
class KernelActivity:
    """A kernel's live state as the kernel and session models report it; read from memory, never by
    asking the kernel. `reason` says why a kernel is dead; `state_since` is when `execution_state` began
    (the culler measures busy time from it and the idle clock from max(last_activity, state_since))."""

    execution_state: ExecutionState
    last_activity: datetime
    connections: int
    reason: str | None = None
    state_since: datetime | None = None


class KernelAttachment(Protocol):
    """One client's live connection to a kernel (the websocket bridge holds one per websocket).

    Iterate it for messages from the kernel (iopub broadcast, replies to this client's requests, and
    first whatever was buffered while no client was attached); iteration ends when it is detached,
    replaced by a newer attachment with the same client id, falls behind, or the kernel's channels
    close (then `close_reason` says which, and `close_detail` says why in words, e.g. a cull)."""

    client_id: str
    close_reason: str | None
    close_detail: str | None

    async def send(self, channel: str, msg: WireMessage) -> None:
        """Send a client message on shell, control or stdin. Raises InvalidInputError for a bad
        channel or message, ConflictError once detached, BackendError when the kernel is unreachable."""
        ...

    def detach(self) -> None:
        """Stop receiving; idempotent."""
        ...

    def __aiter__(self) -> AsyncIterator[WireMessage]: ...


class KernelBackend(ABC):
    """Start, stop, restart, observe and re-adopt kernels. Called by `KernelService` only (which serialises
    nothing: methods may run concurrently for different kernels). Methods that take a kernel id raise
    NotFoundError for a kernel this backend does not run, unless they say they are idempotent."""

    runtime: str
    """The `KernelRecord.runtime` this backend writes and adopts."""
    default_kernel_name: str

    @abstractmethod
    async def kernelspecs(self) -> dict[str, KernelSpecInfo]:
        """Installed kernelspecs by name."""

    @abstractmethod
    async def start(self, request: LaunchRequest) -> KernelRecord:
        """Start a kernel and return once it has answered `kernel_info`. The kernel must outlive this server
        process (a crash or a `close(stop_kernels=False)` leaves it running).
        Raises InvalidInputError for an unknown kernelspec, BackendError if it cannot start."""

    @abstractmethod
    async def adopt(self, record: KernelRecord, *, last_activity: datetime | None = None) -> Adoption:
        """Reconnect to a kernel a previous server started (`record` as `start` returned it) within a bounded
        time, and resume tracking it (activity, connections, replay buffer) as if this backend had started
        it. A kernel that is gone or does not answer is not tracked; the Adoption says why. Never raises for a
        dead kernel; InvalidInputError for a record of another runtime."""

    @abstractmethod
    async def stop_orphans(self, known: Collection[str]) -> list[str]:
        """Stop kernels this backend's runtime started that are not in `known` (their rows are gone), and
        return their ids. Called once at start, after adoption."""

    @abstractmethod
    async def shutdown(self, kernel_id: str, *, now: bool = False, reason: str | None = None) -> None:
        """Stop a kernel. Attached clients are told it is dead (`reason`, if given, is shown to them) and
        detached. Idempotent: an unknown or already-stopped kernel is not an error."""

    @abstractmethod
    async def restart(self, kernel_id: str) -> None:
        """A restart the user asked for: same id, fresh namespace; returns once the kernel answers.
        Clients are not sent a `restarting` status (frontends read that as a crash); they see the new
        kernel's own `starting`/`idle`. BackendError if it does not come back."""

    @abstractmethod
    async def interrupt(self, kernel_id: str) -> None:
        """Interrupt the running cell."""

    @abstractmethod
    async def is_alive(self, kernel_id: str) -> bool:
        """Whether this backend runs the kernel and it is not dead. Never raises."""

    @abstractmethod
    async def activity(self, kernel_id: str) -> KernelActivity | None:
        """Cached activity of a kernel this backend runs, or None. Never raises."""

    @abstractmethod
    async def attach(self, kernel_id: str, client_id: str) -> KernelAttachment:
        """Attach a client (a websocket) to a running kernel; counts in `connections` until detached.
        An attachment with the same `client_id` is replaced. BackendError for a dead kernel."""

    supports_pool: bool = False
    """Whether `hand_out` can prepare a kernel started ahead of demand; a warm pool is kept only then."""

    async def hand_out(self, kernel_id: str, env: Mapping[str, str]) -> KernelRecord | None:
        """Prepare a kernel started ahead of demand (the warm pool) for the start that takes it: check it is
        alive and answers, give it `env` where it differs from its launch env (the process, and the env its
        restarts use), and start its activity clock now. Returns its (maybe new) record, or None, leaving the
        kernel untouched, when this backend cannot apply that env to a started kernel (the caller then starts a
        fresh one). BackendError when the kernel is dead or does not answer. Backends without a pool keep this
        default."""
        return None

    record_listener: Callable[[KernelRecord], Awaitable[None]] | None = None
    """Set by the owner: awaited with a kernel's new record whenever what is needed to reach it changes (a
    restart relaunches the process: a new pid, maybe new ports), so that the stored record stays adoptable."""

    @abstractmethod
    async def kernel_ids(self) -> list[str]:
        """Ids of the kernels this backend tracks (dead ones included until they are shut down)."""

    @abstractmethod
    async def close(self, *, stop_kernels: bool) -> None:
        """Called once at server shutdown: stop every kernel, or (`stop_kernels=False`) only let go of them
        (close sockets and watchers) so that the next server can adopt them."""
