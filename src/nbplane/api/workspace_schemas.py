"""Wire models of the Workspace API with the SDK's JSON names (`Workspace`, `WorkspaceSummary`,
`CreateWorkspaceDetails`, `UpdateWorkspaceDetails`, `ManageWorkspacePermissionDetails`, ...)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from nbplane.api.schemas import format_datetime
from nbplane.workspaces import Grantee, Workspace

DisplayName = Annotated[StrictStr, Field(min_length=1, max_length=255)]
Description = Annotated[StrictStr, Field(max_length=4096)]
CatalogKey = Annotated[StrictStr, Field(max_length=255)]
PermissionName = Literal["USER", "PRIVILEGED_USER", "ADMINISTRATOR"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class CreateWorkspaceDetails(_Request):
    display_name: DisplayName = Field(alias="displayName")
    description: Description | None = None
    default_catalog_key: CatalogKey | None = Field(None, alias="defaultCatalogKey")
    network_configuration_details: dict[str, Any] | None = Field(None, alias="networkConfigurationDetails")


class UpdateWorkspaceDetails(_Request):
    display_name: DisplayName | None = Field(None, alias="displayName")
    description: Description | None = None
    default_catalog_key: CatalogKey | None = Field(None, alias="defaultCatalogKey")
    network_configuration_details: dict[str, Any] | None = Field(None, alias="networkConfigurationDetails")


class PermissionAssignees(_Request):
    type: Literal["USER", "ROLE", "GROUP"]
    targets: Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=255)]], Field(max_length=1000)]


class PermissionDetails(_Request):
    assignees: PermissionAssignees
    permissions: Annotated[list[PermissionName], Field(min_length=1)]


class ManageWorkspacePermissionDetails(_Request):
    assign: PermissionDetails | None = Field(None, alias="assignWorkspacePermissionDetails")
    revoke: PermissionDetails | None = Field(None, alias="revokeWorkspacePermissionDetails")


def workspace_summary(ws: Workspace) -> dict[str, Any]:
    """`WorkspaceSummary`: every field the SDK knows, null where nbplane has nothing to say."""
    return {
        "key": ws.key,
        "displayName": ws.display_name,
        "type": ws.type.value,
        "description": ws.description,
        "timeCreated": format_datetime(ws.time_created),
        "timeUpdated": format_datetime(ws.time_updated) if ws.time_updated else None,
        "lifecycleState": ws.lifecycle_state.value,
        "lifecycleDetails": ws.lifecycle_details,
        "systemTags": None,
        "createdBy": ws.created_by,
        "createdByName": ws.created_by_name,
        "updatedBy": ws.updated_by,
        "updatedByName": ws.updated_by_name,
        "defaultCatalogKey": ws.default_catalog_key,
        "isPrivateNetworkEnabled": False,
        "aicUserSchemaName": None,
    }


def workspace(ws: Workspace) -> dict[str, Any]:
    """`Workspace`: the summary plus the network and logging fields."""
    return {**workspace_summary(ws), "networkConfigurationDetails": None, "logGroupId": None}


def permission_summary(grantee: Grantee) -> dict[str, Any]:
    """`WorkspacePermissionSummary`."""
    return {
        "grantee": grantee.user_id,
        "granteeName": grantee.name,
        "granteeType": "USER",
        "granteePermissions": [p.value for p in grantee.permissions],
    }
