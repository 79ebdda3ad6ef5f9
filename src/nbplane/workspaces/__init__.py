"""Workspaces of an AI Data Platform instance: their lifecycle, keys and who may use them."""

from nbplane.workspaces.models import (
    DEFAULT_WORKSPACE_KEY,
    Grantee,
    LifecycleState,
    ListWorkspacesQuery,
    Page,
    Permission,
    PermissionChange,
    SortBy,
    SortOrder,
    Workspace,
    WorkspaceDetails,
    WorkspaceType,
    check_key,
    new_key,
)
from nbplane.workspaces.service import Teardown, WorkspaceService

__all__ = [
    "DEFAULT_WORKSPACE_KEY",
    "Grantee",
    "LifecycleState",
    "ListWorkspacesQuery",
    "Page",
    "Permission",
    "PermissionChange",
    "SortBy",
    "SortOrder",
    "Teardown",
    "Workspace",
    "WorkspaceDetails",
    "WorkspaceService",
    "WorkspaceType",
    "check_key",
    "new_key",
]
