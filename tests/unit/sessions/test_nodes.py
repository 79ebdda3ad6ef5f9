"""Several servers on one database: a node never declares another node's kernel dead or replaces it."""

from __future__ import annotations

from pathlib import Path

from nbplane.bootstrap import ensure_bootstrap
from nbplane.kernels.fake import FakeKernelBackend, FakeMachine
from nbplane.kernels.service import KernelService
from nbplane.scope import Scope
from nbplane.sessions.models import CreateSessionRequest
from nbplane.sessions.service import SessionService
from nbplane.store.db import Database


def _node(
    db: Database, tmp_path: Path, name: str, machine: FakeMachine | None = None
) -> tuple[SessionService, KernelService, FakeKernelBackend]:
    backend = FakeKernelBackend(machine=machine)
    kernels = KernelService(db, backend, workspace_dir=lambda s: tmp_path / name, node_id=name)
    return SessionService(db, kernels), kernels, backend


async def test_nodes_leave_each_others_kernels_alone(tmp_path: Path, database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    try:
        info = await ensure_bootstrap(tmp_path / "data", db)
        scope = Scope(info.instance_id, info.workspace_key)
        node_a, _, _ = _node(db, tmp_path, "a")
        node_b, kernels_b, backend_b = _node(db, tmp_path, "b")

        created = await node_a.create(scope, CreateSessionRequest(path="shared.ipynb"), created_by="u")
        report_b = await kernels_b.adopt_on_start()
        assert report_b.adopted == [] and report_b.dead == {}  # node b leaves node a's kernel alone
        from_b = await node_b.create(scope, CreateSessionRequest(path="shared.ipynb"), created_by="u")
        assert from_b.session.id == created.session.id
        assert from_b.session.kernel_id == created.session.kernel_id
        assert backend_b.started == []
        assert from_b.execution_state == "unknown"  # B cannot see A's kernel, and does not guess
        assert from_b.lifecycle_details is not None and "another nbplane server" in from_b.lifecycle_details

        # node a comes back on a new machine: its kernel is gone, and it says so
        restarted_a, kernels_a2, backend_a2 = _node(db, tmp_path, "a", machine=FakeMachine())
        report = await kernels_a2.adopt_on_start()
        assert list(report.dead) == [created.session.kernel_id]
        seen_by_b = await node_b.get(scope, created.session.id)
        assert seen_by_b.execution_state == "dead"
        assert seen_by_b.lifecycle_details is not None and "ended while no server was running" in (
            seen_by_b.lifecycle_details
        )
        revived = await restarted_a.create(scope, CreateSessionRequest(path="shared.ipynb"), created_by="u")
        assert revived.session.id == created.session.id
        assert revived.session.kernel_id != created.session.kernel_id
        assert await backend_a2.is_alive(revived.session.kernel_id)
    finally:
        await db.dispose()
