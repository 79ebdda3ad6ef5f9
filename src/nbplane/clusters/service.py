"""ClusterService: a workspace's clusters through the Cluster API, and the operator's gateway clusters.

Every caller-facing method checks the principal through `nbplane.auth.access` (a workspace the caller may
not use is a NotFoundError, and so its clusters). Creating, updating and deleting a cluster need the
workspace's ADMINISTRATOR; any member may start, stop and restart one. A stop shuts the cluster's kernels
down (`KernelService.stop_cluster`: their sessions stay and report the kernel dead, "cluster stopped"); a
start lets the next create or patch of those sessions give them a fresh kernel. Gateway clusters (URL and
token) are made by the operator only (`nbplane admin create-cluster`): the API has no field for a secret.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.auth import access
from nbplane.auth.principal import Principal
from nbplane.clusters.models import (
    RESTART_REASON,
    STOP_REASON,
    AttachedSession,
    Cluster,
    ClusterDetails,
    ClusterKind,
    ClusterState,
    GatewayDetails,
    ListClustersQuery,
    PageCursor,
    SortBy,
    SortOrder,
    new_key,
)
from nbplane.errors import ConflictError, InvalidInputError, NotFoundError
from nbplane.etags import require_match
from nbplane.kernels.service import KernelService
from nbplane.scope import Scope
from nbplane.store import clusters_repo, credentials, directory, workspaces_repo
from nbplane.store.db import Database
from nbplane.store.tables import ClusterRow, utcnow
from nbplane.workspaces.models import DEFAULT_WORKSPACE_KEY, Page, Permission


def to_domain(row: ClusterRow, attached: list[tuple[str | None, str | None]] | None = None) -> Cluster:
    return Cluster(
        scope=Scope(row.instance_id, row.workspace_key),
        key=row.key,
        display_name=row.display_name,
        description=row.description,
        kind=ClusterKind(row.kind),
        is_default=row.is_default,
        state=ClusterState(row.state),
        state_details=row.state_details,
        gateway_url=row.gateway_url,
        created_by=row.created_by,
        created_by_name=row.created_by_name,
        updated_by=row.updated_by,
        updated_by_name=row.updated_by_name,
        stopped_by=row.stopped_by,
        stopped_by_name=row.stopped_by_name,
        time_created=row.time_created,
        time_updated=row.time_updated,
        attached=tuple(AttachedSession(path, type_) for path, type_ in attached or ()),
    )


def _not_found(scope: Scope, key: str) -> NotFoundError:
    return NotFoundError(f"Cluster '{key}' does not exist in workspace '{scope.workspace_key}', or you cannot use it.")


def _page_time(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise InvalidInputError("Invalid page token; pass the opc-next-page value unchanged.")
    return when


class ClusterService:
    def __init__(self, db: Database, kernels: KernelService | None) -> None:
        """`kernels` None: operator commands, which make and list clusters but run no kernels."""
        self._db = db
        self._kernels_service = kernels

    @property
    def _kernels(self) -> KernelService:
        if self._kernels_service is None:
            raise RuntimeError("this ClusterService runs no kernels")
        return self._kernels_service

    # ---- reads -------------------------------------------------------------------------------

    async def _attached(self, session: AsyncSession, scope: Scope, rows: list[ClusterRow]) -> list[Cluster]:
        default = next(
            (
                r.key
                for r in await clusters_repo.of_workspace(session, scope.instance_id, scope.workspace_key)
                if r.is_default
            ),
            None,
        )
        found = await clusters_repo.attached_sessions(
            session, scope.instance_id, scope.workspace_key, [r.key for r in rows], default
        )
        return [to_domain(r, found.get(r.key)) for r in rows]

    async def list(
        self,
        principal: Principal,
        instance_id: str,
        workspace_key: str,
        query: ListClustersQuery,
        *,
        tenant_id: str | None = None,
    ) -> Page[Cluster]:
        order = query.order
        cursor = PageCursor.decode(query.page, query.sort_by, order) if query.page is not None else None
        by_name = query.sort_by is SortBy.DISPLAY_NAME
        after = None
        if cursor is not None:
            after = (cursor.value if by_name else _page_time(cursor.value), cursor.key)
        scope = Scope(instance_id, workspace_key)
        async with self._db.read() as session:
            await access.visible_workspace(session, principal, instance_id, workspace_key, tenant_id=tenant_id)
            rows = await clusters_repo.page(
                session,
                instance_id,
                workspace_key,
                state=query.state.value if query.state else None,
                display_name=query.display_name,
                display_name_contains=query.display_name_contains,
                sort_by_name=by_name,
                ascending=order is SortOrder.ASC,
                after=after,
                limit=query.limit + 1,
            )
            items = await self._attached(session, scope, list(rows[: query.limit]))
        next_page = None
        if len(rows) > query.limit:
            last = items[-1]
            value = last.display_name if by_name else last.time_created.isoformat()
            next_page = PageCursor(query.sort_by, order, value, last.key).encode()
        return Page(items, next_page)

    async def get(
        self, principal: Principal, instance_id: str, workspace_key: str, key: str, *, tenant_id: str | None = None
    ) -> Cluster:
        scope = Scope(instance_id, workspace_key)
        async with self._db.read() as session:
            await access.visible_workspace(session, principal, instance_id, workspace_key, tenant_id=tenant_id)
            row = await clusters_repo.get(session, instance_id, workspace_key, key)
            if row is None:
                raise _not_found(scope, key)
            return (await self._attached(session, scope, [row]))[0]

    async def get_default(self, principal: Principal, instance_id: str, *, tenant_id: str | None = None) -> Cluster:
        """The default cluster of the instance's DEFAULT workspace (of an API token's own workspace)."""
        key = principal.workspace_scope[1] if principal.workspace_scope else DEFAULT_WORKSPACE_KEY
        async with self._db.read() as session:
            await access.visible_workspace(session, principal, instance_id, key, tenant_id=tenant_id)
            row = await clusters_repo.get_default(session, instance_id, key)
            if row is None:
                raise NotFoundError(f"AI Data Platform '{instance_id}' has no default cluster.")
            return (await self._attached(session, Scope(instance_id, key), [row]))[0]

    async def exists(self, instance_id: str, workspace_key: str, key: str) -> bool:
        async with self._db.read() as session:
            return await clusters_repo.get(session, instance_id, workspace_key, key) is not None

    # ---- writes ------------------------------------------------------------------------------

    async def create(
        self,
        principal: Principal,
        instance_id: str,
        workspace_key: str,
        details: ClusterDetails,
        *,
        tenant_id: str | None = None,
    ) -> Cluster:
        """A new local cluster with a generated key, ACTIVE at once."""
        if not details.display_name:
            raise InvalidInputError("displayName is required.")
        async with self._db.write() as session:
            _, held = await access.visible_workspace(
                session, principal, instance_id, workspace_key, tenant_id=tenant_id
            )
            self._require_admin(held, Scope(instance_id, workspace_key))
            actor = await self._actor(session, principal)
            row = await self._insert(session, Scope(instance_id, workspace_key), details, None, actor)
            return to_domain(row)

    async def update(
        self,
        principal: Principal,
        instance_id: str,
        workspace_key: str,
        key: str,
        details: ClusterDetails,
        *,
        if_match: str | None = None,
        tenant_id: str | None = None,
    ) -> Cluster:
        if details.display_name is not None and not details.display_name:
            raise InvalidInputError("displayName cannot be empty.")
        scope = Scope(instance_id, workspace_key)
        async with self._db.write() as session:
            row, held = await self._visible(session, principal, scope, key, tenant_id)
            self._require_admin(held, scope)
            require_match(if_match, to_domain(row).etag, "cluster")
            if details.display_name is not None:
                row.display_name = details.display_name
            if details.description is not None:
                row.description = details.description
            row.updated_by, row.updated_by_name = await self._actor(session, principal)
            row.time_updated = utcnow()
            await session.flush()
            return (await self._attached(session, scope, [row]))[0]

    async def delete(
        self,
        principal: Principal,
        instance_id: str,
        workspace_key: str,
        key: str,
        *,
        if_match: str | None = None,
        tenant_id: str | None = None,
    ) -> None:
        """Delete a cluster no session uses; the default cluster stays."""
        scope = Scope(instance_id, workspace_key)
        async with self._db.read() as session:
            row, held = await self._visible(session, principal, scope, key, tenant_id)
            self._require_admin(held, scope)
            require_match(if_match, to_domain(row).etag, "cluster")
            if row.is_default:
                raise ConflictError("A workspace's default cluster cannot be deleted.")
            if await clusters_repo.sessions_on_cluster(session, instance_id, workspace_key, key):
                raise ConflictError(f"Sessions run on cluster '{key}'; delete them or move them first.")
        await self._kernels.stop_cluster(scope, key, False, "the cluster was deleted")
        async with self._db.write() as session:
            await clusters_repo.remove(session, instance_id, workspace_key, key)

    async def start(
        self,
        principal: Principal,
        scope: Scope,
        key: str,
        *,
        if_match: str | None = None,
        tenant_id: str | None = None,
    ) -> Cluster:
        return await self._transition(principal, scope, key, "start", if_match=if_match, tenant_id=tenant_id)

    async def stop(
        self,
        principal: Principal,
        scope: Scope,
        key: str,
        *,
        if_match: str | None = None,
        tenant_id: str | None = None,
    ) -> Cluster:
        return await self._transition(principal, scope, key, "stop", if_match=if_match, tenant_id=tenant_id)

    async def restart(
        self,
        principal: Principal,
        scope: Scope,
        key: str,
        *,
        if_match: str | None = None,
        tenant_id: str | None = None,
    ) -> Cluster:
        return await self._transition(principal, scope, key, "restart", if_match=if_match, tenant_id=tenant_id)

    async def _transition(
        self,
        principal: Principal,
        scope: Scope,
        key: str,
        action: str,
        *,
        if_match: str | None = None,
        tenant_id: str | None = None,
    ) -> Cluster:
        """start: STOPPED -> ACTIVE; stop: ACTIVE -> STOPPED with its kernels shut down; restart: its kernels
        shut down and ACTIVE. Starting an active or stopping a stopped cluster changes nothing."""
        async with self._db.write() as session:
            row, _ = await self._visible(session, principal, scope, key, tenant_id)
            require_match(if_match, to_domain(row).etag, "cluster")
            actor = await self._actor(session, principal)
            state = ClusterState(row.state)
            if action == "stop" and state is not ClusterState.STOPPED:
                row.state, row.state_details = ClusterState.STOPPED.value, "Stopped on request"
                row.stopped_by, row.stopped_by_name = actor
            elif action in ("start", "restart") and state is not ClusterState.ACTIVE:
                row.state, row.state_details = ClusterState.ACTIVE.value, None
            elif action != "restart":
                return (await self._attached(session, scope, [row]))[0]
            row.updated_by, row.updated_by_name = actor
            row.time_updated = utcnow()
            is_default = row.is_default
        if action != "start":
            await self._kernels.stop_cluster(
                scope, key, is_default, STOP_REASON if action == "stop" else RESTART_REASON
            )
        async with self._db.read() as session:
            row = await clusters_repo.get(session, scope.instance_id, scope.workspace_key, key)
            if row is None:
                raise _not_found(scope, key)
            return (await self._attached(session, scope, [row]))[0]

    # ---- operator ----------------------------------------------------------------------------

    async def provision(
        self,
        instance_id: str,
        workspace_key: str,
        display_name: str,
        *,
        gateway: GatewayDetails | None = None,
        description: str | None = None,
        actor: str = "admin",
    ) -> Cluster:
        """An operator-made cluster: local, or on a gateway (the token is stored, never shown)."""
        if not display_name:
            raise InvalidInputError("A cluster needs a name.")
        if gateway is not None and not gateway.url.startswith(("http://", "https://")):
            raise InvalidInputError("The gateway URL must start with http:// or https://.")
        async with self._db.write() as session:
            if await directory.get_instance(session, instance_id) is None:
                raise NotFoundError(f"No instance {instance_id}.")
            if await workspaces_repo.get(session, instance_id, workspace_key) is None:
                raise NotFoundError(f"No workspace {workspace_key} in instance {instance_id}.")
            details = ClusterDetails(display_name, description)
            row = await self._insert(session, Scope(instance_id, workspace_key), details, gateway, (actor, actor))
            return to_domain(row)

    async def all_of_instance(self, instance_id: str) -> list[Cluster]:
        async with self._db.read() as session:
            return [to_domain(r) for r in await clusters_repo.of_instance(session, instance_id)]

    # ---- helpers -----------------------------------------------------------------------------

    @staticmethod
    async def _insert(
        session: AsyncSession,
        scope: Scope,
        details: ClusterDetails,
        gateway: GatewayDetails | None,
        actor: tuple[str, str],
    ) -> ClusterRow:
        key = new_key()
        while await clusters_repo.get(session, scope.instance_id, scope.workspace_key, key) is not None:
            key = new_key()
        row = ClusterRow(
            instance_id=scope.instance_id,
            workspace_key=scope.workspace_key,
            key=key,
            display_name=details.display_name or key,
            description=details.description,
            is_default=False,
            kind=(ClusterKind.GATEWAY if gateway else ClusterKind.LOCAL).value,
            state=ClusterState.ACTIVE.value,
            gateway_url=gateway.url.rstrip("/") if gateway else None,
            gateway_token=gateway.token if gateway else None,
            gateway_ca=gateway.ca_pem if gateway else None,
            kernel_env=dict(gateway.kernel_env) if gateway else None,
            created_by=actor[0],
            created_by_name=actor[1],
            time_created=utcnow(),
        )
        clusters_repo.add(session, row)
        await session.flush()
        return row

    async def _visible(
        self, session: AsyncSession, principal: Principal, scope: Scope, key: str, tenant_id: str | None
    ) -> tuple[ClusterRow, set[Permission]]:
        _, held = await access.visible_workspace(
            session, principal, scope.instance_id, scope.workspace_key, tenant_id=tenant_id
        )
        row = await clusters_repo.get(session, scope.instance_id, scope.workspace_key, key)
        if row is None:
            raise _not_found(scope, key)
        return row, held

    @staticmethod
    def _require_admin(held: set[Permission], scope: Scope) -> None:
        if Permission.ADMINISTRATOR not in held:
            raise NotFoundError(
                f"Workspace '{scope.workspace_key}' was not found, or you are not an ADMINISTRATOR of it."
            )

    @staticmethod
    async def _actor(session: AsyncSession, principal: Principal) -> tuple[str, str]:
        if principal.user_id is None:
            return principal.key, principal.display
        user = await credentials.get_user(session, principal.user_id)
        return principal.user_id, user.name if user is not None else principal.display
