"""What a principal may touch. A resource the caller may not see is reported exactly like one that
does not exist, so nothing leaks about other tenants or about workspaces the caller was not granted.

Rules: an instance is visible to the users of its tenancy; a workspace to the users holding a grant on it
(any permission), and only while it is usable (not being deleted); an API token reaches only its own
workspace, with its user's grants. The anonymous principal of `--insecure-no-auth` reaches everything.
"""

from __future__ import annotations

import functools

from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.auth.cache import AuthCache
from nbplane.auth.principal import Principal
from nbplane.errors import NotFoundError
from nbplane.scope import Scope
from nbplane.store import directory, workspaces_repo
from nbplane.store.db import Database
from nbplane.store.tables import InstanceRow, WorkspaceRow
from nbplane.workspaces.models import USABLE_STATES, LifecycleState, Permission


def workspace_not_found(instance_id: str, workspace_key: str) -> NotFoundError:
    return NotFoundError(
        f"Workspace '{workspace_key}' of AI Data Platform '{instance_id}' was not found or is not authorized."
    )


def instance_not_found(instance_id: str) -> NotFoundError:
    return NotFoundError(f"AI Data Platform '{instance_id}' was not found or is not authorized.")


async def visible_instance(
    session: AsyncSession, principal: Principal, instance_id: str, *, tenant_id: str | None = None
) -> InstanceRow:
    """The instance if the principal's tenancy owns it; NotFoundError otherwise.

    `tenant_id` is the optional `datalake-tenant-id` header: when sent by an authenticated caller it must
    name the caller's own tenancy, or nothing is found (it can narrow what a caller sees, never widen it).
    """
    if principal.workspace_scope is not None and principal.workspace_scope[0] != instance_id:
        raise instance_not_found(instance_id)
    if tenant_id and principal.tenancy_id is not None and tenant_id != principal.tenancy_id:
        raise instance_not_found(instance_id)
    instance = await directory.get_instance(session, instance_id)
    if instance is None or (principal.tenancy_id is not None and instance.tenancy_id != principal.tenancy_id):
        raise instance_not_found(instance_id)
    return instance


async def permissions(session: AsyncSession, principal: Principal, instance_id: str, key: str) -> set[Permission]:
    """The principal's permissions on a workspace (all of them for the anonymous principal)."""
    if principal.kind == "anonymous":
        return set(Permission)
    if principal.workspace_scope is not None and principal.workspace_scope != (instance_id, key):
        return set()
    if principal.user_id is None:
        return set()
    held = await workspaces_repo.permissions_of(session, instance_id, key, principal.user_id)
    return {Permission(p) for p in held if p in Permission.__members__}


async def visible_workspace(
    session: AsyncSession,
    principal: Principal,
    instance_id: str,
    workspace_key: str,
    *,
    tenant_id: str | None = None,
    usable_only: bool = True,
) -> tuple[WorkspaceRow, set[Permission]]:
    """The workspace row and the principal's permissions on it; NotFoundError unless the principal holds
    at least one (and, with `usable_only`, the workspace serves requests)."""
    try:
        await visible_instance(session, principal, instance_id, tenant_id=tenant_id)
    except NotFoundError:
        raise workspace_not_found(instance_id, workspace_key) from None
    row = await workspaces_repo.get(session, instance_id, workspace_key)
    if row is None:
        raise workspace_not_found(instance_id, workspace_key)
    if usable_only and LifecycleState(row.lifecycle_state) not in USABLE_STATES:
        raise workspace_not_found(instance_id, workspace_key)
    held = await permissions(session, principal, instance_id, workspace_key)
    if not held:
        raise workspace_not_found(instance_id, workspace_key)
    return row, held


async def resolve_workspace(
    db: Database,
    principal: Principal,
    instance_id: str,
    workspace_key: str,
    *,
    tenant_id: str | None = None,
    cache: AuthCache | None = None,
) -> Scope:
    """The scope of a workspace the principal may use; NotFoundError otherwise. Every notebook route and
    the kernel websocket come through here. With `cache` (refreshed by the authenticator at the start of
    the request) the instance, workspace and grants come from one cached query; the rules are the same."""
    if cache is None or principal.kind == "anonymous":
        async with db.read() as session:
            await visible_workspace(session, principal, instance_id, workspace_key, tenant_id=tenant_id)
        return Scope(instance_id, workspace_key)
    if principal.workspace_scope is not None and principal.workspace_scope != (instance_id, workspace_key):
        raise workspace_not_found(instance_id, workspace_key)
    if tenant_id and principal.tenancy_id is not None and tenant_id != principal.tenancy_id:
        raise workspace_not_found(instance_id, workspace_key)
    user_id = principal.user_id
    facts = await cache.lookup(
        "access",
        (instance_id, workspace_key, user_id),
        functools.partial(workspaces_repo.access_facts, instance_id=instance_id, key=workspace_key, user_id=user_id),
    )
    if (
        facts.tenancy_id is None
        or facts.tenancy_id != principal.tenancy_id
        or facts.lifecycle_state is None
        or LifecycleState(facts.lifecycle_state) not in USABLE_STATES
        or user_id is None
        or not any(p in Permission.__members__ for p in facts.permissions)
    ):
        raise workspace_not_found(instance_id, workspace_key)
    return Scope(instance_id, workspace_key)
