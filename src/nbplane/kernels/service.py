"""The one owner of kernels: every kernel row is created, changed and deleted here (through
`nbplane.store.kernels_repo`), and every call into the kernel backend comes from here.

Sessions ask this service to start, stop, restart and attach; Jupyter's kernels API (per workspace) is
served from it directly. At start it re-adopts every kernel this node recorded as running and stops the
kernel processes nobody recorded; at stop it either stops its kernels or lets go of them for the next start.

With a warm pool (`pool_size` > 0), it keeps kernels started ahead of demand per workspace and kernelspec
(rows with status `pooled`: never listed, got, attached or culled) and hands them to starts that fit.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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
from nbplane.kernels.pool import KernelPool, PoolKey
from nbplane.nodes.models import NodeInfo, NodeLookup, PeerStates, Placement, PlacementKind
from nbplane.scope import Scope
from nbplane.store import identities_repo, kernels_repo
from nbplane.store.db import Database
from nbplane.store.kernels_repo import StoredKernel
from nbplane.store.tables import KernelStatus

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
        pool_size: int = 0,
        pool_max_total: int = 0,
        nodes: NodeLookup | None = None,
        peers: PeerStates | None = None,
    ) -> None:
        """`identity_base`: allocate each workspace its own uid (from this number up) for its kernels to run
        as; None when the backend does not switch users. `pool_size`: kernels kept warm per workspace and
        kernelspec (0: no pool; see `nbplane.kernels.pool`), at most `pool_max_total` in all. `nodes`: where
        other servers' kernels are (several servers on one database); without it a kernel this node does not
        run is simply not found here. `peers`: asks those servers for their kernels' live state."""
        self._nodes = nodes
        self._peers = peers
        self._identity_base = identity_base
        self._pool = KernelPool(pool_size if backend.supports_pool else 0, pool_max_total)
        self._fillers: dict[PoolKey, asyncio.Task[None]] = {}
        self._handing_out: set[str] = set()
        if pool_size and not backend.supports_pool:
            log.warning("the %s kernel backend keeps no warm pool; kernel_pool_size is ignored", backend.runtime)
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
        """The kernel's row; None for a pooled kernel, which is nobody's yet."""
        async with self._db.read() as db:
            row = await kernels_repo.get(db, scope.instance_id, scope.workspace_key, kernel_id)
        return None if row is None or row.status is KernelStatus.POOLED else row

    async def _view(self, kernel: StoredKernel) -> KernelView | None:
        activity = await self._backend.activity(kernel.id)
        return None if activity is None else KernelView(kernel.id, kernel.name, activity)

    async def list(self, scope: Scope) -> list[KernelView]:
        """The workspace's running kernels: this node's with their live state, other nodes' as `unknown`
        with a reason (a get of one is forwarded to its node, which knows)."""
        async with self._db.read() as db:
            rows = await kernels_repo.running_in_workspace(db, scope.instance_id, scope.workspace_key)
        views = {row.id: await self._view(row) for row in rows}
        elsewhere = [row for row in rows if views[row.id] is None]
        placements = await self._placements(elsewhere)
        remote = await self._ask_peers([(row.id, placements.get(row.node_id)) for row in elsewhere])
        for row in elsewhere:
            placement = placements.get(row.node_id)
            if row.id in remote:
                views[row.id] = KernelView(row.id, row.name, remote[row.id])
            elif placement is not None and placement.kind in (PlacementKind.REMOTE, PlacementKind.LOST):
                views[row.id] = self._unknown_view(row, placement)
        return [v for v in views.values() if v is not None]

    async def get(self, scope: Scope, kernel_id: str) -> KernelView:
        """The kernel's live model. Raises NotFoundError unless it runs in this workspace on this node, or
        ran on a node whose lease ran out (then its state is `unknown`, with the reason, until it is dead)."""
        row = await self.find(scope, kernel_id)
        view = await self._view(row) if row is not None and row.status is KernelStatus.RUNNING else None
        if view is None and row is not None and row.status is KernelStatus.RUNNING:
            placement = (await self._placements([row])).get(row.node_id)
            if placement is not None and placement.kind is PlacementKind.LOST:
                return self._unknown_view(row, placement)
        if view is None:
            raise NotFoundError(f"Kernel does not exist: {kernel_id}")
        return view

    # ---- other nodes -------------------------------------------------------------------------

    async def _placements(self, rows: list[StoredKernel]) -> dict[str | None, Placement]:
        if self._nodes is None or not rows:
            return {}
        return await self._nodes.placements({row.node_id for row in rows})

    def _unknown_view(self, row: StoredKernel, placement: Placement) -> KernelView:
        reason = placement.reason
        if reason is None and placement.node is not None:
            reason = f"the kernel runs on another nbplane server ({placement.node.describe()})"
        since = placement.node.lease_expires if placement.kind is PlacementKind.LOST and placement.node else None
        activity = KernelActivity(
            ExecutionState.UNKNOWN, row.last_activity or row.time_created, 0, reason, state_since=since
        )
        return KernelView(row.id, row.name, activity)

    async def _ask_peers(self, wanted: list[tuple[str, Placement | None]]) -> dict[str, KernelActivity]:
        """The live state of kernels that live nodes run, asked of those nodes (one call per node)."""
        by_node: dict[str, tuple[NodeInfo, list[str]]] = {}
        for kernel_id, placement in wanted:
            if self._peers is not None and placement is not None and placement.kind is PlacementKind.REMOTE:
                assert placement.node is not None
                by_node.setdefault(placement.node.id, (placement.node, []))[1].append(kernel_id)
        found: dict[str, KernelActivity] = {}
        if self._peers is not None:
            for node, ids in by_node.values():
                found.update(await self._peers.kernel_states(node, ids))
        return found

    async def remote_activity(self, kernels: Mapping[str, str | None]) -> dict[str, KernelActivity]:
        """Live state of kernels recorded as running on other live nodes (kernel id -> node id), asked of
        those nodes; kernels this node runs, or whose node cannot be asked, are left out."""
        if self._nodes is None or self._peers is None:
            return {}
        elsewhere = {k: n for k, n in kernels.items() if n not in (self._node_id, None)}
        elsewhere = {k: n for k, n in elsewhere.items() if not await self._backend.is_alive(k)}
        if not elsewhere:
            return {}
        placements = await self._nodes.placements(set(elsewhere.values()))
        return await self._ask_peers([(k, placements.get(n)) for k, n in elsewhere.items()])

    async def local_activity(self, kernel_ids: list[str]) -> dict[str, KernelActivity]:
        """Live state of those of `kernel_ids` this node runs (what another node asks of this one)."""
        found: dict[str, KernelActivity] = {}
        for kernel_id in kernel_ids:
            activity = await self._backend.activity(kernel_id)
            if activity is not None:
                found[kernel_id] = activity
        return found

    async def owner(self, scope: Scope, kernel_id: str) -> NodeInfo | None:
        """The live node that runs this workspace's kernel when it is another one (requests that act on the
        kernel are forwarded there); None when this node runs it, or nobody can be asked."""
        if self._nodes is None or await self._backend.is_alive(kernel_id):
            return None
        row = await self.find(scope, kernel_id)
        if row is None or row.status is not KernelStatus.RUNNING or row.node_id in (self._node_id, None):
            return None
        if row.runtime is not None and row.runtime not in kernels_repo.NODE_BOUND_RUNTIMES:
            return None  # a gateway kernel is reached from any node, never through another one
        placement = (await self._placements([row])).get(row.node_id)
        return placement.node if placement is not None and placement.kind is PlacementKind.REMOTE else None

    async def remote_note(self, kernel_id: str, node_id: str | None) -> str | None:
        """Why this node cannot tell the state of a kernel recorded as running that it does not run (for a
        session's `lifecycleDetails`); None when it runs here or nothing more is known."""
        if self._nodes is None or node_id in (self._node_id, None) or await self._backend.is_alive(kernel_id):
            return None
        placement = (await self._nodes.placements([node_id])).get(node_id)
        if placement is None or placement.node is None:
            return None
        if placement.kind is PlacementKind.LOST:
            return placement.reason
        return f"the kernel runs on another nbplane server ({placement.node.describe()})"

    async def mark_node_lost(self, node_id: str, reason: str) -> list[str]:
        """Record the kernels of a node whose lease ran out as dead (the node sweep); returns their ids."""
        async with self._db.write() as db:
            return await kernels_repo.mark_node_lost(db, node_id, reason)

    async def release_taken_over(self) -> list[str]:
        """Stop the kernels this node still runs whose rows say they are no longer its own (declared dead by
        another node while this one's lease had run out, or stopped by another node): their sessions may
        already run a new kernel elsewhere, and this node must not keep the old one alive."""
        ids = await self._backend.kernel_ids()
        async with self._db.read() as db:
            gone = await kernels_repo.no_longer_running_here(db, self._node_id, ids)
        for kernel_id in gone:
            log.warning("stopping kernel %s: its row says it no longer runs on this node", kernel_id)
            await self._backend.shutdown(kernel_id, reason="the kernel was stopped or taken over by another server")
        return gone

    async def is_gone(self, scope: Scope, kernel_id: str) -> bool:
        """True when no node runs the kernel any more. A kernel another node records as running is that
        node's to manage: this node replaces it only when that node reports it dead (a node whose lease ran
        out has its kernels recorded dead by the node sweep)."""
        if await self._backend.is_alive(kernel_id):
            return False
        kernel = await self.find(scope, kernel_id)
        if kernel is None or kernel.status is not KernelStatus.RUNNING:
            return True
        if kernel.node_id in (self._node_id, None):
            return True
        # Another node's kernel is gone only when that node says so (it died there: restarts exhausted).
        remote = await self.remote_activity({kernel_id: kernel.node_id})
        return kernel_id in remote and remote[kernel_id].execution_state is ExecutionState.DEAD

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(
        self,
        scope: Scope,
        kernel_name: str | None,
        *,
        path: str | None,
        created_by: str,
        requested_env: Mapping[str, object] | None = None,
    ) -> KernelView:
        """Start a kernel for a user (a session's, or a kernels-API start) and record it; returns once it
        answers. A warm kernel of the workspace's pool is handed out when one fits, else one is started; the
        pool is refilled in the background either way. Of `requested_env` (a kernels-API start request's) only
        `KERNEL_*` variables reach the kernel (a start with any bypasses the pool: they cannot be given to a
        started kernel). InvalidInputError for an unknown kernelspec, BackendError when it cannot start.

        The one entry for user starts: a per-workspace or per-user kernel quota belongs here, before the
        hand-out (pooled kernels are nobody's and count for no one until handed out)."""
        name = await self.check_kernel_name(kernel_name)
        request = await self._launch_request(scope, name, path=path, requested_env=requested_env)
        key = PoolKey(scope.instance_id, scope.workspace_key, name)
        view = await self._take_pooled(key, request, created_by)
        if view is None:
            record = await self._launch(scope, request, created_by=created_by)
            view = await self._fresh_view(record)
        self._refill(scope, key)
        return view

    async def _launch_request(
        self,
        scope: Scope,
        name: str,
        *,
        path: str | None,
        requested_env: Mapping[str, object] | None,
        kernel_id: str | None = None,
    ) -> LaunchRequest:
        """What a start in the workspace launches: its folder, its user, the env. Pooled kernels are launched
        from this same request (with no path and no requested env), so they match what a start would run."""
        cwd = self._workspace_dir(scope)
        cwd.mkdir(parents=True, exist_ok=True)
        return LaunchRequest(
            kernel_id=kernel_id or str(uuid.uuid4()),
            kernel_name=name,
            cwd=str(cwd),
            env={**kernel_env(requested_env), "JPY_SESSION_NAME": path or ""},
            run_as=await self._identity(scope),
        )

    async def _launch(
        self, scope: Scope, request: LaunchRequest, *, created_by: str, status: KernelStatus = KernelStatus.RUNNING
    ) -> KernelRecord:
        """Start a kernel process and record it (every kernel process this service starts goes through here)."""
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
                    status=status,
                )
        except BaseException:
            await self._backend.shutdown(record.kernel_id, now=True)
            raise
        return record

    async def _fresh_view(self, record: KernelRecord) -> KernelView:
        activity = await self._backend.activity(record.kernel_id)
        if activity is None:
            activity = KernelActivity(ExecutionState.DEAD, self._clock(), 0, "the kernel ended right after it started")
        return KernelView(record.kernel_id, record.kernel_name, activity)

    # ---- the warm pool -----------------------------------------------------------------------

    @property
    def pool(self) -> KernelPool:
        """The pool's bookkeeping (read-only use: tests, status)."""
        return self._pool

    async def _take_pooled(self, key: PoolKey, request: LaunchRequest, created_by: str) -> KernelView | None:
        """Hand out the pool's oldest live kernel that can take the request's env; None for a cold start.
        A pooled kernel that died or does not answer is recorded dead and the next one is tried."""
        if not self._pool.enabled:
            return None
        self._pool.touch(key)
        while (kernel_id := self._pool.take(key)) is not None:
            self._handing_out.add(kernel_id)  # neither pooled nor anyone's yet: the culler leaves it alone
            try:
                record = await self._backend.hand_out(kernel_id, request.env)
                if record is None:
                    self._pool.put_back(key, kernel_id)
                    return None
                async with self._db.write() as db:
                    claimed = await kernels_repo.claim_pooled(
                        db,
                        kernel_id,
                        created_by=created_by,
                        details=record.details,
                        connection_info=record.connection_info,
                        pid=record.pid,
                    )
            except BackendError as exc:
                log.warning("pooled kernel %s cannot be handed out: %s", kernel_id, exc.message)
                await self._end(kernel_id, KernelStatus.DEAD, f"the pooled kernel died while it waited: {exc.message}")
                continue
            except BaseException:  # cancelled mid-way: in no known state, so it goes
                await self._end(kernel_id, KernelStatus.STOPPED, "the start that took it from the pool was cancelled")
                raise
            finally:
                self._handing_out.discard(kernel_id)
            if not claimed:  # its row went (the workspace was deleted) or was ended meanwhile
                await self._backend.shutdown(kernel_id, now=True)
                continue
            return await self._fresh_view(record)
        return None

    def _refill(self, scope: Scope, key: PoolKey) -> None:
        """Top the pool up in the background, one kernel at a time (a start already competes for the CPU)."""
        if not self._pool.enabled or key in self._fillers or self._pool.count(key) >= self._pool.size:
            return
        task = asyncio.get_running_loop().create_task(self._fill(scope, key), name=f"kernel-pool-{key.workspace_key}")
        self._fillers[key] = task
        task.add_done_callback(lambda _: self._fillers.pop(key, None))

    async def _fill(self, scope: Scope, key: PoolKey) -> None:
        while True:
            kernel_id, evicted = self._pool.reserve(key)
            if evicted is not None:
                await self._end(evicted, KernelStatus.STOPPED, "the kernel pool made room for a busier workspace")
            if kernel_id is None:
                return
            try:
                request = await self._launch_request(
                    scope, key.kernel_name, path=None, requested_env=None, kernel_id=kernel_id
                )
                await self._launch(scope, request, created_by="", status=KernelStatus.POOLED)
            except asyncio.CancelledError:
                self._pool.abandon(kernel_id)
                await self._end(kernel_id, KernelStatus.STOPPED, "the kernel pool was emptied")
                raise
            except Exception as exc:
                self._pool.abandon(kernel_id)
                message = exc.message if isinstance(exc, BackendError | NotFoundError) else repr(exc)
                log.warning("could not start a pooled kernel for workspace %s: %s", key.workspace_key, message)
                return  # tried again after the next start
            if not self._pool.filled(kernel_id):  # the pool was emptied while it started
                await self._end(kernel_id, KernelStatus.STOPPED, "the kernel pool was emptied")

    async def _end(self, kernel_id: str, status: KernelStatus, reason: str) -> None:
        """Stop a kernel nobody uses (a pooled one), tolerating a database that is going away."""
        self._pool.remove(kernel_id)
        try:
            async with self._db.write() as db:
                await kernels_repo.set_status(db, [kernel_id], status, reason, only_running=True)
        except BackendError:
            log.warning("could not record pooled kernel %s as %s", kernel_id, status)
        await self._backend.shutdown(kernel_id, now=True)

    async def _stop_fillers(self) -> None:
        tasks = list(self._fillers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain_pool(self, scope: Scope) -> int:
        """Stop the workspace's pooled kernels (it is being deleted); returns how many."""
        for key, task in list(self._fillers.items()):
            if (key.instance_id, key.workspace_key) == (scope.instance_id, scope.workspace_key):
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        dropped = self._pool.drain(scope.instance_id, scope.workspace_key)
        for kernel_id in dropped:
            await self._end(kernel_id, KernelStatus.STOPPED, "the workspace was deleted")
        return len(dropped)

    async def _drain_all(self) -> int:
        await self._stop_fillers()
        dropped = self._pool.drain_all()
        for kernel_id in dropped:
            await self._end(kernel_id, KernelStatus.STOPPED, "the server stopped")
        return len(dropped)

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

    async def _here(self, scope: Scope, kernel_id: str) -> KernelView:
        """`get`, for acting on the kernel: a kernel whose node's lease ran out cannot be acted on (404, why)."""
        view = await self.get(scope, kernel_id)
        if view.activity.execution_state is ExecutionState.UNKNOWN:
            raise NotFoundError(f"Kernel {kernel_id} cannot be reached: {view.activity.reason}.")
        return view

    async def interrupt(self, scope: Scope, kernel_id: str) -> None:
        await self._here(scope, kernel_id)
        await self._backend.interrupt(kernel_id)

    async def restart(self, scope: Scope, kernel_id: str) -> KernelView:
        """Restart in place: same id, fresh namespace. BackendError if it does not come back."""
        await self._here(scope, kernel_id)
        await self._backend.restart(kernel_id)
        return await self.get(scope, kernel_id)

    async def attach(self, scope: Scope, kernel_id: str, client_id: str) -> KernelAttachment:
        """Attach a websocket client to a kernel of this workspace (NotFoundError otherwise)."""
        await self._here(scope, kernel_id)
        return await self._backend.attach(kernel_id, client_id or str(uuid.uuid4()))

    async def cull(self, kernel_id: str, reason: str) -> None:
        """Stop a kernel the culler chose; get and list then show `culled` with the reason."""
        log.info("culling kernel %s: %s", kernel_id, reason)
        await self.stop(kernel_id, status=KernelStatus.CULLED, reason=reason)

    async def user_kernel_ids(self) -> list[str]:
        """The kernels this node runs for users: every kernel but the pooled ones."""
        pooled = self._pool.ids() | self._handing_out
        return [k for k in await self._backend.kernel_ids() if k not in pooled]

    async def running_activity(self) -> dict[str, KernelActivity]:
        """Live state of every kernel this node runs for users (for the culler: pooled kernels wait, unculled)."""
        found: dict[str, KernelActivity] = {}
        for kernel_id in await self.user_kernel_ids():
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
            # An earlier run's pool is not taken over (this run's settings may differ, and a pooled kernel
            # holds nothing of anyone's): its rows end here and its processes are stopped as orphans.
            old_pool = await kernels_repo.end_pooled_on_node(db, self._node_id, "a pooled kernel of an earlier run")
        orphans = await self._backend.stop_orphans(adopted)
        if old_pool:
            log.info("stopped %d pooled kernel(s) of an earlier run", len(old_pool))
        for kernel_id, reason in dead.items():
            log.warning("kernel %s is dead: %s", kernel_id, reason)
        if adopted:
            log.info("re-adopted %d running kernel(s)", len(adopted))
        return AdoptionReport(adopted, dead, orphans)

    async def close(self, *, stop_kernels: bool) -> int:
        """At server stop: stop every kernel, or let go of them for the next start (their last activity is
        kept). Pooled kernels are stopped either way (the next start does not take them over). Returns how many
        kernels this node was running for users."""
        await self._drain_all()
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
