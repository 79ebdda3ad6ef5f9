"""Several servers on one database: a node never declares another node's kernel dead or replaces it."""

from __future__ import annotations

from pathlib import Path

from nbplane.bootstrap import ensure_bootstrap
from nbplane.kernels.fake import FakeKernelBackend
from nbplane.scope import Scope
from nbplane.sessions.models import CreateSessionRequest
from nbplane.sessions.service import SessionService
from nbplane.store.db import Database


def _node(db: Database, tmp_path: Path, name: str) -> tuple[SessionService, FakeKernelBackend]:
    kernels = FakeKernelBackend()
    return SessionService(db, kernels, workspace_dir=lambda s: tmp_path / name, node_id=name), kernels


async def test_nodes_leave_each_others_kernels_alone(tmp_path: Path, database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    try:
        info = await ensure_bootstrap(tmp_path / "data", db)
        scope = Scope(info.instance_id, info.workspace_key)
        node_a, _ = _node(db, tmp_path, "a")
        node_b, kernels_b = _node(db, tmp_path, "b")

        created = await node_a.create(scope, CreateSessionRequest(path="shared.ipynb"), created_by="u")
        await node_b.reconcile_on_start()
        from_b = await node_b.create(scope, CreateSessionRequest(path="shared.ipynb"), created_by="u")
        assert from_b.session.id == created.session.id
        assert from_b.session.kernel_id == created.session.kernel_id
        assert kernels_b.started == []
        assert from_b.execution_state == "unknown"  # B cannot see A's kernel, and does not guess

        restarted_a, kernels_a2 = _node(db, tmp_path, "a")  # node a comes back without its kernels
        await restarted_a.reconcile_on_start()
        assert (await node_b.get(scope, created.session.id)).execution_state == "dead"
        revived = await restarted_a.create(scope, CreateSessionRequest(path="shared.ipynb"), created_by="u")
        assert revived.session.id == created.session.id
        assert revived.session.kernel_id != created.session.kernel_id
        assert kernels_a2.is_alive(revived.session.kernel_id)
    finally:
        await db.dispose()
