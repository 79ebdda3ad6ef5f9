"""The one owner of kernels: every kernel row is created, changed and deleted here (through
`nbplane.store.kernels_repo`), and every call into the kernel backend comes from here.

Sessions ask this service to start, stop, restart and attach; Jupyter's kernels API (per workspace) is
served from it directly. At start it re-adopts every kernel this node recorded as running and stops the
kernel processes nobody recorded; at stop it either stops its kernels or lets go of them for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nbplane.errors import AlreadyExistsError, BackendError, InvalidInputError, NotFoundError
from nbplane.kernels.base import (
    ExecutionState,
    KernelActivity,
    KernelAttachment,
    KernelBackend,
    KernelRecord,
    KernelSpecInfo,
    LaunchRequest,
)
from nbplane.scope import Scope
from nbplane.store import identities_repo, kernels_repo
from nbplane.store.db import Database
from nbplane.store.kernels_repo import StoredKernel
from nbplane.store.tables import KernelStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["AdoptionReport", "KernelService", "KernelStatus", "KernelView", "kernel_env"]

log = logging.getLogger(__name__)

ENV_PREFIX = "KERNEL_"
"""Only `KERNEL_*` variables of a start request reach the kernel (as in Enterprise Gateway); the rest,
and `KERNEL_WORKING_DIR` (a path on the caller's machine), are ignored."""

WorkspaceDir = Callable[[Scope], Path]


def kernel_env(requested: Mapping[str, object] | None) -> dict[str, str]:
    """The part of a start request's `env` that is passed to the kernel."""
    return {
        k: v
        for k, v in (requested or {}).items()
        if k.startswith(ENV_PREFIX) and k != "KERNEL_WORKING_DIR" and isinstance(v, str)
    }


@dataclass(frozen=True)
class KernelView:
    id: str
    name: str
    activity: KernelActivity


@dataclass(frozen=True)
class AdoptionReport:
    adopted: list[str]
    dead: dict[str, str]  # kernel id -> reason
    orphans_stopped: list[str]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class KernelService:
    def __init__(
        self,
        db: Database,
        backend: KernelBackend,
        *,
        workspace_dir: WorkspaceDir,
        node_id: str = "local",
        clock: Callable[[], datetime] = _utcnow,
        identity_base: int | None = None,
    ) -> None:
        """`identity_base`: allocate each workspace its own uid (from this number up) for its kernels to run
        as; None when the backend does not switch users."""
        self._identity_base = identity_base
        backend.record_listener = self._record_changed
        self._db = db
        self._backend = backend
        self._workspace_dir = workspace_dir
        self._node_id = node_id
        self._clock = clock

    @property
    def default_kernel_name(self) -> str:
        return self._backend.default_kernel_name

    async def kernelspecs(self) -> dict[str, KernelSpecInfo]:
        return await self._backend.kernelspecs()

    async def check_kernel_name(self, name: str | None) -> str:
        """The kernelspec name to use (the default when None); InvalidInputError naming the available ones."""
        name = name or self._backend.default_kernel_name
        specs = await self._backend.kernelspecs()
        if name not in specs:
            available = ", ".join(sorted(specs)) or "none"
            raise InvalidInputError(f"No such kernel '{name}'. Available kernels: {available}.")
        return name

    # ---- reads -------------------------------------------------------------------------------

    async def activity(self, kernel_id: str) -> KernelActivity | None:
        """Live state of a kernel this node runs (None otherwise); from memory."""
        return await self._backend.activity(kernel_id)

    async def is_alive(self, kernel_id: str) -> bool:
        return await self._backend.is_alive(kernel_id)

    async def find(self, scope: Scope, kernel_id: str) -> StoredKernel | None:
        async with self._db.read() as db:
            return await kernels_repo.get(db, scope.instance_id, scope.workspace_key, kernel_id)

    async def _view(self, kernel: StoredKernel) -> KernelView | None:
        activity = await self._backend.activity(kernel.id)
        return None if activity is None else KernelView(kernel.id, kernel.name, activity)

    async def list(self, scope: Scope) -> list[KernelView]:
        async with self._db.read() as db:
            rows = await kernels_repo.running_in_workspace(db, scope.instance_id, scope.workspace_key)
        views = [await self._view(row) for row in rows]
        return [v for v in views if v is not None]

    async def get(self, scope: Scope, kernel_id: str) -> KernelView:
        """The kernel's live model. Raises NotFoundError unless it runs in this workspace on this node."""
        row = await self.find(scope, kernel_id)
        view = await self._view(row) if row is not None and row.status is KernelStatus.RUNNING else None
        if view is None:
            raise NotFoundError(f"Kernel does not exist: {kernel_id}")
        return view

    async def is_gone(self, scope: Scope, kernel_id: str) -> bool:
        """True when no node runs the kernel any more. A kernel another node records as running is that
        node's to manage; this node cannot see its process and must not replace it."""
        if await self._backend.is_alive(kernel_id):
            return False
        kernel = await self.find(scope, kernel_id)
        if kernel is None or kernel.status is not KernelStatus.RUNNING:
            return True
        return kernel.node_id in (self._node_id, None)

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(
        self,
        scope: Scope,
        kernel_name: str | None,
        *,
        path: str | None,
        created_by: str,
        requested_env: Mapping[str, object] | None = None,
        also_write: Callable[[AsyncSession, str], Awaitable[None]] | None = None,
    ) -> KernelView:
        """Start a kernel in the workspace directory and record it; returns once it answers. Of
        `requested_env` (a kernels-API start request's) only `KERNEL_*` variables reach the kernel.
        `also_write(db, kernel_id)` runs in the transaction that records the kernel (a session pointing at
        it), so a create commits once for both. InvalidInputError for an unknown kernelspec, BackendError
        when it cannot start."""
        name = await self.check_kernel_name(kernel_name)
        cwd = self._workspace_dir(scope)
        cwd.mkdir(parents=True, exist_ok=True)
        request = LaunchRequest(
            kernel_id=str(uuid.uuid4()),
            kernel_name=name,
            cwd=str(cwd),
            env={**kernel_env(requested_env), "JPY_SESSION_NAME": path or ""},
            run_as=await self._identity(scope),
        )
        record = await self._backend.start(request)
        try:
            async with self._db.write() as db:
                await kernels_repo.insert(
                    db,
                    kernel_id=record.kernel_id,
                    instance_id=scope.instance_id,
                    workspace_key=scope.workspace_key,
                    name=record.kernel_name,
                    runtime=record.runtime,
                    details=record.details,
                    connection_info=record.connection_info,
                    pid=record.pid,
                    node_id=self._node_id,
                    created_by=created_by,
                )
                if also_write is not None:
                    await also_write(db, record.kernel_id)
        except BaseException:
            await self._backend.shutdown(record.kernel_id, now=True)
            raise
        activity = await self._backend.activity(record.kernel_id)
        if activity is None:
            activity = KernelActivity(ExecutionState.DEAD, self._clock(), 0, "the kernel ended right after it started")
        return KernelView(record.kernel_id, record.kernel_name, activity)

    async def _record_changed(self, record: KernelRecord) -> None:
        async with self._db.write() as db:
            await kernels_repo.update_record(
                db,
                record.kernel_id,
                details=record.details,
                connection_info=record.connection_info,
                pid=record.pid,
            )

    async def _identity(self, scope: Scope) -> tuple[int, int] | None:
        """The workspace's own uid (= gid), allocated on its first kernel and kept for good."""
        if self._identity_base is None:
            return None
        for _ in range(10):
            async with self._db.read() as db:
                uid = await identities_repo.find_uid(db, scope.instance_id, scope.workspace_key)
            if uid is not None:
                return uid, uid
            try:
                async with self._db.write() as db:
                    uid = await identities_repo.allocate_uid(
                        db, scope.instance_id, scope.workspace_key, self._identity_base
                    )
                return uid, uid
            except AlreadyExistsError:
                continue
        raise BackendError("could not allocate an OS identity for the workspace's kernels")

    async def stop(
        self, kernel_id: str, *, status: KernelStatus = KernelStatus.STOPPED, reason: str | None = None
    ) -> None:
        """Record the kernel as ended and stop it; idempotent. `reason` is shown to attached clients."""
        async with self._db.write() as db:
            await kernels_repo.set_status(db, [kernel_id], status, reason)
        await self._backend.shutdown(kernel_id, reason=reason)

    async def shutdown(self, scope: Scope, kernel_id: str) -> None:
        """Kernels API delete: stop the kernel even if sessions use it (they then report it dead), as Jupyter does."""
        await self.get(scope, kernel_id)
        await self.stop(kernel_id, reason="the kernel was shut down on request")

    async def interrupt(self, scope: Scope, kernel_id: str) -> None:
        await self.get(scope, kernel_id)
        await self._backend.interrupt(kernel_id)

    async def restart(self, scope: Scope, kernel_id: str) -> KernelView:
        """Restart in place: same id, fresh namespace. BackendError if it does not come back."""
        await self.get(scope, kernel_id)
        await self._backend.restart(kernel_id)
        return await self.get(scope, kernel_id)

    async def attach(self, scope: Scope, kernel_id: str, client_id: str) -> KernelAttachment:
        """Attach a websocket client to a kernel of this workspace (NotFoundError otherwise)."""
        await self.get(scope, kernel_id)
        return await self._backend.attach(kernel_id, client_id or str(uuid.uuid4()))

    async def cull(self, kernel_id: str, reason: str) -> None:
        """Stop a kernel the culler chose; get and list then show `culled` with the reason."""
        log.info("culling kernel %s: %s", kernel_id, reason)
        await self.stop(kernel_id, status=KernelStatus.CULLED, reason=reason)

    async def running_activity(self) -> dict[str, KernelActivity]:
        """Live state of every kernel this node runs (for the culler)."""
        found: dict[str, KernelActivity] = {}
        for kernel_id in await self._backend.kernel_ids():
            activity = await self._backend.activity(kernel_id)
            if activity is not None:
                found[kernel_id] = activity
        return found

    # ---- server start and stop ---------------------------------------------------------------

    async def adopt_on_start(self, *, concurrency: int = 8) -> AdoptionReport:
        """Re-adopt every kernel this node recorded as running (eagerly: kernels nobody asks about must not
        leak), record the ones that are gone as dead with a reason, then stop unrecorded kernel processes."""
        async with self._db.read() as db:
            rows = await kernels_repo.running_on_node(db, self._node_id)
        gate = asyncio.Semaphore(concurrency)
        dead: dict[str, str] = {}
        adopted: list[str] = []

        async def one(row: StoredKernel) -> None:
            async with gate:
                if row.runtime != self._backend.runtime or row.details is None:
                    dead[row.id] = "the kernel was started by an nbplane that kept no runtime record of it"
                    return
                record = KernelRecord(row.id, row.name, row.runtime, row.details, row.connection_info, row.pid)
                try:
                    outcome = await self._backend.adopt(record, last_activity=row.last_activity)
                except Exception as exc:
                    log.exception("adopting kernel %s failed", row.id)
                    dead[row.id] = f"the kernel could not be re-adopted: {exc}"
                    return
                if outcome.alive:
                    adopted.append(row.id)
                else:
                    dead[row.id] = outcome.reason or "the kernel did not answer"

        await asyncio.gather(*(one(row) for row in rows))
        async with self._db.write() as db:
            for kernel_id, reason in dead.items():
                await kernels_repo.set_status(db, [kernel_id], KernelStatus.DEAD, reason, only_running=True)
        orphans = await self._backend.stop_orphans(adopted)
        for kernel_id, reason in dead.items():
            log.warning("kernel %s is dead: %s", kernel_id, reason)
        if adopted:
            log.info("re-adopted %d running kernel(s)", len(adopted))
        return AdoptionReport(adopted, dead, orphans)

    async def close(self, *, stop_kernels: bool) -> int:
        """At server stop: stop every kernel, or let go of them for the next start (their last activity is
        kept). Returns how many kernels this node was running."""
        ids = await self._backend.kernel_ids()
        if stop_kernels:
            await self._backend.close(stop_kernels=True)
            async with self._db.write() as db:
                await kernels_repo.set_status(db, ids, KernelStatus.STOPPED, "the server stopped", only_running=True)
            return len(ids)
        last = {}
        for kernel_id in ids:
            activity = await self._backend.activity(kernel_id)
            if activity is not None:
                last[kernel_id] = activity.last_activity
        await self._backend.close(stop_kernels=False)
        try:
            async with self._db.write() as db:
                await kernels_repo.set_last_activity(db, last)
        except BackendError:
            log.warning("could not record the kernels' last activity")
        return len(ids)
