"""HTTP routes of the Workspace API: list, get, create, update, delete, and workspace permissions."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from nbplane.api import urls
from nbplane.api import workspace_schemas as ws
from nbplane.api.deps import CurrentPrincipal, ServicesDep, json_body
from nbplane.api.retry import with_retry_token
from nbplane.errors import InvalidInputError
from nbplane.etags import etag_of
from nbplane.scope import Scope
from nbplane.workspaces import (
    LifecycleState,
    ListWorkspacesQuery,
    Permission,
    PermissionChange,
    SortBy,
    SortOrder,
    Workspace,
    WorkspaceDetails,
    WorkspaceType,
)

router = APIRouter()

IfMatch = Annotated[str | None, Header(alias="if-match", max_length=1024)]
Tenant = Annotated[str | None, Header(alias="datalake-tenant-id", max_length=255)]
RetryToken = Annotated[str | None, Header(alias="opc-retry-token")]


def _response(workspace: Workspace, status_code: int = 200) -> JSONResponse:
    return JSONResponse(ws.workspace(workspace), status_code=status_code, headers={"etag": workspace.etag})


def _list_headers(etags: list[str], next_page: str | None) -> dict[str, str]:
    headers = {"etag": etag_of([*etags, next_page])}
    if next_page:
        headers["opc-next-page"] = next_page
    return headers


def _no_private_network(details: ws.CreateWorkspaceDetails | ws.UpdateWorkspaceDetails) -> None:
    if details.network_configuration_details:
        raise InvalidInputError("nbplane has no private networks; networkConfigurationDetails must be empty.")


def _lifecycle_state(value: str | None) -> LifecycleState | None:
    """The filter is case-insensitive (AIDP's documentation says so)."""
    if value is None:
        return None
    try:
        return LifecycleState(value.upper())
    except ValueError:
        allowed = ", ".join(s.value for s in LifecycleState)
        raise InvalidInputError(f"lifecycleState must be one of {allowed}.") from None


@router.get(urls.WORKSPACES)
async def list_workspaces(
    aiDataPlatformId: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    tenant: Tenant = None,
    lifecycle_state: Annotated[str | None, Query(alias="lifecycleState", max_length=32)] = None,
    display_name: Annotated[str | None, Query(alias="displayName", min_length=1, max_length=255)] = None,
    display_name_contains: Annotated[str | None, Query(alias="displayNameContains", max_length=255)] = None,
    type: Annotated[Literal["DEFAULT", "USER"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
    sort_order: Annotated[Literal["ASC", "DESC"] | None, Query(alias="sortOrder")] = None,
    sort_by: Annotated[Literal["timeCreated", "displayName"], Query(alias="sortBy")] = "timeCreated",
    is_private_network_enabled: Annotated[bool | None, Query(alias="isPrivateNetworkEnabled")] = None,
) -> JSONResponse:
    query = ListWorkspacesQuery(
        lifecycle_state=_lifecycle_state(lifecycle_state),
        display_name=display_name,
        display_name_contains=display_name_contains or None,
        type=WorkspaceType(type) if type else None,
        is_private_network_enabled=is_private_network_enabled,
        limit=limit,
        page=page,
        sort_by=SortBy(sort_by),
        sort_order=SortOrder(sort_order) if sort_order else None,
    )
    result = await services.workspaces.list(principal, aiDataPlatformId, query, tenant_id=tenant)
    items = [ws.workspace_summary(w) for w in result.items]
    return JSONResponse({"items": items}, headers=_list_headers([w.etag for w in result.items], result.next_page))


@router.post(urls.WORKSPACES)
async def create_workspace(
    request: Request,
    aiDataPlatformId: str,
    details: Annotated[ws.CreateWorkspaceDetails, Depends(json_body(ws.CreateWorkspaceDetails))],
    principal: CurrentPrincipal,
    services: ServicesDep,
    tenant: Tenant = None,
    retry_token: RetryToken = None,
) -> Response:
    _no_private_network(details)
    wanted = WorkspaceDetails(details.display_name, details.description, details.default_catalog_key)

    async def run() -> tuple[JSONResponse, str]:
        created = await services.workspaces.create(principal, aiDataPlatformId, wanted, tenant_id=tenant)
        return _response(created), created.key

    return await with_retry_token(
        request,
        services,
        principal=principal,
        operation="create_workspace",
        scope=Scope(aiDataPlatformId, ""),  # instance-level: no workspace yet
        token=retry_token,
        run=run,
        resource_exists=lambda key: services.workspaces.exists(aiDataPlatformId, key),
    )


@router.get(urls.WORKSPACE)
async def get_workspace(
    aiDataPlatformId: str, workspaceKey: str, principal: CurrentPrincipal, services: ServicesDep, tenant: Tenant = None
) -> JSONResponse:
    return _response(await services.workspaces.get(principal, aiDataPlatformId, workspaceKey, tenant_id=tenant))


@router.put(urls.WORKSPACE)
async def update_workspace(
    aiDataPlatformId: str,
    workspaceKey: str,
    details: Annotated[ws.UpdateWorkspaceDetails, Depends(json_body(ws.UpdateWorkspaceDetails))],
    principal: CurrentPrincipal,
    services: ServicesDep,
    if_match: IfMatch = None,
    tenant: Tenant = None,
) -> JSONResponse:
    _no_private_network(details)
    wanted = WorkspaceDetails(details.display_name, details.description, details.default_catalog_key)
    updated = await services.workspaces.update(
        principal, aiDataPlatformId, workspaceKey, wanted, if_match=if_match, tenant_id=tenant
    )
    return _response(updated)


@router.delete(urls.WORKSPACE, status_code=204)
async def delete_workspace(
    aiDataPlatformId: str,
    workspaceKey: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    if_match: IfMatch = None,
    tenant: Tenant = None,
) -> Response:
    await services.workspaces.delete(principal, aiDataPlatformId, workspaceKey, if_match=if_match, tenant_id=tenant)
    return Response(status_code=204)


@router.get(f"{urls.WORKSPACE}/permissions")
async def list_workspace_permissions(
    aiDataPlatformId: str,
    workspaceKey: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    tenant: Tenant = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
    sort_order: Annotated[Literal["ASC", "DESC"], Query(alias="sortOrder")] = "ASC",
    sort_by: Annotated[Literal["granteeName"], Query(alias="sortBy")] = "granteeName",
) -> JSONResponse:
    result = await services.workspaces.list_permissions(
        principal,
        aiDataPlatformId,
        workspaceKey,
        limit=limit,
        page=page,
        sort_order=SortOrder(sort_order),
        tenant_id=tenant,
    )
    items = [ws.permission_summary(g) for g in result.items]
    etags = [json.dumps(item, sort_keys=True) for item in items]
    return JSONResponse({"items": items}, headers=_list_headers(etags, result.next_page))


def _users(details: ws.PermissionDetails | None) -> tuple[str, ...]:
    if details is None:
        return ()
    if details.assignees.type != "USER":
        raise InvalidInputError(f"nbplane grants workspaces to users only, not to a {details.assignees.type}.")
    return tuple(details.assignees.targets)


@router.post(f"{urls.WORKSPACE}/actions/managePermission", status_code=204)
async def manage_workspace_permission(
    aiDataPlatformId: str,
    workspaceKey: str,
    details: Annotated[ws.ManageWorkspacePermissionDetails, Depends(json_body(ws.ManageWorkspacePermissionDetails))],
    principal: CurrentPrincipal,
    services: ServicesDep,
    if_match: IfMatch = None,
    tenant: Tenant = None,
) -> Response:
    # Granting is idempotent (a set of permissions), so a retried request changes nothing more; the
    # opc-retry-token the SDK sends needs no record.
    change = PermissionChange(
        assign_users=_users(details.assign),
        assign=tuple(Permission(p) for p in details.assign.permissions) if details.assign else (),
        revoke_users=_users(details.revoke),
        revoke=tuple(Permission(p) for p in details.revoke.permissions) if details.revoke else (),
    )
    await services.workspaces.manage_permissions(
        principal, aiDataPlatformId, workspaceKey, change, if_match=if_match, tenant_id=tenant
    )
    return Response(status_code=204)
