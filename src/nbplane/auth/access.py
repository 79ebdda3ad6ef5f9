"""What a principal may touch. A resource the caller may not see is reported exactly like one that
does not exist, so nothing leaks about other tenants."""

from __future__ import annotations

from nbplane.auth.principal import Principal
from nbplane.errors import NotFoundError
from nbplane.scope import Scope
from nbplane.store import directory
from nbplane.store.db import Database


def _not_found(instance_id: str, workspace_key: str) -> NotFoundError:
    return NotFoundError(
        f"Workspace '{workspace_key}' of AI Data Platform '{instance_id}' was not found or is not authorized."
    )


async def resolve_workspace(
    db: Database, principal: Principal, instance_id: str, workspace_key: str, *, tenant_id: str | None = None
) -> Scope:
    """The workspace scope if it exists and the principal may use it; NotFoundError otherwise.

    `tenant_id` is the optional `datalake-tenant-id` header: when sent by an authenticated caller it must
    name the caller's own tenancy, or nothing is found (it can narrow what a caller sees, never widen it).
    """
    if principal.workspace_scope is not None and principal.workspace_scope != (instance_id, workspace_key):
        raise _not_found(instance_id, workspace_key)
    if tenant_id and principal.tenancy_id is not None and tenant_id != principal.tenancy_id:
        raise _not_found(instance_id, workspace_key)
    async with db.read() as session:
        instance = await directory.get_instance(session, instance_id)
        if instance is None or (principal.tenancy_id is not None and instance.tenancy_id != principal.tenancy_id):
            raise _not_found(instance_id, workspace_key)
        if await directory.get_workspace(session, instance_id, workspace_key) is None:
            raise _not_found(instance_id, workspace_key)
    return Scope(instance_id, workspace_key)
