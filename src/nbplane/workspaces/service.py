"""WorkspaceService: list, get, create, update and delete workspaces, and manage who may use them.

Every caller-facing method takes the principal and checks it through `nbplane.auth.access`, so a
workspace the caller was not granted is a plain NotFoundError, like one that does not exist. Updating,
deleting and managing permissions need ADMINISTRATOR; the same NotFoundError answers a member without it.

Delete: the workspace goes to DELETING (it stops serving requests), its sessions are deleted and kernels
stopped (`teardown`), its files are moved to the data dir's deleted-workspaces area (never removed), then
the row goes, and its grants, tokens and retry records with it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.auth import access
from nbplane.auth.principal import Principal
from nbplane.errors import (
    BackendError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from nbplane.etags import require_match
from nbplane.layout import DataLayout
from nbplane.scope import Scope
from nbplane.store import clusters_repo, credentials, directory, workspaces_repo
from nbplane.store.db import Database
from nbplane.store.tables import WorkspaceRow, utcnow
from nbplane.workspaces import provisioning
from nbplane.workspaces.models import (
    Grantee,
    LifecycleState,
    ListWorkspacesQuery,
    Page,
    PageCursor,
    Permission,
    PermissionChange,
    SortBy,
    SortOrder,
    Workspace,
    WorkspaceDetails,
    WorkspaceType,
    new_key,
)

log = logging.getLogger(__name__)

Teardown = Callable[[Scope], Awaitable[None]]
"""Stops a workspace's kernels and deletes its sessions (see `nbplane.workspaces.teardown`)."""


def to_domain(row: WorkspaceRow) -> Workspace:
    return Workspace(
        scope=Scope(row.instance_id, row.key),
        display_name=row.display_name,
        description=row.description,
        type=WorkspaceType(row.type),
        lifecycle_state=LifecycleState(row.lifecycle_state),
        lifecycle_details=row.lifecycle_details,
        default_catalog_key=row.default_catalog_key,
        created_by=row.created_by,
        created_by_name=row.created_by_name,
        updated_by=row.updated_by,
        updated_by_name=row.updated_by_name,
        time_created=row.time_created,
        time_updated=row.time_updated,
    )


def _require_admin(held: set[Permission], scope: Scope) -> None:
    if Permission.ADMINISTRATOR not in held:
        raise NotFoundError(
            f"Workspace '{scope.workspace_key}' of AI Data Platform '{scope.instance_id}' was not found, "
            "or you are not an ADMINISTRATOR of it."
        )


class WorkspaceService:
    def __init__(self, db: Database, layout: DataLayout, teardown: Teardown) -> None:
        self._db = db
        self._layout = layout
        self._teardown = teardown

    # ---- reads -------------------------------------------------------------------------------

    async def list(
        self, principal: Principal, instance_id: str, query: ListWorkspacesQuery, *, tenant_id: str | None = None
    ) -> Page[Workspace]:
        """The workspaces of an instance the principal holds a grant on, keyset-paginated."""
        order = query.order
        cursor = PageCursor.decode(query.page, query.sort_by, order) if query.page is not None else None
        by_name = query.sort_by is SortBy.DISPLAY_NAME
        after: tuple[object, str] | None = None
        if cursor is not None:
            after = (cursor.value if by_name else _page_time(cursor.value), cursor.key)
        async with self._db.read() as session:
            await access.visible_instance(session, principal, instance_id, tenant_id=tenant_id)
            if query.is_private_network_enabled:  # nbplane has no private networks
                return Page()
            rows = await workspaces_repo.page(
                session,
                instance_id,
                visible_to=principal.user_id if principal.kind != "anonymous" else None,
                only_key=principal.workspace_scope[1] if principal.workspace_scope else None,
                lifecycle_state=query.lifecycle_state.value if query.lifecycle_state else None,
                display_name=query.display_name,
                display_name_contains=query.display_name_contains,
                type=query.type.value if query.type else None,
                sort_by_name=by_name,
                ascending=order is SortOrder.ASC,
                after=after,
                limit=query.limit + 1,
            )
        items = [to_domain(r) for r in rows[: query.limit]]
        next_page = None
        if len(rows) > query.limit:
            last = items[-1]
            value = last.display_name if by_name else last.time_created.isoformat()
            next_page = PageCursor(query.sort_by, order, value, last.key).encode()
        return Page(items, next_page)

    async def get(self, principal: Principal, instance_id: str, key: str, *, tenant_id: str | None = None) -> Workspace:
        async with self._db.read() as session:
            row, _ = await access.visible_workspace(
                session, principal, instance_id, key, tenant_id=tenant_id, usable_only=False
            )
        return to_domain(row)

    async def exists(self, instance_id: str, key: str) -> bool:
        async with self._db.read() as session:
            return await workspaces_repo.get(session, instance_id, key) is not None

    # ---- writes ------------------------------------------------------------------------------

    async def create(
        self,
        principal: Principal,
        instance_id: str,
        details: WorkspaceDetails,
        *,
        tenant_id: str | None = None,
    ) -> Workspace:
        """A new USER workspace with a generated key, ACTIVE at once; its creator is its ADMINISTRATOR."""
        if not details.display_name:
            raise InvalidInputError("displayName is required.")
        if principal.workspace_scope is not None:  # an API token reaches its own workspace only
            raise access.instance_not_found(instance_id)
        async with self._db.write() as session:
            await access.visible_instance(session, principal, instance_id, tenant_id=tenant_id)
            key = new_key()
            while await workspaces_repo.get(session, instance_id, key) is not None:
                key = new_key()
            actor = await self._actor(session, principal)
            row = await self._insert(session, instance_id, key, details, WorkspaceType.USER, actor)
            if principal.user_id is not None:
                await workspaces_repo.grant(
                    session, instance_id, key, [principal.user_id], [Permission.ADMINISTRATOR.value], utcnow()
                )
        await self._make_dir(Scope(instance_id, key))
        return to_domain(row)

    async def update(
        self,
        principal: Principal,
        instance_id: str,
        key: str,
        details: WorkspaceDetails,
        *,
        if_match: str | None = None,
        tenant_id: str | None = None,
    ) -> Workspace:
        """Change the display name, description or default catalog (None leaves a field as it is)."""
        if details.display_name is not None and not details.display_name:
            raise InvalidInputError("displayName cannot be empty.")
        async with self._db.write() as session:
            row, held = await access.visible_workspace(session, principal, instance_id, key, tenant_id=tenant_id)
            _require_admin(held, Scope(instance_id, key))
            require_match(if_match, to_domain(row).etag, "workspace")
            if details.display_name is not None:
                row.display_name = details.display_name
            if details.description is not None:
                row.description = details.description
            if details.default_catalog_key is not None:
                row.default_catalog_key = details.default_catalog_key
            row.updated_by, row.updated_by_name = await self._actor(session, principal)
            row.time_updated = utcnow()
            await session.flush()
            return to_domain(row)

    async def delete(
        self,
        principal: Principal,
        instance_id: str,
        key: str,
        *,
        if_match: str | None = None,
        tenant_id: str | None = None,
    ) -> None:
        scope = Scope(instance_id, key)
        async with self._db.write() as session:
            row, held = await access.visible_workspace(
                session, principal, instance_id, key, tenant_id=tenant_id, usable_only=False
            )
            _require_admin(held, scope)
            require_match(if_match, to_domain(row).etag, "workspace")
            if row.type == WorkspaceType.DEFAULT.value:
                raise ConflictError("The instance's DEFAULT workspace cannot be deleted.")
            row.lifecycle_state = LifecycleState.DELETING.value
            row.lifecycle_details = None
            row.updated_by, row.updated_by_name = await self._actor(session, principal)
            row.time_updated = utcnow()
        try:
            await self._teardown(scope)
            moved = await asyncio.to_thread(self._move_files, scope)
        except Exception as exc:
            await self._fail(scope, f"Deleting failed: {exc}; delete the workspace again to retry.")
            if isinstance(exc, BackendError):
                raise
            raise BackendError(f"Deleting workspace '{key}' failed; delete it again to retry.") from exc
        if moved is not None:
            log.info("workspace %s/%s deleted; its files were moved to %s", instance_id, key, moved)
        async with self._db.write() as session:
            await workspaces_repo.remove(session, instance_id, key)

    # ---- permissions -------------------------------------------------------------------------

    async def list_permissions(
        self,
        principal: Principal,
        instance_id: str,
        key: str,
        *,
        limit: int = 100,
        page: str | None = None,
        sort_order: SortOrder = SortOrder.ASC,
        tenant_id: str | None = None,
    ) -> Page[Grantee]:
        """Who holds which permission, by grantee name; any member of the workspace may look."""
        after = _decode_grantee_page(page, sort_order) if page is not None else None
        async with self._db.read() as session:
            await access.visible_workspace(session, principal, instance_id, key, tenant_id=tenant_id)
            rows = await workspaces_repo.grants(session, instance_id, key)
        by_user: dict[str, tuple[str, list[Permission]]] = {}
        for grant, name in rows:
            by_user.setdefault(grant.user_id, (name, []))[1].append(Permission(grant.permission))
        order = list(Permission)
        grantees = sorted(
            (Grantee(uid, name, tuple(sorted(perms, key=order.index))) for uid, (name, perms) in by_user.items()),
            key=lambda g: (g.name, g.user_id),
            reverse=sort_order is SortOrder.DESC,
        )
        if after is not None:
            if sort_order is SortOrder.ASC:
                grantees = [g for g in grantees if (g.name, g.user_id) > after]
            else:
                grantees = [g for g in grantees if (g.name, g.user_id) < after]
        items = grantees[:limit]
        next_page = _encode_grantee_page(items[-1], sort_order) if len(grantees) > limit else None
        return Page(items, next_page)

    async def manage_permissions(
        self,
        principal: Principal,
        instance_id: str,
        key: str,
        change: PermissionChange,
        *,
        if_match: str | None = None,
        tenant_id: str | None = None,
    ) -> None:
        """Revoke, then assign, in one transaction. Grantees must be users of the instance's tenancy;
        the workspace always keeps an ADMINISTRATOR (ConflictError otherwise)."""
        if not (change.assign_users and change.assign) and not (change.revoke_users and change.revoke):
            raise InvalidInputError("Give assignWorkspacePermissionDetails or revokeWorkspacePermissionDetails.")
        scope = Scope(instance_id, key)
        async with self._db.write() as session:
            row, held = await access.visible_workspace(session, principal, instance_id, key, tenant_id=tenant_id)
            _require_admin(held, scope)
            require_match(if_match, to_domain(row).etag, "workspace")
            instance = await directory.get_instance(session, instance_id)
            if instance is None:
                raise access.workspace_not_found(instance_id, key)
            wanted = {*change.assign_users, *change.revoke_users}
            known = await workspaces_repo.users_of_tenancy(session, instance.tenancy_id, wanted)
            unknown = sorted(wanted - known.keys())
            if unknown:
                raise InvalidInputError(f"No such user in the instance's tenancy: {', '.join(unknown)}.")
            await workspaces_repo.revoke(
                session, instance_id, key, change.revoke_users, [p.value for p in change.revoke]
            )
            await workspaces_repo.grant(
                session, instance_id, key, change.assign_users, [p.value for p in change.assign], utcnow()
            )
            await session.flush()
            if await workspaces_repo.count_with_permission(session, instance_id, key, Permission.ADMINISTRATOR) == 0:
                raise ConflictError("A workspace keeps at least one ADMINISTRATOR; assign another one first.")

    # ---- operator (admin commands and first run) -----------------------------------------------

    async def provision(
        self,
        instance_id: str,
        key: str,
        display_name: str | None = None,
        *,
        administrators: list[str] | None = None,
        actor: str = "admin",
    ) -> Workspace:
        """An operator-made workspace (see `provisioning.provision_workspace`), with its directory."""
        async with self._db.write() as session:
            row = await provisioning.provision_workspace(
                session, instance_id, key, display_name, administrators=administrators, actor=actor
            )
        await self._make_dir(Scope(instance_id, key))
        return to_domain(row)

    async def grant(self, instance_id: str, key: str, user_id: str, permission: Permission) -> None:
        """Operator grant. NotFoundError (no workspace), InvalidInputError (user outside the tenancy)."""
        async with self._db.write() as session:
            instance = await directory.get_instance(session, instance_id)
            if instance is None or await workspaces_repo.get(session, instance_id, key) is None:
                raise NotFoundError(f"No workspace {key} in instance {instance_id}.")
            if not await workspaces_repo.users_of_tenancy(session, instance.tenancy_id, [user_id]):
                raise InvalidInputError(f"User {user_id} does not exist in the instance's tenancy.")
            await workspaces_repo.grant(session, instance_id, key, [user_id], [permission.value], utcnow())

    async def revoke(self, instance_id: str, key: str, user_id: str, permissions: list[Permission]) -> None:
        """Operator revoke (it may leave a workspace without an ADMINISTRATOR; the operator can grant again)."""
        async with self._db.write() as session:
            if await workspaces_repo.get(session, instance_id, key) is None:
                raise NotFoundError(f"No workspace {key} in instance {instance_id}.")
            await workspaces_repo.revoke(session, instance_id, key, [user_id], [p.value for p in permissions])

    # ---- helpers -----------------------------------------------------------------------------

    @staticmethod
    async def _insert(
        session: AsyncSession,
        instance_id: str,
        key: str,
        details: WorkspaceDetails,
        type: WorkspaceType,
        actor: tuple[str, str],
    ) -> WorkspaceRow:
        row = WorkspaceRow(
            instance_id=instance_id,
            key=key,
            display_name=details.display_name or key,
            description=details.description,
            default_catalog_key=details.default_catalog_key,
            type=type.value,
            lifecycle_state=LifecycleState.ACTIVE.value,
            created_by=actor[0],
            created_by_name=actor[1],
            time_created=utcnow(),
        )
        workspaces_repo.add(session, row)
        await session.flush()
        clusters_repo.add_default(session, instance_id, key, actor)
        await session.flush()
        return row

    @staticmethod
    async def _actor(session: AsyncSession, principal: Principal) -> tuple[str, str]:
        """`createdBy`/`updatedBy` and their names: the user's OCID and name."""
        if principal.user_id is None:
            return principal.key, principal.display
        user = await credentials.get_user(session, principal.user_id)
        return principal.user_id, user.name if user is not None else principal.display

    async def _make_dir(self, scope: Scope) -> None:
        # 0700: no other workspace's kernels may look in (isolated kernels get the folder as their own).
        await asyncio.to_thread(self._layout.workspace_dir(scope).mkdir, mode=0o700, parents=True, exist_ok=True)

    def _move_files(self, scope: Scope) -> str | None:
        source = self._layout.workspace_dir(scope)
        if not source.exists():
            return None
        target = self._layout.deleted_workspace_dir(scope, utcnow())
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
        return str(target)

    async def _fail(self, scope: Scope, details: str) -> None:
        try:
            async with self._db.write() as session:
                row = await workspaces_repo.get(session, scope.instance_id, scope.workspace_key)
                if row is not None:
                    row.lifecycle_state = LifecycleState.FAILED.value
                    row.lifecycle_details = details[:2000]
        except Exception:
            log.exception("could not mark workspace %s as FAILED", scope)


def _page_time(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise InvalidInputError("Invalid page token; pass the opc-next-page value unchanged.")
    return when


def _encode_grantee_page(last: Grantee, order: SortOrder) -> str:
    raw = json.dumps([order.value, last.name, last.user_id]).encode()
    return "g" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_grantee_page(token: str, order: SortOrder) -> tuple[str, str]:
    try:
        if not token.startswith("g"):
            raise ValueError(token)
        body = token[1:]
        sent_order, name, user_id = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if sent_order != order.value:
            raise InvalidInputError("The page token was made for another sortOrder; repeat it unchanged.")
        return str(name), str(user_id)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInputError("Invalid page token; pass the opc-next-page value unchanged.") from exc
