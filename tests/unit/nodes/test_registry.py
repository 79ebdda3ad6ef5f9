"""Node leases on one database: a live node's kernels are placed there, a node whose lease ran out has its
kernels reported unknown, then dead (once, whoever sweeps), its sessions revive elsewhere, and a node that
comes back lets go of the kernels it lost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nbplane.bootstrap import ensure_bootstrap
from nbplane.errors import NotFoundError
from nbplane.kernels.base import ExecutionState, KernelActivity
from nbplane.kernels.fake import FakeKernelBackend
from nbplane.kernels.service import KernelService
from nbplane.nodes import NodeInfo, NodeRegistry, NodeTiming, PlacementKind
from nbplane.nodes.models import PeerStates
from nbplane.scope import Scope
from nbplane.sessions.models import CreateSessionRequest, ListSessionsQuery
from nbplane.sessions.service import SessionService
from nbplane.store.db import Database
from nbplane.store.tables import KernelStatus

TIMING = NodeTiming(lease=30, heartbeat=10, dead_after=60)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Node:
    registry: NodeRegistry
    kernels: KernelService
    sessions: SessionService
    backend: FakeKernelBackend


def _node(db: Database, tmp_path: Path, name: str, clock: Clock, peers: PeerStates | None = None) -> Node:
    registry = NodeRegistry(db, name, f"https://{name}.example:8443", TIMING, clock=clock)
    backend = FakeKernelBackend()
    kernels = KernelService(
        db, backend, workspace_dir=lambda s: tmp_path / name, node_id=name, nodes=registry, peers=peers
    )
    return Node(registry, kernels, SessionService(db, kernels), backend)


async def test_a_lost_node_goes_unknown_then_dead_and_its_sessions_revive(tmp_path: Path, database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    clock = Clock()
    try:
        info = await ensure_bootstrap(tmp_path / "data", db)
        scope = Scope(info.instance_id, info.workspace_key)
        a, b, c = (_node(db, tmp_path, name, clock) for name in ("a", "b", "c"))
        for node in (a, b, c):
            await node.registry.register()
        created = await a.sessions.create(scope, CreateSessionRequest(path="x.ipynb"), created_by="u")
        kernel_id = created.session.kernel_id
        assert kernel_id is not None

        # A is alive: B forwards to it, and reports the kernel as A's in a list
        owner = await b.kernels.owner(scope, kernel_id)
        assert owner is not None and owner.id == "a" and owner.address == "https://a.example:8443"
        assert await a.kernels.owner(scope, kernel_id) is None  # A runs it itself
        listed = await b.kernels.list(scope)
        assert [(v.id, str(v.activity.execution_state)) for v in listed] == [(kernel_id, "unknown")]
        seen = await b.sessions.get(scope, created.session.id)
        assert seen.execution_state == "unknown"
        assert seen.lifecycle_details is not None and "node a at https://a.example:8443" in seen.lifecycle_details

        # A stops beating; B and C keep theirs. Past A's lease its kernel is unknown, with the reason
        for _ in range(4):
            clock.advance(8)
            for node in (b, c):
                assert await node.registry.beat() is False
        assert (await b.registry.placements(["a"]))["a"].kind is PlacementKind.LOST
        assert await b.kernels.owner(scope, kernel_id) is None  # nothing to forward to
        view = await b.kernels.get(scope, kernel_id)
        assert str(view.activity.execution_state) == "unknown"
        assert view.activity.reason is not None and "stopped renewing its lease" in view.activity.reason
        seen = await b.sessions.get(scope, created.session.id)
        assert seen.execution_state == "unknown" and "stopped renewing its lease" in (seen.lifecycle_details or "")
        for act in (b.kernels.interrupt(scope, kernel_id), b.kernels.attach(scope, kernel_id, "c")):
            with pytest.raises(NotFoundError, match="cannot be reached: the nbplane server"):
                await act
        assert await b.registry.sweep(b.kernels) == {}  # within the grace period nobody declares it dead
        again = await b.sessions.create(scope, CreateSessionRequest(path="x.ipynb"), created_by="u")
        assert again.session.kernel_id == kernel_id  # and nobody replaces it

        # past the grace period: B and C both sweep, the row changes once
        for _ in range(8):
            clock.advance(8)
            for node in (b, c):
                await node.registry.beat()
        swept = [await node.registry.sweep(node.kernels) for node in (b, c)]
        assert swept == [{"a": [kernel_id]}, {}]
        row = await b.kernels.find(scope, kernel_id)
        assert row is not None and row.status is KernelStatus.DEAD and "node a" in (row.reason or "")
        seen = await b.sessions.get(scope, created.session.id)
        assert seen.execution_state == "dead"

        # a create through B revives the session under the same id, on B
        revived = await b.sessions.create(scope, CreateSessionRequest(path="x.ipynb"), created_by="u")
        assert revived.session.id == created.session.id
        assert revived.session.kernel_id != kernel_id
        assert revived.session.kernel_id is not None and await b.backend.is_alive(revived.session.kernel_id)
        assert revived.execution_state == "idle"

        # A comes back without a restart: its lease had lapsed; it lets go of the kernel it lost
        assert await a.backend.is_alive(kernel_id)
        assert await a.registry.beat() is True
        assert await a.kernels.release_taken_over() == [kernel_id]
        assert not await a.backend.is_alive(kernel_id)
        seen_from_a = await a.sessions.get(scope, created.session.id)
        assert seen_from_a.session.kernel_id == revived.session.kernel_id  # the session stays B's
        assert (await a.kernels.owner(scope, revived.session.kernel_id)).id == "b"  # type: ignore[union-attr]
    finally:
        await db.dispose()


async def test_a_node_keeps_its_own_kernels_while_it_beats(tmp_path: Path, database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    clock = Clock()
    try:
        info = await ensure_bootstrap(tmp_path / "data", db)
        scope = Scope(info.instance_id, info.workspace_key)
        a, b = (_node(db, tmp_path, name, clock) for name in ("a", "b"))
        for node in (a, b):
            await node.registry.register()
        created = await a.sessions.create(scope, CreateSessionRequest(path="y.ipynb"), created_by="u")
        for _ in range(20):  # much longer than lease + grace in all, but A keeps renewing
            clock.advance(TIMING.interval)
            await a.registry.run_once(a.kernels)
            await b.registry.run_once(b.kernels)
        assert created.session.kernel_id is not None
        assert await a.backend.is_alive(created.session.kernel_id)
        row = await a.kernels.find(scope, created.session.kernel_id)
        assert row is not None and row.status is KernelStatus.RUNNING

        # a session deleted through B: B records the kernel stopped, A's next beat stops the process
        await b.sessions.delete(scope, created.session.id, if_match=None)
        assert await a.backend.is_alive(created.session.kernel_id)
        await a.registry.run_once(a.kernels)
        assert not await a.backend.is_alive(created.session.kernel_id)
    finally:
        await db.dispose()


class Peers:
    """Asks the other nodes' kernel services directly, as the node-only route would."""

    def __init__(self) -> None:
        self.nodes: dict[str, KernelService] = {}

    async def kernel_states(self, node: NodeInfo, kernel_ids: Sequence[str]) -> dict[str, KernelActivity]:
        return await self.nodes[node.id].local_activity(list(kernel_ids))


async def test_any_node_reports_the_owners_live_state_and_revives_what_the_owner_reports_dead(
    tmp_path: Path, database_url: str
) -> None:
    db = Database(database_url)
    await db.migrate()
    clock = Clock()
    peers = Peers()
    try:
        info = await ensure_bootstrap(tmp_path / "data", db)
        scope = Scope(info.instance_id, info.workspace_key)
        a, b = (_node(db, tmp_path, name, clock, peers) for name in ("a", "b"))
        for node in (a, b):
            await node.registry.register()
            peers.nodes[node.registry.node_id] = node.kernels
        created = await a.sessions.create(scope, CreateSessionRequest(path="z.ipynb"), created_by="u")
        kernel_id = created.session.kernel_id
        assert kernel_id is not None
        seen = await b.sessions.get(scope, created.session.id)
        assert (seen.execution_state, seen.kernel.connections if seen.kernel else None) == ("idle", 0)
        page = await b.sessions.list(scope, ListSessionsQuery())
        assert [v.execution_state for v in page.items] == ["idle"]
        assert [str(v.activity.execution_state) for v in await b.kernels.list(scope)] == ["idle"]

        # the kernel dies on A for good (A keeps tracking it): B shows it dead and a create through B revives
        a.backend.set_activity(kernel_id, execution_state=ExecutionState.DEAD, reason="restarts exhausted")
        assert (await b.sessions.get(scope, created.session.id)).execution_state == "dead"
        revived = await b.sessions.create(scope, CreateSessionRequest(path="z.ipynb"), created_by="u")
        assert revived.session.id == created.session.id and revived.session.kernel_id != kernel_id
        assert revived.session.kernel_id is not None and await b.backend.is_alive(revived.session.kernel_id)
        await a.registry.run_once(a.kernels)  # A lets go of the dead kernel it still tracked
        assert kernel_id not in await a.backend.kernel_ids()
    finally:
        await db.dispose()
