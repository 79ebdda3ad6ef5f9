"""The kernels service over the fake backend: what it records is enough for the next server."""

from __future__ import annotations

from pathlib import Path

from nbplane.bootstrap import ensure_bootstrap
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
