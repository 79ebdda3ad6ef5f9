"""Kernels as local processes through jupyter_client; each kernel's zmq traffic (the server's own
watch, every websocket client) goes through one `KernelChannels`, so every reader sees one live state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jupyter_client.ioloop import AsyncIOLoopKernelManager
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from traitlets.config import Config

from nbplane.errors import BackendError, InvalidInputError, NotFoundError
from nbplane.kernels.base import (
    ExecutionState,
    KernelActivity,
    KernelAttachment,
    KernelBackend,
    KernelSpecInfo,
    StartedKernel,
)
from nbplane.kernels.channels import KernelChannels

log = logging.getLogger(__name__)

_RECOVERY_PROBE_S = 1.0


class _RunningKernel:
    def __init__(self, kernel_id: str, manager: AsyncIOLoopKernelManager) -> None:
        self.id = kernel_id
        self.manager = manager
        self.channels: KernelChannels | None = None
        self.started_at = datetime.now(UTC)
        self.recovery: asyncio.Task[None] | None = None


class LocalKernelBackend(KernelBackend):
    def __init__(
        self,
        runtime_dir: Path,
        *,
        default_kernel_name: str = "python3",
        start_timeout: float = 60.0,
        restart_limit: int = 5,
        replay_max_messages: int = 10_000,
        replay_max_bytes: int = 16 * 1024 * 1024,
        spec_manager: KernelSpecManager | None = None,
    ) -> None:
        self.runtime_dir = runtime_dir
        self.default_kernel_name = default_kernel_name
        self.start_timeout = start_timeout
        self.restart_limit = restart_limit
        self.replay_max_messages = replay_max_messages
        self.replay_max_bytes = replay_max_bytes
        self._specs = spec_manager or KernelSpecManager()
        self._kernels: dict[str, _RunningKernel] = {}

    def kernelspecs(self) -> dict[str, KernelSpecInfo]:
        specs: dict[str, KernelSpecInfo] = {}
        for name, entry in self._specs.get_all_specs().items():
            spec = entry.get("spec", {})
            specs[name] = KernelSpecInfo(
                name=name,
                display_name=spec.get("display_name", name),
                language=spec.get("language", ""),
                resource_dir=entry.get("resource_dir"),
                spec=spec,
            )
        return specs

    async def start(
        self, kernel_name: str, *, kernel_id: str, cwd: str | None = None, env: dict[str, str] | None = None
    ) -> StartedKernel:
        try:
            self._specs.get_kernel_spec(kernel_name)
        except NoSuchKernel as exc:
            raise InvalidInputError(self.unknown_kernel_message(kernel_name)) from exc
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        manager = AsyncIOLoopKernelManager(
            kernel_name=kernel_name,
            kernel_spec_manager=self._specs,
            connection_file=str(self.runtime_dir / f"kernel-{kernel_id}.json"),
            config=Config({"KernelRestarter": {"restart_limit": self.restart_limit}}),
        )
        manager.kernel_id = kernel_id
        running = _RunningKernel(kernel_id, manager)
        self._kernels[kernel_id] = running
        try:
            # post_start_kernel starts the restarter; callbacks go on before anything can die.
            manager.autorestart = False
            await manager.start_kernel(cwd=cwd, env={**os.environ, **(env or {})})
            channels = KernelChannels(
                manager.get_connection_info(),
                replay_max_messages=self.replay_max_messages,
                replay_max_bytes=self.replay_max_bytes,
            )
            await channels.start(wait_s=self.start_timeout)
            running.channels = channels
        except Exception as exc:
            self._kernels.pop(kernel_id, None)
            await self._stop(running, now=True)
            raise BackendError(f"kernel '{kernel_name}' failed to start: {exc or type(exc).__name__}") from exc
        manager.autorestart = True
        manager.start_restarter()
        manager.add_restart_callback(lambda: self._on_autorestart(running), "restart")
        manager.add_restart_callback(lambda: self._on_dead(running), "dead")
        pid = getattr(getattr(manager.provisioner, "process", None), "pid", None)
        return StartedKernel(kernel_id, kernel_name, _jsonable(manager.get_connection_info()), pid)

    def unknown_kernel_message(self, kernel_name: str) -> str:
        available = ", ".join(sorted(self._specs.find_kernel_specs())) or "none"
        return f"No such kernel '{kernel_name}'. Available kernels: {available}."

    # ---- restarts ----------------------------------------------------------------------------

    def _on_autorestart(self, running: _RunningKernel) -> None:
        """The restarter found the process dead and is about to start a new one (maybe on new ports)."""
        if running.channels is None or self._kernels.get(running.id) is not running:
            return
        running.channels.set_state(ExecutionState.AUTORESTARTING)
        if running.recovery is None or running.recovery.done():
            running.recovery = asyncio.get_running_loop().create_task(
                self._recover(running, deadline_s=self.start_timeout), name=f"recover-{running.id}"
            )

    def _on_dead(self, running: _RunningKernel) -> None:
        if running.recovery is not None:
            running.recovery.cancel()
        if running.channels is not None:
            running.channels.set_state(ExecutionState.DEAD, "kernel died and restarts are exhausted")

    async def _recover(self, running: _RunningKernel, *, deadline_s: float) -> None:
        """Follow a restarted process until it answers, then report it idle."""
        channels = running.channels
        if channels is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        while loop.time() < deadline:
            if channels.execution_state is ExecutionState.DEAD:
                return
            info = running.manager.get_connection_info()
            if running.manager.has_kernel and not channels.same_ports(info):
                log.info("kernel %s restarted on new ports; reconnecting its channels", running.id)
                await channels.reconnect(info)
            try:
                await channels.probe("control", wait_s=_RECOVERY_PROBE_S)
            except BackendError:
                continue
            if channels.execution_state in (
                ExecutionState.STARTING,
                ExecutionState.RESTARTING,
                ExecutionState.AUTORESTARTING,
            ):
                channels.set_state(ExecutionState.IDLE)
            return
        log.warning("kernel %s did not answer within %.0f s of a restart", running.id, deadline_s)

    async def restart(self, kernel_id: str) -> None:
        running = self._get(kernel_id)
        channels = running.channels
        if channels is None:
            raise BackendError(f"kernel {kernel_id} is still starting")
        if running.recovery is not None:
            running.recovery.cancel()
        channels.set_state(ExecutionState.RESTARTING)
        try:
            await running.manager.restart_kernel(now=True)
            running.recovery = asyncio.get_running_loop().create_task(
                self._recover(running, deadline_s=self.start_timeout), name=f"recover-{kernel_id}"
            )
            await running.recovery
        except Exception as exc:
            channels.set_state(ExecutionState.DEAD, f"restart failed: {exc}")
            raise BackendError(f"kernel {kernel_id} failed to restart: {exc}") from exc
        if channels.execution_state is not ExecutionState.IDLE and channels.execution_state is not ExecutionState.BUSY:
            channels.set_state(ExecutionState.DEAD, "the kernel did not answer after a restart")
            raise BackendError(f"kernel {kernel_id} did not answer after a restart")

    # ---- stop --------------------------------------------------------------------------------

    async def shutdown(self, kernel_id: str, *, now: bool = False) -> None:
        running = self._kernels.pop(kernel_id, None)
        if running is not None:
            await self._stop(running, now=now)

    async def _stop(self, running: _RunningKernel, *, now: bool) -> None:
        if running.recovery is not None:
            running.recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running.recovery
        if running.channels is not None:
            await running.channels.close()
        manager = running.manager
        manager.stop_restarter()
        try:
            if manager.has_kernel:
                await manager.shutdown_kernel(now=now)
        except Exception:
            log.exception("kernel %s did not shut down cleanly", running.id)
        finally:
            with contextlib.suppress(Exception):
                await manager.cleanup_resources()

    def _get(self, kernel_id: str) -> _RunningKernel:
        running = self._kernels.get(kernel_id)
        if running is None:
            raise NotFoundError(f"Kernel does not exist: {kernel_id}")
        return running

    # ---- observe and attach ------------------------------------------------------------------

    async def interrupt(self, kernel_id: str) -> None:
        await self._get(kernel_id).manager.interrupt_kernel()

    def is_alive(self, kernel_id: str) -> bool:
        running = self._kernels.get(kernel_id)
        if running is None:
            return False
        return running.channels is None or running.channels.execution_state is not ExecutionState.DEAD

    def activity(self, kernel_id: str) -> KernelActivity | None:
        running = self._kernels.get(kernel_id)
        if running is None:
            return None
        if running.channels is None:
            return KernelActivity(ExecutionState.STARTING, running.started_at, 0)
        return running.channels.activity

    def attach(self, kernel_id: str, client_id: str) -> KernelAttachment:
        running = self._get(kernel_id)
        if running.channels is None:
            raise BackendError(f"kernel {kernel_id} is still starting")
        return running.channels.attach(client_id)

    def kernel_ids(self) -> list[str]:
        return list(self._kernels)

    async def close(self) -> None:
        kernels = list(self._kernels.values())
        self._kernels.clear()
        await asyncio.gather(*(self._stop(k, now=False) for k in kernels), return_exceptions=True)


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in info.items()}


def channel_url(info: dict[str, Any], channel: str) -> str:
    """The ZMQ address of one of a kernel's channels, from its connection info."""
    port = info[f"{channel}_port"]
    if info.get("transport", "tcp") == "ipc":
        return f"ipc://{info['ip']}-{port}"
    return f"tcp://{info['ip']}:{port}"
