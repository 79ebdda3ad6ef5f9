"""A workspace's kernels as Jupyter's kernels API sees them: the same kernels sessions use, recorded in
the `kernels` table, visible only inside their workspace."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from nbplane.errors import NotFoundError
from nbplane.kernels.base import ExecutionState, KernelActivity, KernelAttachment, KernelBackend
from nbplane.scope import Scope
from nbplane.sessions.service import SessionService
from nbplane.store import sessions_repo
from nbplane.store.db import Database

ENV_PREFIX = "KERNEL_"
"""Only `KERNEL_*` variables of a start request reach the kernel (as in Enterprise Gateway); the rest,
and `KERNEL_WORKING_DIR` (a path on the caller's machine), are ignored."""


@dataclass(frozen=True)
class KernelView:
    id: str
    name: str
    activity: KernelActivity


def kernel_env(requested: Mapping[str, object] | None) -> dict[str, str]:
    """The part of a start request's `env` that is passed to the kernel."""
    return {
        k: v
        for k, v in (requested or {}).items()
        if k.startswith(ENV_PREFIX) and k != "KERNEL_WORKING_DIR" and isinstance(v, str)
    }


class KernelService:
    """List, start, stop, interrupt, restart and attach to the kernels of one workspace."""

    def __init__(self, db: Database, kernels: KernelBackend, sessions: SessionService) -> None:
        self._db = db
        self._kernels = kernels
        self._sessions = sessions

    def _view(self, kernel_id: str, name: str) -> KernelView | None:
        activity = self._kernels.activity(kernel_id)
        return None if activity is None else KernelView(kernel_id, name, activity)

    async def list(self, scope: Scope) -> list[KernelView]:
        async with self._db.read() as db:
            rows = await sessions_repo.running_kernels(db, scope.instance_id, scope.workspace_key)
        views = (self._view(row.id, row.name) for row in rows)
        return [v for v in views if v is not None]

    async def get(self, scope: Scope, kernel_id: str) -> KernelView:
        """The kernel's live model. Raises NotFoundError unless it runs in this workspace."""
        async with self._db.read() as db:
            row = await sessions_repo.get_kernel(db, scope.instance_id, scope.workspace_key, kernel_id)
        view = self._view(kernel_id, row.name) if row is not None and row.status == "running" else None
        if view is None:
            raise NotFoundError(f"Kernel does not exist: {kernel_id}")
        return view

    async def start(
        self,
        scope: Scope,
        *,
        name: str | None,
        path: str | None,
        env: Mapping[str, object] | None,
        created_by: str,
    ) -> KernelView:
        """Start a kernel in the workspace; returns once it answers. InvalidInputError for an unknown spec."""
        kernel_name = name or self._kernels.default_kernel_name
        started = await self._sessions.start_kernel(scope, kernel_name, path, created_by, kernel_env(env))
        activity = self._kernels.activity(started.id) or KernelActivity(ExecutionState.DEAD, datetime.now(UTC), 0)
        return KernelView(started.id, started.name, activity)

    async def shutdown(self, scope: Scope, kernel_id: str) -> None:
        """Stop the kernel even if sessions use it (they then report it dead), as Jupyter does."""
        await self.get(scope, kernel_id)
        async with self._db.write() as db:
            await sessions_repo.set_kernel_status(db, [kernel_id], "stopped")
        await self._kernels.shutdown(kernel_id)

    async def interrupt(self, scope: Scope, kernel_id: str) -> None:
        await self.get(scope, kernel_id)
        await self._kernels.interrupt(kernel_id)

    async def restart(self, scope: Scope, kernel_id: str) -> KernelView:
        """Restart in place: same id, fresh namespace. BackendError if it does not come back."""
        await self.get(scope, kernel_id)
        await self._kernels.restart(kernel_id)
        return await self.get(scope, kernel_id)

    async def attach(self, scope: Scope, kernel_id: str, client_id: str) -> KernelAttachment:
        """Attach a websocket client to a kernel of this workspace (NotFoundError otherwise)."""
        await self.get(scope, kernel_id)
        return self._kernels.attach(kernel_id, client_id or str(uuid.uuid4()))
