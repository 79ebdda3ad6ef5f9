"""Notebook session rules: create-or-return by path, kernel ownership and sharing, patch and delete.

Invariants:
- at most one session per (instance, workspace, path), enforced by a unique constraint, so concurrent
  creates for one path start exactly one kernel: the request whose INSERT wins starts it, the others
  wait for the winner's row to leave CREATING and return it;
- a database transaction is never held open while a kernel starts or stops;
- a kernel is shut down when the last session using it goes away;
- kernels are the kernels service's: this module never touches a kernel row or the backend.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid

from nbplane.errors import (
    AlreadyExistsError,
    BackendError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
    QuotaExceededError,
)
from nbplane.etags import etag_matches
from nbplane.kernels.base import KernelActivity
from nbplane.kernels.service import KernelService
from nbplane.scope import Scope
from nbplane.sessions import paths
from nbplane.sessions.models import (
    CreateSessionRequest,
    LifecycleState,
    ListSessionsQuery,
    NotebookSession,
    PageCursor,
    PatchSessionRequest,
    SessionPage,
    SessionView,
    SortOrder,
    Unset,
)
from nbplane.store import sessions_repo
from nbplane.store.db import Database
from nbplane.store.sessions_repo import KernelState, StoredSession
from nbplane.store.tables import KernelStatus, utcnow

log = logging.getLogger(__name__)


def _to_domain(row: StoredSession) -> NotebookSession:
    return NotebookSession(
        id=row.id,
        scope=Scope(row.instance_id, row.workspace_key),
        name=row.name,
        path=row.path,
        type=row.type,
        cluster_id=row.cluster_id,
        agent_flow_key=row.agent_flow_key,
        kernel_id=row.kernel_id,
        kernel_name=row.kernel_name,
        lifecycle_state=LifecycleState(row.lifecycle_state),
        lifecycle_details=row.lifecycle_details,
        created_by=row.created_by,
        time_created=row.time_created,
        time_updated=row.time_updated,
    )


def check_if_match(if_match: str | None, etag: str) -> None:
    """Raise PreconditionFailedError unless `if_match` is absent, `*`, or the current etag (quoted or not)."""
    if if_match is not None and not etag_matches(if_match, etag):
        raise PreconditionFailedError("The if-match value does not match the current etag of the resource.")


class SessionService:
    def __init__(self, db: Database, kernels: KernelService, *, wait_timeout: float = 90.0) -> None:
        self._db = db
        self._kernels = kernels
        self._wait_timeout = wait_timeout

    # ---- reads -------------------------------------------------------------------------------

    async def _view(
        self, row: StoredSession, kernel: KernelState, remote: dict[str, KernelActivity] | None = None
    ) -> SessionView:
        """`remote`: the live state of kernels other nodes run, when the caller asked them already (a list)."""
        activity = await self._kernels.activity(row.kernel_id) if row.kernel_id else None
        note = None
        if activity is None and row.kernel_id and kernel.status is KernelStatus.RUNNING:
            activity = await self._kernels.reach(row.kernel_id)  # a gateway kernel another node started
            if activity is None:
                if remote is None:
                    remote = await self._kernels.remote_activity({row.kernel_id: kernel.node_id})
                activity = remote.get(row.kernel_id)
                if activity is None:
                    note = await self._kernels.remote_note(row.kernel_id, kernel.node_id)
        return SessionView(_to_domain(row), activity, kernel.status, kernel.reason, kernel_note=note)

    async def get(self, scope: Scope, session_id: str) -> SessionView:
        async with self._db.read() as db:
            found = await sessions_repo.get_with_kernel_state(db, scope.instance_id, scope.workspace_key, session_id)
        if found is None:
            raise NotFoundError(f"Session not found: {session_id}")
        return await self._view(*found)

    async def list(self, scope: Scope, query: ListSessionsQuery) -> SessionPage:
        after = (query.page.time_created, query.page.id) if query.page else None
        async with self._db.reading() as conn:
            rows = await sessions_repo.page(
                conn,
                scope.instance_id,
                scope.workspace_key,
                path=query.path,
                cluster_id=query.cluster_id,
                agent_flow_key=query.agent_flow_key,
                after=after,
                ascending=query.sort_order is SortOrder.ASC,
                limit=query.limit + 1,
            )
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        running = {r.kernel_id: k.node_id for r, k in rows if r.kernel_id and k.status is KernelStatus.RUNNING}
        remote = await self._kernels.remote_activity(running)
        items = [await self._view(row, kernel, remote) for row, kernel in rows]
        next_page = None
        if more and rows:
            last = rows[-1][0]
            next_page = PageCursor(last.time_created, last.id).encode()
        return SessionPage(items, next_page)

    async def exists(self, scope: Scope, session_id: str) -> bool:
        async with self._db.read() as db:
            return await sessions_repo.get(db, scope.instance_id, scope.workspace_key, session_id) is not None

    # ---- create ------------------------------------------------------------------------------

    async def create(self, scope: Scope, request: CreateSessionRequest, *, created_by: str) -> SessionView:
        """Create a session, or return the live one that already exists for `request.path`. The session runs
        on `request.cluster_id` (InvalidInputError unless it is a cluster of the workspace) or the default."""
        if request.path is not None:
            request = dataclasses.replace(request, path=paths.normalize(request.path))
        cluster_key = await self._cluster(scope, request.cluster_id, active=request.kernel_id is None)
        kernel_name = await self._validate_kernel_choice(scope, request.kernel_id, request.kernel_name, cluster_key)
        while True:
            if request.path is not None:
                existing = await self._settled_session_for_path(scope, request.path)
                if existing is not None:
                    return existing
            now = utcnow()
            row = StoredSession(
                id=str(uuid.uuid4()),
                instance_id=scope.instance_id,
                workspace_key=scope.workspace_key,
                path=request.path,
                name=request.name if request.name is not None else _default_name(request.path),
                type=request.type,
                cluster_id=cluster_key,
                agent_flow_key=request.agent_flow_key,
                kernel_id=None,
                kernel_name=kernel_name,
                lifecycle_state=LifecycleState.CREATING.value,
                lifecycle_details=None,
                created_by=created_by,
                time_created=now,
                time_updated=now,
            )
            try:
                async with self._db.write() as db:
                    await sessions_repo.insert(db, row)
            except AlreadyExistsError:
                if request.path is None:
                    raise
                continue  # another request won the path; wait for and return its session
            return await self._finish_create(scope, row, request.kernel_id, kernel_name, created_by)

    async def _cluster(self, scope: Scope, cluster_id: str | None, *, active: bool = False) -> str:
        """The key of the cluster a session runs on: `cluster_id`, which must be a cluster of the workspace,
        or the workspace's default cluster; with `active`, ConflictError unless it is ACTIVE."""
        try:
            target = await self._kernels.target(scope, cluster_id)
        except NotFoundError:
            raise InvalidInputError(
                f"No such cluster: {cluster_id}. clusterId must be the key of a cluster of this workspace."
            ) from None
        if active:
            target.require_active()
        return target.cluster_key

    async def _validate_kernel_choice(
        self, scope: Scope, kernel_id: str | None, kernel_name: str | None, cluster_key: str | None = None
    ) -> str:
        """The kernelspec the session will use; rejects unknown kernels and specs before anything is written."""
        if kernel_id is not None:
            kernel = await self._kernels.find(scope, kernel_id)
            if kernel is None or not await self._kernels.is_alive(kernel_id):
                raise InvalidInputError(f"No such kernel: {kernel_id}")
            return kernel.name
        return await self._kernels.check_kernel_name(kernel_name, scope, cluster_key)

    async def _settled_session_for_path(self, scope: Scope, path: str) -> SessionView | None:
        """The existing session for `path` once it is no longer CREATING; None when there is none.
        A FAILED session is removed so that the caller can try again."""
        deadline = asyncio.get_running_loop().time() + self._wait_timeout
        delay = 0.02
        while True:
            async with self._db.read() as db:
                row = await sessions_repo.get_by_path(db, scope.instance_id, scope.workspace_key, path)
            if row is None:
                return None
            state = LifecycleState(row.lifecycle_state)
            if state is LifecycleState.FAILED:
                async with self._db.write() as db:
                    await sessions_repo.delete_session(db, row.id)
                return None
            if state is LifecycleState.ACTIVE:
                if row.kernel_id and await self._kernels.is_gone(scope, row.kernel_id):
                    return await self._revive(scope, row)
                return await self.get(scope, row.id)
            if asyncio.get_running_loop().time() > deadline:
                return await self.get(scope, row.id)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    async def _finish_create(
        self, scope: Scope, row: StoredSession, attach_to: str | None, kernel_name: str, created_by: str
    ) -> SessionView:
        if attach_to is not None:
            kernel_id = attach_to
        else:
            try:
                started = await self._kernels.start(
                    scope, kernel_name, path=row.path, created_by=created_by, cluster_key=row.cluster_id
                )
            except QuotaExceededError:
                async with self._db.write() as db:  # refused before anything ran: leave no session behind
                    await sessions_repo.delete_session(db, row.id)
                raise
            except BackendError as exc:
                async with self._db.write() as db:
                    await sessions_repo.update_session(
                        db, row.id, lifecycle_state=LifecycleState.FAILED.value, lifecycle_details=exc.message
                    )
                return await self.get(scope, row.id)
            except (ConflictError, NotFoundError, InvalidInputError):
                async with self._db.write() as db:  # e.g. the cluster was stopped meanwhile: leave nothing
                    await sessions_repo.delete_session(db, row.id)
                raise
            kernel_id = started.id
        async with self._db.write() as db:  # no row to update: the session was deleted meanwhile
            still_there = await sessions_repo.update_session(
                db, row.id, kernel_id=kernel_id, lifecycle_state=LifecycleState.ACTIVE.value
            )
        if not still_there:
            await self._release_kernel(kernel_id)
            raise NotFoundError(f"Session {row.id} was deleted while its kernel was starting")
        return await self.get(scope, row.id)

    async def _revive(self, scope: Scope, row: StoredSession) -> SessionView:
        """Give an ACTIVE session whose kernel is gone (culled, dead, or lost with a server) a fresh kernel,
        keeping the session id."""
        started = await self._kernels.start(
            scope, row.kernel_name, path=row.path, created_by=row.created_by or "", cluster_key=row.cluster_id
        )
        async with self._db.write() as db:
            current = await sessions_repo.get_by_id(db, row.id)
            stale = current is None or current.kernel_id != row.kernel_id
            if not stale:
                await sessions_repo.update_session(db, row.id, kernel_id=started.id, lifecycle_details=None)
        if stale:  # someone else revived or deleted it meanwhile
            await self._release_kernel(started.id)
        elif row.kernel_id:
            await self._release_kernel(row.kernel_id)  # a dead kernel still tracked (restarts exhausted) goes too
        return await self.get(scope, row.id)

    # ---- patch -------------------------------------------------------------------------------

    async def patch(
        self, scope: Scope, session_id: str, request: PatchSessionRequest, *, if_match: str | None, actor: str
    ) -> SessionView:
        if isinstance(request.path, str):
            request = dataclasses.replace(request, path=paths.normalize(request.path))
        current = await self.get(scope, session_id)
        check_if_match(if_match, current.session.etag)
        new_cluster = None if isinstance(request.cluster_id, Unset) else await self._cluster(scope, request.cluster_id)
        cluster = new_cluster or current.session.cluster_id
        moving = new_cluster is not None and new_cluster != current.session.cluster_id
        if request.path is not None and not isinstance(request.path, Unset):
            async with self._db.read() as db:
                holder = await sessions_repo.get_by_path(db, scope.instance_id, scope.workspace_key, request.path)
            if holder is not None and holder.id != session_id:
                raise ConflictError(f"Another session ({holder.id}) already uses path '{request.path}'.")
        new_kernel_id: str | None = None
        new_kernel_name: str | None = None
        started_here = False
        path = request.path if isinstance(request.path, str) else current.session.path
        if request.kernel_id is not None and request.kernel_id != current.session.kernel_id:
            new_kernel_name = await self._validate_kernel_choice(scope, request.kernel_id, None)
            new_kernel_id = request.kernel_id
        elif request.kernel_id is None and (request.kernel_name is not None or moving):
            wanted = request.kernel_name or current.session.kernel_name
            new_kernel_name = await self._validate_kernel_choice(scope, None, wanted, cluster)
            started = await self._kernels.start(
                scope, new_kernel_name, path=path, created_by=actor, cluster_key=cluster
            )
            new_kernel_id, started_here = started.id, True
        elif (
            current.session.lifecycle_state is LifecycleState.ACTIVE
            and current.session.kernel_id
            and await self._kernels.is_gone(scope, current.session.kernel_id)
        ):
            # A patch revives a session whose kernel is gone (culled, dead), as a create for its path does.
            new_kernel_name = current.session.kernel_name
            started = await self._kernels.start(
                scope, new_kernel_name, path=path, created_by=actor, cluster_key=cluster
            )
            new_kernel_id, started_here = started.id, True

        old_kernel_id = current.session.kernel_id
        try:
            async with self._db.write() as db:
                row = await sessions_repo.get(db, scope.instance_id, scope.workspace_key, session_id)
                if row is None:
                    raise NotFoundError(f"Session not found: {session_id}")
                check_if_match(if_match, _to_domain(row).etag)
                old_kernel_id = row.kernel_id
                changes: dict[str, object] = {}
                for attr in ("name", "path", "type"):
                    value = getattr(request, attr)
                    if not isinstance(value, Unset):
                        changes[attr] = value
                if new_cluster is not None:
                    changes["cluster_id"] = new_cluster
                if new_kernel_id is not None and new_kernel_name is not None:
                    changes.update(
                        kernel_id=new_kernel_id,
                        kernel_name=new_kernel_name,
                        lifecycle_state=LifecycleState.ACTIVE.value,
                        lifecycle_details=None,
                    )
                await sessions_repo.update_session(db, session_id, **changes)
        except AlreadyExistsError as exc:
            if started_here and new_kernel_id:
                await self._release_kernel(new_kernel_id)
            raise ConflictError("Another session already uses that path.") from exc
        except BaseException:
            if started_here and new_kernel_id:
                await self._release_kernel(new_kernel_id)
            raise

        if new_kernel_id is not None and old_kernel_id and old_kernel_id != new_kernel_id:
            await self._release_kernel(old_kernel_id)
        if request.must_refresh_context:
            kernel_id = new_kernel_id or old_kernel_id
            if kernel_id is None or not await self._kernels.is_alive(kernel_id):
                raise InvalidInputError("The session has no running kernel to refresh.")
            await self._kernels.restart(scope, kernel_id)
        return await self.get(scope, session_id)

    # ---- contents hooks ----------------------------------------------------------------------

    async def follow_rename(self, scope: Scope, old_path: str, new_path: str) -> int:
        """Point sessions at `new_path` after the file or directory at `old_path` moved; returns how many.

        Called by the contents layer after a rename, with normalised paths (no leading `/`). Session paths
        are stored as clients sent them, so they are compared without leading slashes and keep their own
        leading slashes when rewritten; a name derived from the path follows it. A session whose new path
        another session already holds keeps its old path (the unique constraint allows only one).
        Idempotent; one transaction.
        """
        old, new = old_path.strip("/"), new_path.strip("/")
        if not old or old == new:
            return 0
        moved = 0
        async with self._db.write() as db:
            rows = await sessions_repo.with_path(db, scope.instance_id, scope.workspace_key)
            held = {row.path for row in rows}
            for row in rows:
                if row.path is None:
                    continue
                bare = row.path.lstrip("/")
                if bare != old and not bare.startswith(old + "/"):
                    continue
                rewritten = row.path[: len(row.path) - len(bare)] + new + bare[len(old) :]
                if rewritten in held:
                    log.warning("session %s keeps path %r: %r is taken", row.id, row.path, rewritten)
                    continue
                held.discard(row.path)
                held.add(rewritten)
                changes: dict[str, object] = {"path": rewritten}
                if row.name == _default_name(row.path):  # a name derived from the path follows it
                    changes["name"] = _default_name(rewritten)
                # One UPDATE per row, so a chain of moves never trips the unique constraint at commit time.
                await sessions_repo.update_session(db, row.id, **changes)
                moved += 1
        return moved

    # ---- delete ------------------------------------------------------------------------------

    async def delete(self, scope: Scope, session_id: str, *, if_match: str | None) -> None:
        async with self._db.write() as db:
            row = await sessions_repo.get(db, scope.instance_id, scope.workspace_key, session_id)
            if row is None:
                raise NotFoundError(f"Session not found: {session_id}")
            check_if_match(if_match, _to_domain(row).etag)
            kernel_id = row.kernel_id
            await sessions_repo.delete_session(db, row.id)
        if kernel_id:
            await self._release_kernel(kernel_id)

    async def _release_kernel(self, kernel_id: str) -> None:
        """Shut a kernel down unless a session still uses it."""
        async with self._db.read() as db:
            if await sessions_repo.sessions_using_kernel(db, kernel_id):
                return
        await self._kernels.stop(kernel_id)


def _default_name(path: str | None) -> str:
    if not path:
        return ""
    return path.rstrip("/").rsplit("/", 1)[-1]
