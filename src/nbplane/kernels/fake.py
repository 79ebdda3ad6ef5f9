"""An in-memory KernelBackend with no processes, for fast tests of the layers above."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from nbplane.errors import BackendError, InvalidInputError, NotFoundError
from nbplane.kernels.base import KernelActivity, KernelBackend, KernelSpecInfo, StartedKernel


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
        self._alive[kernel_id] = KernelActivity("idle", datetime.now(UTC), 0)
        return StartedKernel(kernel_id, kernel_name, {"transport": "fake", "key": ""}, None)

    async def shutdown(self, kernel_id: str, *, now: bool = False) -> None:
        self._alive.pop(kernel_id, None)

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

    def kernel_ids(self) -> list[str]:
        return list(self._alive)

    async def close(self) -> None:
        self._alive.clear()
