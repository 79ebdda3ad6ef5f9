"""Kernels as local processes through jupyter_client; each kernel's zmq traffic (the server's own
watch, every websocket client) goes through one `KernelChannels`, so every reader sees one live state.

Kernels outlive the server (see `nbplane.kernels.provisioner`): `close(stop_kernels=False)` only lets go of
them, and `adopt` takes one over again from its `KernelRecord` (connection file, pid and start time, launch
cwd and extra env), so that a later server can restart it in place with the same launch arguments."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import stat as stat_mod
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from jupyter_client.ioloop import AsyncIOLoopKernelManager
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from traitlets.config import Config

from nbplane.errors import BackendError, InvalidInputError, NotFoundError
from nbplane.kernels.base import (
    Adoption,
    ExecutionState,
    KernelActivity,
    KernelAttachment,
    KernelBackend,
    KernelRecord,
    KernelSpecInfo,
    LaunchRequest,
)
from nbplane.kernels.channels import KernelChannels
from nbplane.kernels.environment import kernel_environment
from nbplane.kernels.isolation import Isolation, IsolationMode, unreachable_by_others
from nbplane.kernels.provisioner import Confinement, DetachedProvisioner, same_process

log = logging.getLogger(__name__)

_CONNECTION_FILE = re.compile(r"kernel-([0-9a-fA-F-]{8,64})\.json$")


@dataclass(frozen=True)
class LocalKernelDetails:
    """The local runtime's part of a KernelRecord."""

    connection_file: str
    pid: int
    pid_started: float | None
    cwd: str
    env: dict[str, str]
    run_as: tuple[int, int] | None = None
    home: str | None = None
    ipc_dir: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> LocalKernelDetails:
        try:
            run_as = data.get("run_as")
            return cls(
                connection_file=str(data["connection_file"]),
                pid=int(data["pid"]),
                pid_started=None if data.get("pid_started") is None else float(data["pid_started"]),
                cwd=str(data["cwd"]),
                env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
                run_as=None if run_as is None else (int(run_as[0]), int(run_as[1])),
                home=data.get("home"),
                ipc_dir=data.get("ipc_dir"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"not a local kernel record: {exc}") from exc


class _KernelManager(AsyncIOLoopKernelManager):  # type: ignore[misc]
    """Calls `on_launched` after every (re)launch of the process, so the owner reconnects to new ports
    from a known point instead of guessing from a half-updated connection info."""

    on_launched: Callable[[], None] | None = None

    async def _async_post_start_kernel(self, **kw: Any) -> None:
        await super()._async_post_start_kernel(**kw)
        if self.on_launched is not None:
            self.on_launched()


class _RunningKernel:
    def __init__(
        self, kernel_id: str, manager: _KernelManager, cwd: str = "", env: Mapping[str, str] | None = None
    ) -> None:
        self.id = kernel_id
        self.manager = manager
        self.cwd = cwd
        self.env = dict(env or {})
        self.channels: KernelChannels | None = None
        self.started_at = datetime.now(UTC)
        self.recovery: asyncio.Task[None] | None = None


class LocalKernelBackend(KernelBackend):
    runtime = "local"

    def __init__(
        self,
        runtime_dir: Path,
        *,
        default_kernel_name: str = "python3",
        start_timeout: float = 60.0,
        adopt_timeout: float = 10.0,
        restart_limit: int = 5,
        replay_max_messages: int = 10_000,
        replay_max_bytes: int = 16 * 1024 * 1024,
        env_passthrough: Collection[str] = (),
        isolation: Isolation | None = None,
        homes_dir: Path | None = None,
        spec_manager: KernelSpecManager | None = None,
    ) -> None:
        self.runtime_dir = runtime_dir
        self.default_kernel_name = default_kernel_name
        self.start_timeout = start_timeout
        self.adopt_timeout = adopt_timeout
        self.restart_limit = restart_limit
        self.replay_max_messages = replay_max_messages
        self.replay_max_bytes = replay_max_bytes
        self.env_passthrough = tuple(env_passthrough)
        self.isolation = isolation or Isolation(IsolationMode.NONE)
        self.homes_dir = homes_dir or runtime_dir.parent / "homes"
        self._specs = spec_manager or KernelSpecManager()
        self._kernels: dict[str, _RunningKernel] = {}

    async def kernelspecs(self) -> dict[str, KernelSpecInfo]:
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

    # ---- start and adopt ---------------------------------------------------------------------

    def _manager(
        self, kernel_id: str, kernel_name: str, confinement: Confinement | None = None
    ) -> tuple[_KernelManager, DetachedProvisioner]:
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        # Isolated kernels pass through to their own (owner-only) connection file and socket folder.
        self.runtime_dir.chmod(0o711 if self.isolation.isolated else 0o700)
        extra: dict[str, Any] = {}
        if confinement is not None and confinement.ipc_dir is not None:
            extra = {"transport": "ipc", "ip": f"{confinement.ipc_dir}/k"}
        manager = _KernelManager(
            kernel_name=kernel_name,
            kernel_spec_manager=self._specs,
            connection_file=str(self.runtime_dir / f"kernel-{kernel_id}.json"),
            config=Config({"KernelRestarter": {"restart_limit": self.restart_limit}}),
            **extra,
        )
        manager.kernel_id = kernel_id
        provisioner = DetachedProvisioner(kernel_id=kernel_id, kernel_spec=manager.kernel_spec, parent=manager)
        provisioner.log_path = self.runtime_dir / f"kernel-{kernel_id}.log"
        provisioner.confinement = confinement
        manager.provisioner = provisioner  # used instead of the factory's (kept across restarts)
        return manager, provisioner

    def _confinement(self, kernel_id: str, cwd: str, run_as: tuple[int, int] | None) -> Confinement | None:
        """Prepare an isolated kernel's folders: workspace and home owned by its uid (0700), and a socket
        folder of its own. None when kernels are not isolated."""
        if not self.isolation.isolated:
            return None
        run_as = run_as if self.isolation.switches_user else None
        home = self.homes_dir / (str(run_as[0]) if run_as else "shared")
        ipc = self.runtime_dir / f"ipc-{kernel_id}"
        if len(str(ipc)) > 90:  # a Unix socket path has room for about 107 bytes
            ipc = _private_base(Path(f"/tmp/nbplane-ipc-{os.geteuid()}")) / kernel_id
        self.homes_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
        Path(cwd).parent.mkdir(mode=0o711, parents=True, exist_ok=True)
        Path(cwd).parent.chmod(0o711)  # the instance's folder: passable, not listable
        for folder in (Path(cwd), home, ipc):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if folder.is_symlink() or not folder.is_dir():
                raise BackendError(f"{folder} is not a folder of nbplane's")
            if run_as is not None and folder.lstat().st_uid != run_as[0]:
                _give_tree(folder, run_as)  # files the server wrote before the workspace had its own user
            os.chmod(folder, 0o700, follow_symlinks=False)
        return Confinement(self.isolation, run_as, str(home), str(ipc), cwd)

    def _check_reachable(self, kernel_name: str, cwd: str, run_as: tuple[int, int] | None) -> None:
        """In user mode the kernel's own uid must reach its interpreter, its connection file, its home and its
        workspace (a sandbox mounts them back instead); a clear error beats a kernel that never answers."""
        if self.isolation.mode is not IsolationMode.USER or run_as is None or not self.isolation.switches_user:
            return
        argv0 = self._specs.get_kernel_spec(kernel_name).argv[0]
        needed = {"its interpreter": shutil.which(argv0) or argv0, "the data dir": cwd}
        for what, path in needed.items():
            blocked = unreachable_by_others(path)
            if blocked is not None:
                raise BackendError(
                    f"kernel '{kernel_name}' cannot run as an unprivileged user: {blocked} is closed to other "
                    f"users and {what} lies inside it; move it, or use NBPLANE_KERNEL_ISOLATION=sandbox"
                )

    def _launch_env(self, extra: Mapping[str, str], confinement: Confinement | None) -> dict[str, str]:
        env = kernel_environment(extra, passthrough=self.env_passthrough)
        if confinement is not None:
            env["HOME"] = confinement.home
            env["JUPYTER_RUNTIME_DIR"] = f"{confinement.home}/.jupyter-runtime"
            if confinement.run_as is not None:
                env["USER"] = env["LOGNAME"] = f"nbplane-{confinement.run_as[0]}"
        return env

    def _channels(self, manager: _KernelManager) -> KernelChannels:
        return KernelChannels(
            manager.get_connection_info(),
            replay_max_messages=self.replay_max_messages,
            replay_max_bytes=self.replay_max_bytes,
        )

    def _watch(self, running: _RunningKernel) -> None:
        manager = running.manager
        manager.on_launched = lambda: self._on_launched(running)
        manager.autorestart = True
        manager.start_restarter()
        manager.add_restart_callback(lambda: self._on_autorestart(running), "restart")
        manager.add_restart_callback(lambda: self._on_dead(running), "dead")

    async def start(self, request: LaunchRequest) -> KernelRecord:
        try:
            self._specs.get_kernel_spec(request.kernel_name)
        except NoSuchKernel as exc:
            raise InvalidInputError(self.unknown_kernel_message(request.kernel_name)) from exc
        self._check_reachable(request.kernel_name, request.cwd, request.run_as)
        confinement = self._confinement(request.kernel_id, request.cwd, request.run_as)
        manager, _ = self._manager(request.kernel_id, request.kernel_name, confinement)
        running = _RunningKernel(request.kernel_id, manager, request.cwd, request.env)
        self._kernels[request.kernel_id] = running
        env = self._launch_env(request.env, confinement)
        try:
            manager.autorestart = False  # the restarter goes on once the channels are up
            await manager.start_kernel(cwd=request.cwd, env=env)
            channels = self._channels(manager)
            await channels.start(wait_s=self.start_timeout)
            running.channels = channels
        except Exception as exc:
            self._kernels.pop(request.kernel_id, None)
            await self._stop(running, now=True)
            raise BackendError(f"kernel '{request.kernel_name}' failed to start: {exc or type(exc).__name__}") from exc
        self._watch(running)
        return self._record(running)

    def _record(self, running: _RunningKernel) -> KernelRecord:
        provisioner = running.manager.provisioner
        assert isinstance(provisioner, DetachedProvisioner) and provisioner.pid is not None
        c = provisioner.confinement
        details = LocalKernelDetails(
            connection_file=running.manager.connection_file,
            pid=provisioner.pid,
            pid_started=provisioner.pid_started,
            cwd=running.cwd,
            env=running.env,
            run_as=c.run_as if c else None,
            home=c.home if c else None,
            ipc_dir=c.ipc_dir if c else None,
        )
        return KernelRecord(
            kernel_id=running.id,
            kernel_name=running.manager.kernel_name,
            runtime=self.runtime,
            details=asdict(details),
            connection_info=_jsonable(running.manager.get_connection_info()),
            pid=provisioner.pid,
        )

    async def adopt(self, record: KernelRecord, *, last_activity: datetime | None = None) -> Adoption:
        if record.runtime != self.runtime:
            raise InvalidInputError(f"a {record.runtime!r} kernel record cannot be adopted by the local runtime")
        details = LocalKernelDetails.from_json(record.details)
        if record.kernel_id in self._kernels:
            return Adoption(True)
        if not same_process(details.pid, details.pid_started):
            # Its files stay: a stale record may name a kernel that lives on under a new pid; stop_orphans
            # removes the files of every kernel nobody adopted.
            return Adoption(False, "the kernel process ended while no server was running")
        if record.connection_info is None:
            return Adoption(False, "no connection info was recorded for the kernel")
        if self.isolation.isolated and details.home is None:
            # Started before isolation was switched on: adopting it would leave it unconfined (and every
            # restart would relaunch it so); it is stopped, and the session gets a confined kernel next time.
            await _terminate_group(details.pid, details.pid_started)
            return Adoption(False, "the kernel ran without isolation, which this server requires; it was stopped")
        confinement = None
        if details.home is not None:
            confinement = Confinement(self.isolation, details.run_as, details.home, details.ipc_dir, details.cwd)
        try:
            manager, provisioner = self._manager(record.kernel_id, record.kernel_name, confinement)
        except NoSuchKernel:
            await _terminate_group(details.pid, details.pid_started)
            return Adoption(False, f"kernelspec '{record.kernel_name}' is no longer installed")
        info = {k: (v.encode() if k == "key" and isinstance(v, str) else v) for k, v in record.connection_info.items()}
        manager.load_connection_info(info)
        manager.connection_file = details.connection_file
        provisioner.adopt(details.pid, details.pid_started, manager.get_connection_info(), details.cwd)
        # Restarts (user or automatic) relaunch with the original arguments.
        manager._launch_args = {"cwd": details.cwd, "env": self._launch_env(details.env, confinement)}
        manager._connect_control_socket()
        running = _RunningKernel(record.kernel_id, manager, details.cwd, details.env)
        channels = self._channels(manager)
        try:
            await channels.start(wait_s=self.adopt_timeout)
        except BackendError:
            await self._stop(running, now=True)
            return Adoption(False, f"the kernel did not answer within {self.adopt_timeout:g} s of the server's start")
        if last_activity is not None:
            channels.resume(last_activity)
        running.channels = channels
        self._kernels[record.kernel_id] = running
        self._watch(running)
        return Adoption(True)

    async def stop_orphans(self, known: Collection[str]) -> list[str]:
        keep = set(known) | set(self._kernels)
        stopped: list[str] = []
        marker = str(self.runtime_dir)
        for proc in psutil.process_iter(["pid", "cmdline", "create_time"]):
            cmdline = proc.info.get("cmdline") or []
            for arg in cmdline:
                match = _CONNECTION_FILE.search(arg)
                if match and arg.startswith(marker) and match.group(1) not in keep and match.group(1) not in stopped:
                    log.warning("stopping orphan kernel %s (pid %s): no record of it", match.group(1), proc.pid)
                    await _terminate_group(proc.pid, proc.info.get("create_time"))
                    stopped.append(match.group(1))
                    break
        if self.runtime_dir.is_dir():
            for path in self.runtime_dir.glob("kernel-*.json"):
                match = _CONNECTION_FILE.search(path.name)
                if match and match.group(1) not in keep:
                    self._forget_files(match.group(1))
        return stopped

    def _forget_files(self, kernel_id: str) -> None:
        """A kernel that is gone needs no connection file (it holds the kernel's HMAC key)."""
        with contextlib.suppress(OSError):
            (self.runtime_dir / f"kernel-{kernel_id}.json").unlink(missing_ok=True)

    def unknown_kernel_message(self, kernel_name: str) -> str:
        available = ", ".join(sorted(self._specs.find_kernel_specs())) or "none"
        return f"No such kernel '{kernel_name}'. Available kernels: {available}."

    # ---- the warm pool -----------------------------------------------------------------------

    supports_pool = True

    async def hand_out(self, kernel_id: str, env: Mapping[str, str]) -> KernelRecord | None:
        """Only the session's name (JPY_SESSION_NAME, which ipykernel reads at start into `__session__`) can be
        given to a started kernel, and only to a python one; any other difference returns None."""
        running = self._get(kernel_id)
        channels = running.channels
        if channels is None or channels.execution_state is not ExecutionState.IDLE:
            raise BackendError(f"kernel {kernel_id} is not idle")
        if not await running.manager.is_alive():
            raise BackendError(f"kernel {kernel_id}'s process has ended")
        changed = {k: v for k, v in env.items() if running.env.get(k) != v}
        if set(running.env) - set(env) or set(changed) - set(_HANDOUT_ENV):
            return None
        if changed:
            if self._specs.get_kernel_spec(running.manager.kernel_name).language.lower() != "python":
                return None
            reply = await channels.server_execute(_session_name_code(changed["JPY_SESSION_NAME"]), self.adopt_timeout)
            if reply["content"].get("status") != "ok":
                raise BackendError(f"kernel {kernel_id} could not take the session's name: {reply['content']}")
            running.env.update(changed)
            running.manager.update_env(env=dict(changed))  # restarts relaunch with it
        else:
            await channels.probe("shell", self.adopt_timeout)  # it answers on shell, where its user's code runs
        channels.resume(datetime.now(UTC))
        return self._record(running)

    # ---- restarts ----------------------------------------------------------------------------

    def _on_launched(self, running: _RunningKernel) -> None:
        """A new process was launched for a kernel we watch (a restart): follow it until it answers."""
        if running.channels is None or self._kernels.get(running.id) is not running:
            return
        if running.recovery is not None and not running.recovery.done():
            running.recovery.cancel()
        running.recovery = asyncio.get_running_loop().create_task(
            self._recover(running, deadline_s=self.start_timeout), name=f"recover-{running.id}"
        )

    def _on_autorestart(self, running: _RunningKernel) -> None:
        """The restarter found the process dead and is about to start a new one (maybe on new ports)."""
        if running.channels is not None and self._kernels.get(running.id) is running:
            running.channels.set_state(ExecutionState.AUTORESTARTING)

    def _on_dead(self, running: _RunningKernel) -> None:
        if running.recovery is not None:
            running.recovery.cancel()
        if running.channels is not None:
            running.channels.set_state(ExecutionState.DEAD, "kernel died and restarts are exhausted")

    async def _recover(self, running: _RunningKernel, *, deadline_s: float) -> None:
        """Move the channels to the new process's ports if they changed, then probe until it answers."""
        channels = running.channels
        if channels is None:
            return
        info = running.manager.get_connection_info()
        if not channels.same_ports(info):
            log.info("kernel %s restarted on new ports; reconnecting its channels", running.id)
            await channels.reconnect(info)
        try:
            await channels.nudge(deadline_s)  # reports the kernel idle once it answers and iopub is live
        except BackendError:
            log.warning("kernel %s did not answer within %.0f s of a restart", running.id, deadline_s)
            return
        await self._announce_record(running)

    async def _announce_record(self, running: _RunningKernel) -> None:
        """A relaunch gave the kernel a new pid: the stored record must follow, or the next server cannot adopt
        it (and would stop it as an orphan)."""
        if self.record_listener is None or self._kernels.get(running.id) is not running:
            return
        try:
            await self.record_listener(self._record(running))
        except Exception:
            log.exception("recording kernel %s's new process failed", running.id)

    async def restart(self, kernel_id: str) -> None:
        running = self._get(kernel_id)
        channels = running.channels
        if channels is None:
            raise BackendError(f"kernel {kernel_id} is still starting")
        if running.recovery is not None:
            running.recovery.cancel()
        # Reported by the REST models, not broadcast: JupyterLab reads an iopub `restarting` as a crash.
        channels.set_state(ExecutionState.RESTARTING, announce=False)
        try:
            await running.manager.restart_kernel(now=True)
            if running.recovery is not None:
                await running.recovery
        except Exception as exc:
            channels.set_state(ExecutionState.DEAD, f"restart failed: {exc}")
            raise BackendError(f"kernel {kernel_id} failed to restart: {exc}") from exc
        if channels.execution_state not in (ExecutionState.IDLE, ExecutionState.BUSY):
            channels.set_state(ExecutionState.DEAD, "the kernel did not answer after a restart")
            raise BackendError(f"kernel {kernel_id} did not answer after a restart")

    # ---- stop --------------------------------------------------------------------------------

    async def shutdown(self, kernel_id: str, *, now: bool = False, reason: str | None = None) -> None:
        running = self._kernels.pop(kernel_id, None)
        if running is not None:
            if reason is not None and running.channels is not None:
                running.channels.set_state(ExecutionState.DEAD, reason)
            await self._stop(running, now=now, detail=reason)

    async def _stop(self, running: _RunningKernel, *, now: bool, detail: str | None = None) -> None:
        await self._release(running, detail=detail)
        manager = running.manager
        try:
            if manager.has_kernel:
                await manager.shutdown_kernel(now=now)
        except Exception:
            log.exception("kernel %s did not shut down cleanly", running.id)
        finally:
            with contextlib.suppress(Exception):
                await manager.cleanup_resources()

    async def _release(self, running: _RunningKernel, *, detail: str | None = None) -> None:
        """Stop watching a kernel and close our sockets to it; the process is left alone."""
        if running.recovery is not None:
            running.recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running.recovery
        running.manager.on_launched = None
        running.manager.stop_restarter()
        if running.channels is not None:
            await running.channels.close(detail=detail)

    def _get(self, kernel_id: str) -> _RunningKernel:
        running = self._kernels.get(kernel_id)
        if running is None:
            raise NotFoundError(f"Kernel does not exist: {kernel_id}")
        return running

    # ---- observe and attach ------------------------------------------------------------------

    async def interrupt(self, kernel_id: str) -> None:
        await self._get(kernel_id).manager.interrupt_kernel()

    async def is_alive(self, kernel_id: str) -> bool:
        running = self._kernels.get(kernel_id)
        if running is None:
            return False
        return running.channels is None or running.channels.execution_state is not ExecutionState.DEAD

    async def activity(self, kernel_id: str) -> KernelActivity | None:
        running = self._kernels.get(kernel_id)
        if running is None:
            return None
        if running.channels is None:
            return KernelActivity(ExecutionState.STARTING, running.started_at, 0, state_since=running.started_at)
        return running.channels.activity

    async def attach(self, kernel_id: str, client_id: str) -> KernelAttachment:
        running = self._get(kernel_id)
        if running.channels is None:
            raise BackendError(f"kernel {kernel_id} is still starting")
        if running.channels.execution_state is ExecutionState.DEAD:
            raise BackendError(f"kernel {kernel_id} is dead: {running.channels.activity.reason or 'unknown reason'}")
        return running.channels.attach(client_id)

    async def kernel_ids(self) -> list[str]:
        return list(self._kernels)

    async def close(self, *, stop_kernels: bool) -> None:
        kernels = list(self._kernels.values())
        self._kernels.clear()
        if stop_kernels:
            await asyncio.gather(*(self._stop(k, now=False) for k in kernels), return_exceptions=True)
            return
        for running in kernels:
            with contextlib.suppress(Exception):
                await self._release(running, detail="the server is restarting; reconnect")
            running.manager._close_control_socket()


_HANDOUT_ENV = ("JPY_SESSION_NAME",)


def _session_name_code(name: str) -> str:
    """What ipykernel does with JPY_SESSION_NAME at start, for a kernel that started without it."""
    lines = [f"__import__('os').environ['JPY_SESSION_NAME'] = {name!r}"]
    if name:
        lines.append(f"get_ipython().user_ns['__session__'] = {name!r}")
    else:
        lines.append("get_ipython().user_ns.pop('__session__', None)")
    return "\n".join(lines)


def _private_base(base: Path) -> Path:
    """A folder of this process's user in a shared place (/tmp): made here, or refused when someone else
    made it (it could hand this server a symlink or another user's sockets)."""
    base.mkdir(mode=0o711, exist_ok=True)
    st = base.lstat()
    if not stat_mod.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise BackendError(f"{base} belongs to someone else or is writable by others; remove it")
    return base


def _give_tree(folder: Path, run_as: tuple[int, int]) -> None:
    """Give a folder and everything in it to a kernel's user, never following a symlink."""
    uid, gid = run_as
    os.chown(folder, uid, gid, follow_symlinks=False)
    for parent, dirs, files in os.walk(folder, followlinks=False):
        for name in (*dirs, *files):
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(parent, name), uid, gid, follow_symlinks=False)


async def _terminate_group(pid: int, started: float | None, grace_s: float = 3.0) -> None:
    """SIGTERM a kernel's process group (it leads its own session), then SIGKILL what is left."""
    if not same_process(pid, started):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(pid), sig)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while loop.time() < deadline and same_process(pid, started):  # noqa: ASYNC110 (polling another process)
            await asyncio.sleep(0.05)
        if not same_process(pid, started):
            return


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in info.items()}


def channel_url(info: dict[str, Any], channel: str) -> str:
    """The ZMQ address of one of a kernel's channels, from its connection info."""
    port = info[f"{channel}_port"]
    if info.get("transport", "tcp") == "ipc":
        return f"ipc://{info['ip']}-{port}"
    return f"tcp://{info['ip']}:{port}"
