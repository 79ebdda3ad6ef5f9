"""Kernels as local processes through jupyter_client, each watched over its own IOPub subscription."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.ioloop import AsyncIOLoopKernelManager
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from nbplane.errors import BackendError, InvalidInputError, NotFoundError
from nbplane.kernels.activity import ActivityTracker
from nbplane.kernels.base import KernelActivity, KernelBackend, KernelSpecInfo, StartedKernel

log = logging.getLogger(__name__)


class _RunningKernel:
    def __init__(self, kernel_id: str, manager: AsyncIOLoopKernelManager) -> None:
        self.id = kernel_id
        self.manager = manager
        self.tracker = ActivityTracker()
        self.connections = 0
        self.watcher: asyncio.Task[None] | None = None


class LocalKernelBackend(KernelBackend):
    def __init__(
        self,
        runtime_dir: Path,
        *,
        default_kernel_name: str = "python3",
        start_timeout: float = 60.0,
        spec_manager: KernelSpecManager | None = None,
    ) -> None:
        self.runtime_dir = runtime_dir
        self.default_kernel_name = default_kernel_name
        self.start_timeout = start_timeout
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
        )
        manager.kernel_id = kernel_id
        running = _RunningKernel(kernel_id, manager)
        self._kernels[kernel_id] = running
        try:
            await manager.start_kernel(cwd=cwd, env={**os.environ, **(env or {})})
            running.watcher = asyncio.create_task(self._watch(running), name=f"iopub-{kernel_id}")
            await self._wait_ready(manager)
        except Exception as exc:
            self._kernels.pop(kernel_id, None)
            await self._stop(running, now=True)
            raise BackendError(f"kernel '{kernel_name}' failed to start: {exc or type(exc).__name__}") from exc
        manager.add_restart_callback(lambda: running.tracker.set_state("autorestarting"), "restart")
        manager.add_restart_callback(
            lambda: running.tracker.set_state("dead", "kernel died and restarts are exhausted"), "dead"
        )
        manager.start_restarter()
        provisioner = manager.provisioner
        pid = getattr(getattr(provisioner, "process", None), "pid", None)
        return StartedKernel(kernel_id, kernel_name, _jsonable(manager.get_connection_info()), pid)

    def unknown_kernel_message(self, kernel_name: str) -> str:
        available = ", ".join(sorted(self._specs.find_kernel_specs())) or "none"
        return f"No such kernel '{kernel_name}'. Available kernels: {available}."

    async def _wait_ready(self, manager: AsyncIOLoopKernelManager) -> None:
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=self.start_timeout)
        finally:
            client.stop_channels()

    async def _watch(self, running: _RunningKernel) -> None:
        socket = zmq.asyncio.Context.instance().socket(zmq.SUB)
        socket.linger = 0
        socket.setsockopt(zmq.SUBSCRIBE, b"")
        socket.connect(channel_url(running.manager.get_connection_info(), "iopub"))
        session = running.manager.session
        try:
            while True:
                frames = await socket.recv_multipart()
                try:
                    _idents, parts = session.feed_identities(frames)
                    msg = session.deserialize(parts, content=True)
                except Exception:
                    log.debug("undecodable iopub message on kernel %s", running.id)
                    continue
                running.tracker.observe(msg)
        except (asyncio.CancelledError, zmq.ZMQError):
            pass
        except Exception:
            log.exception("iopub watcher of kernel %s stopped", running.id)
        finally:
            socket.close(linger=0)

    async def shutdown(self, kernel_id: str, *, now: bool = False) -> None:
        running = self._kernels.pop(kernel_id, None)
        if running is not None:
            await self._stop(running, now=now)

    async def _stop(self, running: _RunningKernel, *, now: bool) -> None:
        running.tracker.set_state("terminating")
        if running.watcher is not None:
            running.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running.watcher
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

    async def restart(self, kernel_id: str) -> None:
        running = self._get(kernel_id)
        running.tracker.set_state("restarting")
        try:
            await running.manager.restart_kernel(now=True)
            await self._wait_ready(running.manager)
        except Exception as exc:
            running.tracker.set_state("dead", f"restart failed: {exc}")
            raise BackendError(f"kernel {kernel_id} failed to restart: {exc}") from exc

    async def interrupt(self, kernel_id: str) -> None:
        await self._get(kernel_id).manager.interrupt_kernel()

    def is_alive(self, kernel_id: str) -> bool:
        running = self._kernels.get(kernel_id)
        return running is not None and running.tracker.execution_state != "dead"

    def activity(self, kernel_id: str) -> KernelActivity | None:
        running = self._kernels.get(kernel_id)
        if running is None:
            return None
        t = running.tracker
        return KernelActivity(t.execution_state, t.last_activity, running.connections, t.reason)

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
