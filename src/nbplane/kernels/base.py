"""The kernel runtime interface. `LocalKernelBackend` runs kernels as local processes; a gateway-backed
implementation (Jupyter Kernel/Enterprise Gateway) can be a sibling later. Policy (which session owns
which kernel, when to shut one down) stays in the sessions service."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
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
class StartedKernel:
    id: str
    name: str
    connection_info: dict[str, Any]
    pid: int | None


class ExecutionState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    RESTARTING = "restarting"
    AUTORESTARTING = "autorestarting"
    DEAD = "dead"


@dataclass(frozen=True)
class KernelActivity:
    """A kernel's live state as the kernel and session models report it; read from memory, never by
    asking the kernel. `reason` says why a kernel is dead."""

    execution_state: ExecutionState
    last_activity: datetime
    connections: int
    reason: str | None = None


class KernelAttachment(Protocol):
    """One client's live connection to a kernel (the websocket bridge holds one per websocket).

    Iterate it for messages from the kernel (iopub broadcast, replies to this client's requests, and
    first whatever was buffered while no client was attached); iteration ends when it is detached,
    replaced by a newer attachment with the same client id, falls behind, or the kernel's channels
    close (then `close_reason` says which)."""

    client_id: str
    close_reason: str | None

    async def send(self, channel: str, msg: WireMessage) -> None:
        """Send a client message on shell, control or stdin. Raises InvalidInputError for a bad
        channel or message, ConflictError once detached, BackendError when the kernel is unreachable."""
        ...

    def detach(self) -> None:
        """Stop receiving; idempotent."""
        ...

    def __aiter__(self) -> AsyncIterator[WireMessage]: ...


class KernelBackend(ABC):
    """Start, stop, restart and observe kernels. Every method is safe to call for an unknown id
    where documented; none of them touches the database."""

    default_kernel_name: str

    @abstractmethod
    def kernelspecs(self) -> dict[str, KernelSpecInfo]:
        """Installed kernelspecs by name."""

    @abstractmethod
    async def start(
        self, kernel_name: str, *, kernel_id: str, cwd: str | None = None, env: dict[str, str] | None = None
    ) -> StartedKernel:
        """Start a kernel and return once it has answered `kernel_info`.
        Raises InvalidInputError for an unknown kernelspec, BackendError if it cannot start."""

    @abstractmethod
    async def shutdown(self, kernel_id: str, *, now: bool = False) -> None:
        """Stop a kernel. Idempotent: an unknown or already-stopped kernel is not an error."""

    @abstractmethod
    async def restart(self, kernel_id: str) -> None:
        """Restart in place (same id, fresh namespace). Raises NotFoundError for an unknown kernel."""

    @abstractmethod
    async def interrupt(self, kernel_id: str) -> None:
        """Interrupt the running cell. Raises NotFoundError for an unknown kernel."""

    @abstractmethod
    def is_alive(self, kernel_id: str) -> bool:
        """Whether this backend runs the kernel and its process is alive."""

    @abstractmethod
    def activity(self, kernel_id: str) -> KernelActivity | None:
        """Cached activity of a kernel this backend runs, or None."""

    @abstractmethod
    def attach(self, kernel_id: str, client_id: str) -> KernelAttachment:
        """Attach a client (a websocket) to a running kernel; counts in `connections` until detached.
        An attachment with the same `client_id` is replaced. Raises NotFoundError for an unknown kernel."""

    @abstractmethod
    def kernel_ids(self) -> list[str]:
        """Ids of the kernels this backend runs."""

    @abstractmethod
    async def close(self) -> None:
        """Stop every kernel; called once at server shutdown."""
