"""Operator-side rules for making instances and workspaces (first run and `nbplane admin`), inside the
caller's transaction: every instance starts with a DEFAULT workspace `default`; an operator-made
workspace is open to the administrators given, by default every current user of the instance's tenancy
(as before workspaces had permissions). Users added to the tenancy later need a grant."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from nbplane.errors import ConflictError, InvalidInputError, NotFoundError
from nbplane.store import clusters_repo, directory, workspaces_repo
from nbplane.store.tables import WorkspaceRow, utcnow
from nbplane.workspaces.models import DEFAULT_WORKSPACE_KEY, LifecycleState, Permission, WorkspaceType, check_key

DEFAULT_WORKSPACE_NAME = "Default workspace"


async def provision_workspace(
    session: AsyncSession,
    instance_id: str,
    key: str,
    display_name: str | None = None,
    *,
    type: WorkspaceType = WorkspaceType.USER,
    administrators: Iterable[str] | None = None,
    actor: str = "admin",
) -> WorkspaceRow:
    """Add a workspace and its ADMINISTRATOR grants. NotFoundError (no instance), ConflictError (key
    taken), InvalidInputError (bad key, or an administrator outside the instance's tenancy)."""
    check_key(key)
    instance = await directory.get_instance(session, instance_id)
    if instance is None:
        raise NotFoundError(f"No instance {instance_id}.")
    if await workspaces_repo.get(session, instance_id, key) is not None:
        raise ConflictError(f"Workspace {key} already exists in instance {instance_id}.")
    wanted = None if administrators is None else list(administrators)
    members = await workspaces_repo.users_of_tenancy(session, instance.tenancy_id, wanted)
    missing = sorted(set(wanted or ()) - members.keys())
    if missing:
        raise InvalidInputError(f"No such user in the instance's tenancy: {', '.join(missing)}.")
    now = utcnow()
    row = WorkspaceRow(
        instance_id=instance_id,
        key=key,
        display_name=display_name or key,
        type=type.value,
        lifecycle_state=LifecycleState.ACTIVE.value,
        created_by=actor,
        created_by_name=actor,
        time_created=now,
    )
    workspaces_repo.add(session, row)
    await session.flush()
    clusters_repo.add_default(session, instance_id, key, (actor, actor))
    await session.flush()
    await workspaces_repo.grant(session, instance_id, key, members.keys(), [Permission.ADMINISTRATOR.value], now)
    return row


async def provision_instance(
    session: AsyncSession,
    instance_id: str,
    tenancy_id: str,
    display_name: str,
    *,
    administrators: Iterable[str] | None = None,
    actor: str = "admin",
) -> WorkspaceRow:
    """Add an instance with its DEFAULT workspace; returns the workspace."""
    directory.add_instance(session, instance_id, tenancy_id, display_name)
    await session.flush()
    return await provision_workspace(
        session,
        instance_id,
        DEFAULT_WORKSPACE_KEY,
        DEFAULT_WORKSPACE_NAME,
        type=WorkspaceType.DEFAULT,
        administrators=administrators,
        actor=actor,
    )
