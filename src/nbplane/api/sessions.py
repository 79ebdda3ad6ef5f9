"""HTTP routes of the five notebook session operations."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from nbplane.api import forwarding, schemas, urls
from nbplane.api.deps import CurrentPrincipal, ServicesDep, WorkspaceScope, json_body
from nbplane.api.fastjson import FastJSONResponse
from nbplane.api.retry import with_retry_token
from nbplane.sessions.models import (
    UNSET,
    CreateSessionRequest,
    ListSessionsQuery,
    PageCursor,
    PatchSessionRequest,
    SessionView,
    SortOrder,
)

PREFIX = f"{urls.NOTEBOOK_API}/sessions"
router = APIRouter(prefix=PREFIX)

IfMatch = Annotated[str | None, Header(alias="if-match")]


def session_out(view: SessionView) -> schemas.SessionOut:
    s = view.session
    kernel = schemas.KernelOut(
        id=s.kernel_id,
        name=s.kernel_name,
        last_activity=schemas.format_datetime(view.kernel.last_activity, micro=True) if view.kernel else None,
        connections=view.kernel.connections if view.kernel else 0,
        execution_state=view.execution_state,
    )
    return schemas.SessionOut(
        id=s.id,
        name=s.name,
        path=s.path,
        type=s.type,
        cluster_id=s.cluster_id,
        kernel=kernel,
        agent_flow_key=s.agent_flow_key,
        lifecycle_state=s.lifecycle_state.value,
        lifecycle_details=view.lifecycle_details,
        time_created=schemas.format_datetime(s.time_created),
    )


def session_body(view: SessionView) -> dict[str, object]:
    """`session_out(view).model_dump(by_alias=True)` without building models (the list's hot path)."""
    s = view.session
    activity = view.kernel
    return {
        "id": s.id,
        "name": s.name,
        "path": s.path,
        "type": s.type,
        "cluster_id": s.cluster_id,
        "kernel": {
            "id": s.kernel_id,
            "name": s.kernel_name,
            "last_activity": schemas.format_datetime(activity.last_activity, micro=True) if activity else None,
            "connections": activity.connections if activity else 0,
            "execution_state": view.execution_state,
        },
        "agentFlowKey": s.agent_flow_key,
        "lifecycleState": s.lifecycle_state.value,
        "lifecycleDetails": view.lifecycle_details,
        "timeCreated": schemas.format_datetime(s.time_created),
    }


def _session_response(view: SessionView, status_code: int = 200) -> JSONResponse:
    return FastJSONResponse(session_body(view), status_code=status_code, headers={"etag": view.session.etag})


@router.get("")
async def list_sessions(
    scope: WorkspaceScope,
    services: ServicesDep,
    cluster_id: Annotated[str | None, Query(max_length=255)] = None,
    path: Annotated[str | None, Query(max_length=4096)] = None,
    agent_flow_key: Annotated[str | None, Query(alias="agentFlowKey", max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
    sort_order: Annotated[Literal["ASC", "DESC"], Query(alias="sortOrder")] = "DESC",
    sort_by: Annotated[Literal["timeCreated"], Query(alias="sortBy")] = "timeCreated",
) -> JSONResponse:
    query = ListSessionsQuery(
        path=path,
        cluster_id=cluster_id,
        agent_flow_key=agent_flow_key,
        limit=limit,
        page=PageCursor.decode(page) if page is not None else None,
        sort_order=SortOrder(sort_order),
    )
    result = await services.sessions.list(scope, query)
    items = [session_body(v) for v in result.items]
    # one hash over every row's etag inputs (not a hash of per-row hashes): it changes exactly when one does
    digest = hashlib.sha256(orjson.dumps([v.session.stable for v in result.items] + [result.next_page])).hexdigest()
    headers = {"etag": digest[:32]}
    if result.next_page:
        headers["opc-next-page"] = result.next_page
    return FastJSONResponse({"items": items}, headers=headers)


@router.post("")
async def create_session(
    request: Request,
    details: Annotated[schemas.CreateSessionDetails, Depends(json_body(schemas.CreateSessionDetails))],
    scope: WorkspaceScope,
    principal: CurrentPrincipal,
    services: ServicesDep,
    retry_token: Annotated[str | None, Header(alias="opc-retry-token")] = None,
) -> Response:
    kernel = details.kernel or schemas.KernelIn()
    create = CreateSessionRequest(
        path=details.path,
        name=details.name,
        type=details.type,
        cluster_id=details.cluster_id,
        agent_flow_key=details.agent_flow_key,
        kernel_id=kernel.id,
        kernel_name=kernel.name,
    )

    async def run() -> tuple[JSONResponse, str]:
        view = await services.sessions.create(scope, create, created_by=principal.key)
        return _session_response(view, 201), view.session.id

    return await with_retry_token(
        request,
        services,
        principal=principal,
        operation="create_session",
        scope=scope,
        token=retry_token,
        run=run,
        resource_exists=lambda sid: services.sessions.exists(scope, sid),
    )


@router.get("/{sessionId}")
async def get_session(sessionId: str, scope: WorkspaceScope, services: ServicesDep) -> JSONResponse:
    return _session_response(await services.sessions.get(scope, sessionId))


@router.patch("/{sessionId}")
async def patch_session(
    request: Request,
    sessionId: str,
    details: Annotated[schemas.PatchSessionDetails, Depends(json_body(schemas.PatchSessionDetails))],
    scope: WorkspaceScope,
    principal: CurrentPrincipal,
    services: ServicesDep,
    if_match: IfMatch = None,
) -> Response:
    sent = details.model_fields_set
    kernel = details.kernel
    if details.must_refresh_context and not forwarding.was_forwarded(request.headers):
        # A refresh restarts the kernel: the node that runs it serves the whole update.
        current = await services.sessions.get(scope, sessionId)
        node = await services.kernels.owner(scope, current.session.kernel_id) if current.session.kernel_id else None
        if node is not None:
            return await forwarding.forward_http(request, services, node, principal)
    patch = PatchSessionRequest(
        name=details.name if "name" in sent and details.name is not None else UNSET,
        path=details.path if "path" in sent and details.path is not None else UNSET,
        type=details.type if "type" in sent else UNSET,
        cluster_id=details.cluster_id if "cluster_id" in sent else UNSET,
        kernel_id=kernel.id if kernel else None,
        kernel_name=kernel.name if kernel else None,
        must_refresh_context=details.must_refresh_context,
    )
    view = await services.sessions.patch(scope, sessionId, patch, if_match=if_match, actor=principal.key)
    return _session_response(view)


@router.delete("/{sessionId}", status_code=204)
async def delete_session(
    sessionId: str,
    scope: WorkspaceScope,
    services: ServicesDep,
    if_match: IfMatch = None,
) -> Response:
    await services.sessions.delete(scope, sessionId, if_match=if_match)
    return Response(status_code=204)
