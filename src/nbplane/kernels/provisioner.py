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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from jupyter_client.provisioning import LocalProvisioner

from nbplane.kernels.isolation import Isolation, IsolationMode, sandbox_command


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


@dataclass(frozen=True)
class Confinement:
    """How one kernel is confined (see `nbplane.kernels.isolation`): its uid/gid (None: the server's), its
    home, its ZMQ socket folder, and the workspace folder it may write."""

    isolation: Isolation
    run_as: tuple[int, int] | None
    home: str
    ipc_dir: str | None
    cwd: str


class DetachedProvisioner(LocalProvisioner):  # type: ignore[misc]
    """LocalProvisioner whose kernels survive the server; `log_path` receives the kernel's output, and
    `confinement` (if set) makes it run as another user, in a sandbox, or both."""

    log_path: Path | None = None
    pid_started: float | None = None
    confinement: Confinement | None = None
    _adopted = False

    @property
    def sandboxed(self) -> bool:
        return self.confinement is not None and self.confinement.isolation.mode is IsolationMode.SANDBOX

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
        cmd = self._confine(cmd, kwargs)
        log = None
        if self.log_path is not None:
            log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
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

    def _confine(self, cmd: list[str], kwargs: dict[str, Any]) -> list[str]:
        """Apply the confinement to the launch: the connection file goes to the kernel's uid (0600), and the
        command runs as that uid (user mode) or inside bubblewrap, dropping to it (sandbox mode)."""
        c = self.confinement
        if c is None or not c.isolation.isolated:
            return cmd
        connection_file = str(self.parent.connection_file)
        if c.run_as is not None:
            os.chown(connection_file, *c.run_as)
            os.chmod(connection_file, 0o600)
        kwargs["cwd"] = c.cwd
        if c.isolation.mode is IsolationMode.SANDBOX:
            # The umask is set inside (see sandbox_command): bubblewrap's own mount points must stay passable.
            return sandbox_command(
                cmd,
                isolation=c.isolation,
                cwd=c.cwd,
                home=c.home,
                connection_file=connection_file,
                ipc_dir=c.ipc_dir,
                run_as=c.run_as,
            )
        kwargs["umask"] = 0o077
        if c.run_as is not None:
            kwargs["user"], kwargs["group"] = c.run_as
            kwargs["extra_groups"] = []
        return cmd

    def _kernel_pids(self) -> list[int]:
        """The kernel's own process: bubblewrap's child in a sandbox (bwrap dies of an interrupt signal it
        would otherwise receive with the whole group, while the kernel lives on), else the launched process."""
        if self.pid is None:
            return []
        if not self.sandboxed:
            return [self.pid]
        try:
            return [child.pid for child in psutil.Process(self.pid).children()]
        except psutil.NoSuchProcess:
            return []

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
        if self.sandboxed and signum != signal.SIGKILL:
            for pid in self._kernel_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
            return
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
