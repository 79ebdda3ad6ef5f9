"""HTTP routes of the Cluster API: list, get, get default, create, update, delete, start, stop, restart.
The cluster operations nbplane does not serve (logs, maven packages, metrics, compute configurations,
replica ids, clone, libraries, permissions) are answered by `nbplane.api.unserved`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from nbplane.api import cluster_schemas as cs
from nbplane.api import urls
from nbplane.api.deps import CurrentPrincipal, ServicesDep, json_body
from nbplane.api.retry import with_retry_token
from nbplane.api.workspaces import IfMatch, RetryToken, Tenant, _list_headers
from nbplane.clusters import Cluster, ClusterDetails, ClusterState, ListClustersQuery
from nbplane.errors import InvalidInputError
from nbplane.scope import Scope
from nbplane.workspaces import SortBy, SortOrder

router = APIRouter()

CLUSTERS = f"{urls.WORKSPACE}/clusters"
CLUSTER = f"{CLUSTERS}/{{clusterKey}}"


def _response(cluster: Cluster, body: dict[str, object] | None = None) -> JSONResponse:
    return JSONResponse(body or cs.cluster(cluster), headers={"etag": cluster.etag})


def _state(value: str | None) -> ClusterState | None:
    if value is None:
        return None
    try:
        return ClusterState(value.upper())
    except ValueError:
        raise InvalidInputError(f"state must be one of {', '.join(s.value for s in ClusterState)}.") from None


@router.get(CLUSTERS)
async def list_clusters(
    aiDataPlatformId: str,
    workspaceKey: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    tenant: Tenant = None,
    state: Annotated[str | None, Query(max_length=64)] = None,
    display_name: Annotated[str | None, Query(alias="displayName", min_length=1, max_length=255)] = None,
    display_name_contains: Annotated[str | None, Query(alias="displayNameContains", max_length=255)] = None,
    type: Annotated[Literal["USER", "AI_COMPUTE"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
    sort_order: Annotated[Literal["ASC", "DESC"] | None, Query(alias="sortOrder")] = None,
    sort_by: Annotated[Literal["timeCreated", "displayName"], Query(alias="sortBy")] = "timeCreated",
) -> JSONResponse:
    query = ListClustersQuery(
        state=_state(state),
        display_name=display_name,
        display_name_contains=display_name_contains or None,
        limit=limit,
        page=page,
        sort_by=SortBy(sort_by),
        sort_order=SortOrder(sort_order) if sort_order else None,
    )
    if type == "AI_COMPUTE":  # nbplane's clusters are all of type USER
        return JSONResponse({"items": []}, headers=_list_headers([], None))
    result = await services.clusters.list(principal, aiDataPlatformId, workspaceKey, query, tenant_id=tenant)
    items = [cs.cluster_summary(c) for c in result.items]
    return JSONResponse({"items": items}, headers=_list_headers([c.etag for c in result.items], result.next_page))


@router.get(f"{urls.INSTANCE}/defaultCluster")
async def get_default_cluster(
    aiDataPlatformId: str, principal: CurrentPrincipal, services: ServicesDep, tenant: Tenant = None
) -> JSONResponse:
    found = await services.clusters.get_default(principal, aiDataPlatformId, tenant_id=tenant)
    return _response(found, cs.default_cluster(found))


@router.post(CLUSTERS)
async def create_cluster(
    request: Request,
    aiDataPlatformId: str,
    workspaceKey: str,
    details: Annotated[cs.CreateClusterDetails, Depends(json_body(cs.CreateClusterDetails))],
    principal: CurrentPrincipal,
    services: ServicesDep,
    tenant: Tenant = None,
    retry_token: RetryToken = None,
) -> Response:
    if details.type != "USER":
        raise InvalidInputError(f"nbplane makes clusters of type USER only, not {details.type}.")
    wanted = ClusterDetails(details.display_name, details.description)

    async def run() -> tuple[JSONResponse, str]:
        created = await services.clusters.create(principal, aiDataPlatformId, workspaceKey, wanted, tenant_id=tenant)
        return _response(created), created.key

    return await with_retry_token(
        request,
        services,
        principal=principal,
        operation="create_cluster",
        scope=Scope(aiDataPlatformId, workspaceKey),
        token=retry_token,
        run=run,
        resource_exists=lambda key: services.clusters.exists(aiDataPlatformId, workspaceKey, key),
    )


@router.get(CLUSTER)
async def get_cluster(
    aiDataPlatformId: str,
    workspaceKey: str,
    clusterKey: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    tenant: Tenant = None,
) -> JSONResponse:
    return _response(
        await services.clusters.get(principal, aiDataPlatformId, workspaceKey, clusterKey, tenant_id=tenant)
    )


@router.put(CLUSTER)
async def update_cluster(
    aiDataPlatformId: str,
    workspaceKey: str,
    clusterKey: str,
    details: Annotated[cs.UpdateClusterDetails, Depends(json_body(cs.UpdateClusterDetails))],
    principal: CurrentPrincipal,
    services: ServicesDep,
    if_match: IfMatch = None,
    tenant: Tenant = None,
) -> JSONResponse:
    wanted = ClusterDetails(details.display_name, details.description)
    updated = await services.clusters.update(
        principal, aiDataPlatformId, workspaceKey, clusterKey, wanted, if_match=if_match, tenant_id=tenant
    )
    return _response(updated)


@router.delete(CLUSTER, status_code=204)
async def delete_cluster(
    aiDataPlatformId: str,
    workspaceKey: str,
    clusterKey: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    if_match: IfMatch = None,
    tenant: Tenant = None,
) -> Response:
    await services.clusters.delete(
        principal, aiDataPlatformId, workspaceKey, clusterKey, if_match=if_match, tenant_id=tenant
    )
    return Response(status_code=204)


async def _action(
    action: str,
    request: Request,
    aiDataPlatformId: str,
    workspaceKey: str,
    clusterKey: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    if_match: str | None,
    tenant: str | None,
    retry_token: str | None,
) -> Response:
    scope = Scope(aiDataPlatformId, workspaceKey)
    run_action = getattr(services.clusters, action)

    async def run() -> tuple[JSONResponse, str]:
        done = await run_action(principal, scope, clusterKey, if_match=if_match, tenant_id=tenant)
        return _response(done), done.key

    return await with_retry_token(
        request,
        services,
        principal=principal,
        operation=f"{action}_cluster",
        scope=scope,
        token=retry_token,
        run=run,
        resource_exists=lambda key: services.clusters.exists(aiDataPlatformId, workspaceKey, key),
    )


ActionBody = Annotated[cs.ClusterActionDetails, Depends(json_body(cs.ClusterActionDetails, required=False))]


def _action_route(action: str) -> Callable[..., Awaitable[Response]]:
    """The route of one cluster action (start, stop, restart): one body for the three."""

    async def route(
        request: Request,
        aiDataPlatformId: str,
        workspaceKey: str,
        clusterKey: str,
        _: ActionBody,
        principal: CurrentPrincipal,
        services: ServicesDep,
        if_match: IfMatch = None,
        tenant: Tenant = None,
        retry_token: RetryToken = None,
    ) -> Response:
        return await _action(
            action,
            request,
            aiDataPlatformId,
            workspaceKey,
            clusterKey,
            principal,
            services,
            if_match,
            tenant,
            retry_token,
        )

    route.__name__ = f"{action}_cluster"
    return route


for _name in ("start", "stop", "restart"):
    router.add_api_route(f"{CLUSTER}/actions/{_name}", _action_route(_name), methods=["POST"])
