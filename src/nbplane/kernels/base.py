"""The kernel runtime interface. `LocalKernelBackend` runs kernels as local processes; a gateway-backed
implementation (Jupyter Kernel/Enterprise Gateway) can be a sibling later. Policy (which session owns
which kernel, when to shut one down) stays in the sessions service."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class KernelSpecInfo:
    name: str
    display_name: str
    language: str
    resource_dir: str | None = None
    spec: dict[str, Any] | None = None


@dataclass(frozen=True)
class StartedKernel:
    id: str
    name: str
    connection_info: dict[str, Any]
    pid: int | None


@dataclass(frozen=True)
class KernelActivity:
    """What the kernel itself last told us; read from memory, never by asking the kernel."""

    execution_state: str
    last_activity: datetime
    connections: int
    reason: str | None = None


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
    def kernel_ids(self) -> list[str]:
        """Ids of the kernels this backend runs."""

    @abstractmethod
    async def close(self) -> None:
        """Stop every kernel; called once at server shutdown."""
