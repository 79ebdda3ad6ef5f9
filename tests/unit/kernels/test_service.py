"""The kernels service over the fake backend: what it records is enough for the next server."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbplane.bootstrap import ensure_bootstrap
from nbplane.errors import ConflictError, NotFoundError
from nbplane.kernels.base import ExecutionState
from nbplane.kernels.fake import FakeKernelBackend, FakeMachine
from nbplane.kernels.service import KernelService
from nbplane.scope import Scope
from nbplane.store.db import Database


async def test_a_restarted_kernel_is_adopted_by_the_next_server(tmp_path: Path, database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    try:
        info = await ensure_bootstrap(tmp_path / "data", db)
        scope = Scope(info.instance_id, info.workspace_key)
        machine = FakeMachine()
        first = KernelService(db, FakeKernelBackend(machine=machine), workspace_dir=lambda s: tmp_path / "w")
        kernel = await first.start(scope, None, path="a.ipynb", created_by="u")
        await first.restart(scope, kernel.id)  # a new process: the stored record must follow it
        await first.close(stop_kernels=False)

        second = KernelService(db, FakeKernelBackend(machine=machine), workspace_dir=lambda s: tmp_path / "w")
        report = await second.adopt_on_start()
        assert (report.adopted, report.dead, report.orphans_stopped) == ([kernel.id], {}, [])
        assert (await second.get(scope, kernel.id)).activity.execution_state == "idle"
    finally:
        await db.dispose()


async def test_attaching_to_an_ended_kernel_is_refused_with_the_reason(tmp_path: Path, database_url: str) -> None:
    """Stopped, culled and dead kernels refuse a websocket (409 with why); an unknown one is not found."""
    db = Database(database_url)
    await db.migrate()
    try:
        info = await ensure_bootstrap(tmp_path / "data", db)
        scope = Scope(info.instance_id, info.workspace_key)
        backend = FakeKernelBackend()
        service = KernelService(db, backend, workspace_dir=lambda s: tmp_path / "w")
        with pytest.raises(NotFoundError):
            await service.attach(scope, "no-such-kernel", "c")

        dead = await service.start(scope, None, path="a.ipynb", created_by="u")
        backend.set_activity(dead.id, execution_state=ExecutionState.DEAD, reason="restarts are exhausted")
        with pytest.raises(ConflictError, match=r"is dead .*restarts are exhausted"):
            await service.attach(scope, dead.id, "c")

        culled = await service.start(scope, None, path="b.ipynb", created_by="u")
        await service.cull(culled.id, "idle for 600 s")
        with pytest.raises(ConflictError, match=r"is culled .*idle for 600 s"):
            await service.attach(scope, culled.id, "c")

        stopped = await service.start(scope, None, path="c.ipynb", created_by="u")
        await service.shutdown(scope, stopped.id)
        with pytest.raises(ConflictError, match=r"is stopped .*shut down on request"):
            await service.attach(scope, stopped.id, "c")

        alive = await service.start(scope, None, path="d.ipynb", created_by="u")
        (await service.attach(scope, alive.id, "c")).detach()
        await service.close(stop_kernels=True)
    finally:
        await db.dispose()
