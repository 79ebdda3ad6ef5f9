"""The warm kernel pool over the fake backend: hand-out, refill, death, workspaces, culling, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from nbplane.bootstrap import ensure_bootstrap
from nbplane.errors import NotFoundError
from nbplane.kernels.culling import Culler, CullPolicy
from nbplane.kernels.fake import FakeKernelBackend, FakeMachine
from nbplane.kernels.pool import KernelPool, PoolKey
from nbplane.kernels.service import KernelService
from nbplane.scope import Scope
from nbplane.sessions.models import CreateSessionRequest
from nbplane.sessions.service import SessionService
from nbplane.settings import Settings
from nbplane.store import workspaces_repo
from nbplane.store.db import Database
from nbplane.store.tables import KernelRow, WorkspaceRow


@dataclass
class World:
    db: Database
    tmp: Path
    scope: Scope
    other: Scope  # a second workspace of the same instance
    machine: FakeMachine

    def service(self, pool_size: int = 2, max_total: int = 16) -> tuple[KernelService, FakeKernelBackend]:
        backend = FakeKernelBackend(machine=self.machine)
        service = KernelService(
            self.db,
            backend,
            workspace_dir=lambda s: self.tmp / "ws" / s.workspace_key,
            pool_size=pool_size,
            pool_max_total=max_total,
        )
        return service, backend

    async def status(self, kernel_id: str) -> tuple[str, str | None, str]:
        async with self.db.read() as db:
            row = (await db.scalars(select(KernelRow).where(KernelRow.id == kernel_id))).one()
        return row.status, row.created_by, row.workspace_key


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    db = Database(database_url)
    await db.migrate()
    try:
        info = await ensure_bootstrap(tmp_path / "data", db)
        async with db.write() as session:
            workspaces_repo.add(session, WorkspaceRow(instance_id=info.instance_id, key="second", display_name="2"))
        yield World(
            db, tmp_path, Scope(info.instance_id, info.workspace_key), Scope(info.instance_id, "second"), FakeMachine()
        )
    finally:
        await db.dispose()


def key_of(scope: Scope, kernel_name: str = "python3") -> PoolKey:
    return PoolKey(scope.instance_id, scope.workspace_key, kernel_name)


async def until_ready(service: KernelService, key: PoolKey, count: int) -> list[str]:
    """Wait (generously; no timing is asserted) until the pool holds `count` ready kernels."""
    for _ in range(2000):
        ready = service.pool.ready(key)
        if len(ready) == count and service.pool.count(key) == count:
            return ready
        await asyncio.sleep(0.005)
    raise AssertionError(f"the pool never held {count} ready kernels: {service.pool.ready(key)}")


async def test_the_pool_is_off_by_default(world: World) -> None:
    assert Settings().kernel_pool_size == 0
    backend = FakeKernelBackend(machine=world.machine)
    service = KernelService(world.db, backend, workspace_dir=lambda s: world.tmp / "w")
    await service.start(world.scope, None, path="a.ipynb", created_by="u")
    await asyncio.sleep(0.05)
    assert not service.pool.enabled
    assert len(backend.started) == 1 and service.pool.ids() == set()


async def test_a_session_gets_a_pooled_kernel_and_the_pool_refills(world: World) -> None:
    kernels, backend = world.service(pool_size=2)
    sessions = SessionService(world.db, kernels)
    key = key_of(world.scope)

    first = await sessions.create(world.scope, CreateSessionRequest(path="a.ipynb"), created_by="u")
    assert first.session.kernel_id not in kernels.pool.ids()  # the workspace's first start is cold ...
    pooled = await until_ready(kernels, key, 2)  # ... and gives the workspace its pool
    for kernel_id in pooled:
        assert await world.status(kernel_id) == ("pooled", "", world.scope.workspace_key)
    # pooled kernels are nobody's: not listed, not found, not attachable
    assert [v.id for v in await kernels.list(world.scope)] == [first.session.kernel_id]
    with pytest.raises(NotFoundError):
        await kernels.get(world.scope, pooled[0])
    with pytest.raises(NotFoundError):
        await kernels.attach(world.scope, pooled[0], "c")

    before = datetime.now(UTC)
    second = await sessions.create(world.scope, CreateSessionRequest(path="dir/b.ipynb"), created_by="v")
    assert second.session.kernel_id == pooled[0]  # the oldest first
    assert backend.handed_out == [pooled[0]]
    assert world.machine.env[pooled[0]]["JPY_SESSION_NAME"] == "dir/b.ipynb"  # the session's env still applies
    assert await world.status(pooled[0]) == ("running", "v", world.scope.workspace_key)
    view = await kernels.get(world.scope, pooled[0])
    assert view.activity.last_activity >= before  # its activity clock starts at the hand-out
    assert view.activity.connections == 0 and view.activity.execution_state == "idle"

    refilled = await until_ready(kernels, key, 2)
    assert refilled[0] == pooled[1] and refilled[1] not in pooled
    assert len(backend.started) == 4  # the cold one, two pooled, one refill
    assert sorted(v.id for v in await kernels.list(world.scope)) == sorted(
        [first.session.kernel_id, second.session.kernel_id]
    )
    await kernels.close(stop_kernels=True)


async def test_a_kernels_api_start_takes_from_the_pool(world: World) -> None:
    kernels, backend = world.service(pool_size=1)
    key = key_of(world.scope)
    await kernels.start(world.scope, None, path=None, created_by="u")
    [pooled] = await until_ready(kernels, key, 1)
    started = await kernels.start(world.scope, "python3", path=None, created_by="u")
    assert started.id == pooled
    # another kernelspec has its own pool: its first start is cold
    alt = await kernels.start(world.scope, "python3-alt", path=None, created_by="u")
    assert alt.id not in backend.handed_out
    [alt_pooled] = await until_ready(kernels, key_of(world.scope, "python3-alt"), 1)
    assert world.machine.launches[alt_pooled].kernel_name == "python3-alt"
    await kernels.close(stop_kernels=True)


async def test_a_start_with_env_a_started_kernel_cannot_take_bypasses_the_pool(world: World) -> None:
    kernels, _ = world.service(pool_size=1)
    key = key_of(world.scope)
    await kernels.start(world.scope, None, path=None, created_by="u")
    [pooled] = await until_ready(kernels, key, 1)
    started = await kernels.start(world.scope, None, path=None, created_by="u", requested_env={"KERNEL_X": "1"})
    assert started.id != pooled and world.machine.env[started.id]["KERNEL_X"] == "1"
    assert kernels.pool.ready(key) == [pooled]  # untouched, still first in line
    assert world.machine.env[pooled] == {"JPY_SESSION_NAME": ""}
    await kernels.close(stop_kernels=True)


async def test_a_pooled_kernel_that_died_is_not_handed_out(world: World) -> None:
    kernels, backend = world.service(pool_size=2)
    key = key_of(world.scope)
    await kernels.start(world.scope, None, path=None, created_by="u")
    pooled = await until_ready(kernels, key, 2)
    world.machine.crash(pooled[0])  # its process ends while it waits
    started = await kernels.start(world.scope, None, path="x.ipynb", created_by="u")
    assert started.id == pooled[1] and await backend.is_alive(started.id)
    status, _, _ = await world.status(pooled[0])
    assert status == "dead"

    for kernel_id in await until_ready(kernels, key, 2):
        world.machine.crash(kernel_id)
    fresh = await kernels.start(world.scope, None, path="y.ipynb", created_by="u")
    assert fresh.id not in pooled and fresh.id in world.machine.running  # a cold start, alive
    assert backend.handed_out == [pooled[1]]
    await kernels.close(stop_kernels=True)


async def test_pooled_kernels_never_cross_workspaces(world: World) -> None:
    kernels, _ = world.service(pool_size=1)
    await kernels.start(world.scope, None, path=None, created_by="u")
    await kernels.start(world.other, None, path=None, created_by="u")
    [mine] = await until_ready(kernels, key_of(world.scope), 1)
    [theirs] = await until_ready(kernels, key_of(world.other), 1)
    assert world.machine.launches[mine].cwd == str(world.tmp / "ws" / world.scope.workspace_key)
    assert world.machine.launches[theirs].cwd == str(world.tmp / "ws" / "second")

    got_other = await kernels.start(world.other, None, path=None, created_by="u")
    assert got_other.id == theirs
    assert (await world.status(theirs))[2] == "second"
    with pytest.raises(NotFoundError):
        await kernels.get(world.scope, theirs)
    got_mine = await kernels.start(world.scope, None, path=None, created_by="u")
    assert got_mine.id == mine
    # the second workspace's pool refills with a kernel of its own, never one of the first's
    [refill] = await until_ready(kernels, key_of(world.other), 1)
    assert world.machine.launches[refill].cwd == str(world.tmp / "ws" / "second")
    await kernels.close(stop_kernels=True)


async def test_pooled_kernels_are_not_culled(world: World) -> None:
    kernels, _ = world.service(pool_size=2)
    used = await kernels.start(world.scope, None, path=None, created_by="u")
    pooled = await until_ready(kernels, key_of(world.scope), 2)
    later = datetime.now(UTC) + timedelta(hours=1)
    culled = await Culler(kernels, CullPolicy(idle_timeout=60), clock=lambda: later).run_once()
    assert list(culled) == [used.id]
    assert all(k in world.machine.running for k in pooled)
    assert kernels.pool.ready(key_of(world.scope)) == pooled
    await kernels.close(stop_kernels=True)


async def test_the_node_heartbeat_leaves_pooled_kernels_alone(world: World) -> None:
    """`release_taken_over` (each heartbeat) stops only kernels whose rows are no longer this node's: a
    pooled kernel is still this node's."""
    kernels, _ = world.service(pool_size=2)
    used = await kernels.start(world.scope, None, path=None, created_by="u")
    pooled = await until_ready(kernels, key_of(world.scope), 2)
    assert await kernels.release_taken_over() == []
    assert all(k in world.machine.running for k in [*pooled, used.id])
    await kernels.close(stop_kernels=True)


async def test_a_server_stop_ends_the_pool_and_keeps_user_kernels(world: World) -> None:
    kernels, _ = world.service(pool_size=2)
    used = await kernels.start(world.scope, None, path=None, created_by="u")
    pooled = await until_ready(kernels, key_of(world.scope), 2)
    assert await kernels.user_kernel_ids() == [used.id]
    assert await kernels.close(stop_kernels=False) == 1  # only the user's kernel counts
    assert used.id in world.machine.running and all(k not in world.machine.running for k in pooled)
    assert [(await world.status(k))[0] for k in pooled] == ["stopped", "stopped"]

    again, _ = world.service(pool_size=2)
    report = await again.adopt_on_start()
    assert report.adopted == [used.id] and report.orphans_stopped == []
    await again.close(stop_kernels=True)


async def test_a_crashed_servers_pool_is_stopped_by_the_next_start(world: World) -> None:
    crashed, _ = world.service(pool_size=2)
    used = await crashed.start(world.scope, None, path=None, created_by="u")
    pooled = await until_ready(crashed, key_of(world.scope), 2)
    # no close: the server died; its pooled kernels still run and their rows still say pooled
    nxt, _ = world.service(pool_size=2)
    report = await nxt.adopt_on_start()
    assert report.adopted == [used.id]
    assert sorted(report.orphans_stopped) == sorted(pooled)
    assert [(await world.status(k))[0] for k in pooled] == ["stopped", "stopped"]
    assert nxt.pool.ids() == set()
    await nxt.close(stop_kernels=True)


async def test_deleting_a_workspace_drains_its_pool(world: World) -> None:
    kernels, _ = world.service(pool_size=1)
    await kernels.start(world.scope, None, path=None, created_by="u")
    await kernels.start(world.other, None, path=None, created_by="u")
    [mine] = await until_ready(kernels, key_of(world.scope), 1)
    [theirs] = await until_ready(kernels, key_of(world.other), 1)
    assert await kernels.drain_pool(world.other) == 1
    assert theirs not in world.machine.running and mine in world.machine.running
    assert kernels.pool.ids() == {mine}
    await kernels.close(stop_kernels=True)


async def test_the_cap_bounds_all_pools_and_the_busier_pool_wins(world: World) -> None:
    kernels, _ = world.service(pool_size=2, max_total=2)
    await kernels.start(world.scope, None, path=None, created_by="u")
    await until_ready(kernels, key_of(world.scope), 2)
    await kernels.start(world.other, None, path=None, created_by="u")
    # the second workspace was used last: the first gives way, and the total stays at the cap
    await until_ready(kernels, key_of(world.other), 2)
    assert kernels.pool.count(key_of(world.scope)) == 0 and kernels.pool.total == 2
    await kernels.close(stop_kernels=True)


def test_pool_bookkeeping() -> None:
    a, b = PoolKey("i", "a", "py"), PoolKey("i", "b", "py")
    pool = KernelPool(size=2, max_total=3)
    pool.touch(a)
    first, evicted = pool.reserve(a)
    second, _ = pool.reserve(a)
    assert first and second and evicted is None
    assert pool.reserve(a) == (None, None)  # full, counting kernels still starting
    assert pool.take(a) is None  # nothing ready yet
    assert pool.filled(first) and pool.filled(second)
    pool.touch(b)
    third, evicted = pool.reserve(b)
    assert third and evicted is None and pool.total == 3
    fourth, evicted = pool.reserve(b)  # at the cap: a, used less recently, gives up its newest kernel
    assert fourth and evicted == second and pool.ready(a) == [first]
    pool.abandon(fourth)
    assert pool.take(a) == first and pool.take(a) is None
    pool.put_back(a, first)
    assert pool.ready(a) == [first]
    assert sorted(pool.drain("i", "a")) == [first] and pool.ids() == {third}
    assert not pool.filled("unknown") and not KernelPool(0, 5).enabled
