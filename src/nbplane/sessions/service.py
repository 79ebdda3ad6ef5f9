"""Notebook session rules: create-or-return by path, kernel ownership and sharing, patch and delete.

Invariants:
- at most one session per (instance, workspace, path), enforced by a unique constraint, so concurrent
  creates for one path start exactly one kernel: the request whose INSERT wins starts it, the others
  wait for the winner's row to leave CREATING and return it;
- a database transaction is never held open while a kernel starts or stops;
- a kernel is shut down when the last session using it goes away.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from nbplane.errors import (
    BackendError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
)
from nbplane.etags import etag_matches
from nbplane.kernels.base import KernelBackend, StartedKernel
from nbplane.scope import Scope
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
from nbplane.store.tables import KernelRow, SessionRow, utcnow

log = logging.getLogger(__name__)

WorkspaceDir = Callable[[Scope], Path]


def _to_domain(row: SessionRow) -> NotebookSession:
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
    def __init__(
        self,
        db: Database,
        kernels: KernelBackend,
        *,
        workspace_dir: WorkspaceDir,
        wait_timeout: float = 90.0,
        node_id: str = "local",
    ) -> None:
        self._db = db
        self._node_id = node_id
        self._kernels = kernels
        self._workspace_dir = workspace_dir
        self._wait_timeout = wait_timeout

    # ---- reads -------------------------------------------------------------------------------

    def _view(self, row: SessionRow, kernel_status: str | None) -> SessionView:
        activity = self._kernels.activity(row.kernel_id) if row.kernel_id else None
        return SessionView(_to_domain(row), activity, kernel_status)

    async def get(self, scope: Scope, session_id: str) -> SessionView:
        async with self._db.read() as db:
            found = await sessions_repo.get_with_kernel_status(db, scope.instance_id, scope.workspace_key, session_id)
        if found is None:
            raise NotFoundError(f"Session not found: {session_id}")
        return self._view(*found)

    async def list(self, scope: Scope, query: ListSessionsQuery) -> SessionPage:
        after = (query.page.time_created, query.page.id) if query.page else None
        async with self._db.read() as db:
            rows = await sessions_repo.page(
                db,
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
        items = [self._view(row, status) for row, status in rows]
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
        """Create a session, or return the live one that already exists for `request.path`."""
        kernel_name = await self._validate_kernel_choice(scope, request.kernel_id, request.kernel_name)
        while True:
            if request.path is not None:
                existing = await self._settled_session_for_path(scope, request.path)
                if existing is not None:
                    return existing
            row = SessionRow(
                id=str(uuid.uuid4()),
                instance_id=scope.instance_id,
                workspace_key=scope.workspace_key,
                path=request.path,
                name=request.name if request.name is not None else _default_name(request.path),
                type=request.type,
                cluster_id=request.cluster_id,
                agent_flow_key=request.agent_flow_key,
                kernel_id=None,
                kernel_name=kernel_name,
                lifecycle_state=LifecycleState.CREATING.value,
                created_by=created_by,
                time_created=utcnow(),
                time_updated=utcnow(),
            )
            try:
                async with self._db.write() as db:
                    db.add(row)
            except IntegrityError:
                if request.path is None:
                    raise
                continue  # another request won the path; wait for and return its session
            return await self._finish_create(scope, row, request.kernel_id, kernel_name, created_by)

    async def _validate_kernel_choice(self, scope: Scope, kernel_id: str | None, kernel_name: str | None) -> str:
        """The kernelspec the session will use; rejects unknown kernels and specs before anything is written."""
        if kernel_id is not None:
            async with self._db.read() as db:
                kernel = await sessions_repo.get_kernel(db, scope.instance_id, scope.workspace_key, kernel_id)
            if kernel is None or not self._kernels.is_alive(kernel_id):
                raise InvalidInputError(f"No such kernel: {kernel_id}")
            return kernel.name
        name = kernel_name or self._kernels.default_kernel_name
        specs = self._kernels.kernelspecs()
        if name not in specs:
            available = ", ".join(sorted(specs)) or "none"
            raise InvalidInputError(f"No such kernel '{name}'. Available kernels: {available}.")
        return name

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
                if row.kernel_id and await self._kernel_is_gone(scope, row.kernel_id):
                    return await self._revive(scope, row)
                return await self.get(scope, row.id)
            if asyncio.get_running_loop().time() > deadline:
                return await self.get(scope, row.id)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    async def _finish_create(
        self, scope: Scope, row: SessionRow, attach_to: str | None, kernel_name: str, created_by: str
    ) -> SessionView:
        if attach_to is not None:
            kernel_id = attach_to
        else:
            try:
                started = await self.start_kernel(scope, kernel_name, row.path, created_by)
            except BackendError as exc:
                async with self._db.write() as db:
                    current = await db.get(SessionRow, row.id)
                    if current is not None:
                        current.lifecycle_state = LifecycleState.FAILED.value
                        current.lifecycle_details = exc.message
                        current.time_updated = utcnow()
                return await self.get(scope, row.id)
            kernel_id = started.id
        async with self._db.write() as db:
            current = await db.get(SessionRow, row.id)
            if current is not None:
                current.kernel_id = kernel_id
                current.lifecycle_state = LifecycleState.ACTIVE.value
                current.time_updated = utcnow()
        if current is None:
            await self._release_kernel(kernel_id)
            raise NotFoundError(f"Session {row.id} was deleted while its kernel was starting")
        return await self.get(scope, row.id)

    async def start_kernel(
        self,
        scope: Scope,
        kernel_name: str,
        path: str | None,
        created_by: str,
        extra_env: dict[str, str] | None = None,
    ) -> StartedKernel:
        """Start a kernel in the workspace directory and record it (with its connection info)."""
        cwd = self._workspace_dir(scope)
        cwd.mkdir(parents=True, exist_ok=True)
        env = {**(extra_env or {}), "JPY_SESSION_NAME": path or ""}
        kernel_id = str(uuid.uuid4())
        started = await self._kernels.start(kernel_name, kernel_id=kernel_id, cwd=str(cwd), env=env)
        try:
            async with self._db.write() as db:
                db.add(
                    KernelRow(
                        id=started.id,
                        instance_id=scope.instance_id,
                        workspace_key=scope.workspace_key,
                        name=started.name,
                        connection_info=started.connection_info,
                        pid=started.pid,
                        status="running",
                        node_id=self._node_id,
                        created_by=created_by,
                        time_created=utcnow(),
                    )
                )
        except Exception:
            await self._kernels.shutdown(started.id, now=True)
            raise
        return started

    async def _kernel_is_gone(self, scope: Scope, kernel_id: str) -> bool:
        """True when no node runs the kernel any more. A kernel another node records as running is that
        node's to manage; this node cannot see its process and must not replace it."""
        if self._kernels.is_alive(kernel_id):
            return False
        async with self._db.read() as db:
            kernel = await sessions_repo.get_kernel(db, scope.instance_id, scope.workspace_key, kernel_id)
        if kernel is None or kernel.status != "running":
            return True
        return kernel.node_id in (self._node_id, None)

    async def _revive(self, scope: Scope, row: SessionRow) -> SessionView:
        """Give an ACTIVE session whose kernel is gone (e.g. after a server restart) a fresh kernel."""
        started = await self.start_kernel(scope, row.kernel_name, row.path, row.created_by or "")
        async with self._db.write() as db:
            current = await db.get(SessionRow, row.id)
            if current is None or current.kernel_id != row.kernel_id:
                stale = True
            else:
                stale = False
                current.kernel_id = started.id
                current.time_updated = utcnow()
        if stale:  # someone else revived or deleted it meanwhile
            await self._release_kernel(started.id)
            return await self.get(scope, row.id)
        return await self.get(scope, row.id)

    # ---- patch -------------------------------------------------------------------------------

    async def patch(
        self, scope: Scope, session_id: str, request: PatchSessionRequest, *, if_match: str | None, actor: str
    ) -> SessionView:
        current = await self.get(scope, session_id)
        check_if_match(if_match, current.session.etag)
        if request.path is not None and not isinstance(request.path, Unset):
            async with self._db.read() as db:
                holder = await sessions_repo.get_by_path(db, scope.instance_id, scope.workspace_key, request.path)
            if holder is not None and holder.id != session_id:
                raise ConflictError(f"Another session ({holder.id}) already uses path '{request.path}'.")
        new_kernel_id: str | None = None
        new_kernel_name: str | None = None
        started_here = False
        if request.kernel_id is not None and request.kernel_id != current.session.kernel_id:
            new_kernel_name = await self._validate_kernel_choice(scope, request.kernel_id, None)
            new_kernel_id = request.kernel_id
        elif request.kernel_id is None and request.kernel_name is not None:
            new_kernel_name = await self._validate_kernel_choice(scope, None, request.kernel_name)
            path = request.path if isinstance(request.path, str) else current.session.path
            started = await self.start_kernel(scope, new_kernel_name, path, actor)
            new_kernel_id, started_here = started.id, True

        old_kernel_id = current.session.kernel_id
        try:
            async with self._db.write() as db:
                row = await sessions_repo.get(db, scope.instance_id, scope.workspace_key, session_id)
                if row is None:
                    raise NotFoundError(f"Session not found: {session_id}")
                check_if_match(if_match, _to_domain(row).etag)
                old_kernel_id = row.kernel_id
                for attr in ("name", "path", "type", "cluster_id"):
                    value = getattr(request, attr)
                    if not isinstance(value, Unset):
                        setattr(row, attr, value)
                if new_kernel_id is not None and new_kernel_name is not None:
                    row.kernel_id = new_kernel_id
                    row.kernel_name = new_kernel_name
                    row.lifecycle_state = LifecycleState.ACTIVE.value
                    row.lifecycle_details = None
                row.time_updated = utcnow()
        except IntegrityError as exc:
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
            if kernel_id is None or not self._kernels.is_alive(kernel_id):
                raise InvalidInputError("The session has no running kernel to refresh.")
            await self._kernels.restart(kernel_id)
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
                if row.name == _default_name(row.path):  # a name derived from the path follows it
                    row.name = _default_name(rewritten)
                row.path = rewritten
                row.time_updated = utcnow()
                moved += 1
                # Flush per row so a chain of moves never trips the unique constraint at commit time.
                await db.flush()
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
        async with self._db.write() as db:
            if await sessions_repo.sessions_using_kernel(db, kernel_id):
                return
            await sessions_repo.set_kernel_status(db, [kernel_id], "stopped")
        await self._kernels.shutdown(kernel_id)

    # ---- lifecycle ---------------------------------------------------------------------------

    async def reconcile_on_start(self) -> None:
        """Kernels this node recorded as running but does not run are gone (they died with the previous
        server); mark them stopped so sessions report them as dead instead of unknown. Other nodes' kernels
        sharing the database are left alone."""
        async with self._db.write() as db:
            running = await sessions_repo.running_kernel_ids(db, self._node_id)
            orphans = [k for k in running if not self._kernels.is_alive(k)]
            await sessions_repo.set_kernel_status(db, orphans, "stopped")

    async def stop_all_kernels(self) -> None:
        ids = self._kernels.kernel_ids()
        await self._kernels.close()
        async with self._db.write() as db:
            await sessions_repo.set_kernel_status(db, ids, "stopped")


def _default_name(path: str | None) -> str:
    if not path:
        return ""
    return path.rstrip("/").rsplit("/", 1)[-1]
