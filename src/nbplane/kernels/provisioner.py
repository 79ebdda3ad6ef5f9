"""A jupyter_client provisioner for kernels that outlive the server, and can be taken over again by pid.

jupyter_client already starts each kernel in a session of its own (`start_new_session`), so a signal to the
server's process group never reaches it; what ends it with the server is ipykernel's parent-process watch,
armed by `JPY_PARENT_PID`. This provisioner launches with `independent=True` (no watch), sends the kernel's
stdout/stderr to a log file instead of the server's (a closed pipe would otherwise break the kernel), and
can `adopt` a running kernel by pid, checking the process start time so a recycled pid is never taken
for the kernel."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import psutil
from jupyter_client.provisioning import LocalProvisioner


def process_start_time(pid: int) -> float | None:
    """The process's start time (psutil's create_time), or None when it is gone or a zombie."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def same_process(pid: int, started: float | None) -> bool:
    """Whether `pid` is still the process that started at `started` (and is not a zombie)."""
    now = process_start_time(pid)
    return now is not None and (started is None or abs(now - started) < 0.5)


class DetachedProvisioner(LocalProvisioner):  # type: ignore[misc]
    """LocalProvisioner whose kernels survive the server; `log_path` receives the kernel's output."""

    log_path: Path | None = None
    pid_started: float | None = None
    _adopted = False

    @property
    def has_process(self) -> bool:
        return self.process is not None or (self._adopted and self.pid is not None)

    def adopt(self, pid: int, pid_started: float | None, connection_info: dict[str, Any], cwd: str) -> None:
        """Take over a running kernel started by an earlier server (not a child of this process)."""
        self._adopted = True
        self.pid = pid
        self.pid_started = pid_started
        try:
            self.pgid = os.getpgid(pid)
        except OSError:
            self.pgid = None
        self.connection_info = connection_info
        self.cwd = cwd
        self.ports_cached = False  # this process's port cache never handed out these ports

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        env = dict(kwargs.pop("env", None) or {})
        env.pop("JPY_PARENT_PID", None)
        kwargs["env"] = env
        kwargs["independent"] = True
        kwargs["stdin"] = subprocess.DEVNULL
        log = None
        if self.log_path is not None:
            log = self.log_path.open("ab")
            kwargs["stdout"] = log
            kwargs["stderr"] = subprocess.STDOUT
        try:
            info = await super().launch_kernel(cmd, **kwargs)
        finally:
            if log is not None:
                log.close()  # the child has its own copy of the descriptor
        self._adopted = False
        self.pid_started = process_start_time(self.pid) if self.pid else None
        return info

    async def poll(self) -> int | None:
        if self.process is not None or not self._adopted:
            return await super().poll()
        if self.pid is not None and same_process(self.pid, self.pid_started):
            return None
        return 0

    async def wait(self) -> int | None:
        if self.process is not None or not self._adopted:
            return await super().wait()
        while await self.poll() is None:  # noqa: ASYNC110 (polling another process)
            await asyncio.sleep(0.1)
        self.pid = None
        return 0

    async def send_signal(self, signum: int) -> None:
        if self.process is not None or not self._adopted:
            await super().send_signal(signum)
            return
        if self.pid is None or not same_process(self.pid, self.pid_started):
            return
        if self.pgid:
            with contextlib.suppress(OSError):
                os.killpg(self.pgid, signum)
                return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    async def kill(self, restart: bool = False) -> None:
        if self.process is not None or not self._adopted:
            await super().kill(restart)
        else:
            await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        if self.process is not None or not self._adopted:
            await super().terminate(restart)
        else:
            await self.send_signal(signal.SIGTERM)
