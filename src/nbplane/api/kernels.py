"""Jupyter's kernels routes under a workspace's notebook base URL: list, start, get, delete, interrupt, restart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from nbplane.api import forwarding, schemas, urls
from nbplane.api.deps import CurrentPrincipal, ServicesDep, WorkspaceScope, json_body
from nbplane.auth.principal import Principal
from nbplane.kernels.service import KernelView
from nbplane.scope import Scope
from nbplane.services import Services

BASE = f"{urls.NOTEBOOK_API}/kernels"
router = APIRouter(prefix=BASE)


def kernel_model(view: KernelView) -> dict[str, object]:
    a = view.activity
    return schemas.JupyterKernelOut(
        id=view.id,
        name=view.name,
        last_activity=schemas.format_datetime(a.last_activity, micro=True),
        execution_state=str(a.execution_state),
        connections=a.connections,
        reason=a.reason,
    ).model_dump(exclude_none=True)


async def _forwarded(
    request: Request, services: Services, scope: Scope, kernel_id: str, principal: Principal
) -> Response | None:
    """The owner's answer when another live node runs the kernel (None: this node serves the request)."""
    if forwarding.was_forwarded(request.headers):
        return None
    node = await services.kernels.owner(scope, kernel_id)
    return None if node is None else await forwarding.forward_http(request, services, node, principal)


@router.get("")
async def list_kernels(scope: WorkspaceScope, services: ServicesDep) -> JSONResponse:
    return JSONResponse([kernel_model(v) for v in await services.kernels.list(scope)])


@router.post("")
async def start_kernel(
    aiDataPlatformId: str,
    workspaceKey: str,
    details: Annotated[schemas.StartKernelDetails, Depends(json_body(schemas.StartKernelDetails, required=False))],
    scope: WorkspaceScope,
    principal: CurrentPrincipal,
    services: ServicesDep,
) -> JSONResponse:
    view = await services.kernels.start(
        scope, details.name, path=details.path, created_by=principal.key, requested_env=details.env
    )
    location = BASE.format(aiDataPlatformId=aiDataPlatformId, workspaceKey=workspaceKey) + f"/{view.id}"
    return JSONResponse(kernel_model(view), status_code=201, headers={"Location": location})


@router.get("/{kernelId}")
async def get_kernel(
    request: Request, kernelId: str, scope: WorkspaceScope, principal: CurrentPrincipal, services: ServicesDep
) -> Response:
    if (forwarded := await _forwarded(request, services, scope, kernelId, principal)) is not None:
        return forwarded
    return JSONResponse(kernel_model(await services.kernels.get(scope, kernelId)))


@router.delete("/{kernelId}", status_code=204)
async def delete_kernel(
    request: Request, kernelId: str, scope: WorkspaceScope, principal: CurrentPrincipal, services: ServicesDep
) -> Response:
    if (forwarded := await _forwarded(request, services, scope, kernelId, principal)) is not None:
        return forwarded
    await services.kernels.shutdown(scope, kernelId)
    return Response(status_code=204)


@router.post("/{kernelId}/interrupt", status_code=204)
async def interrupt_kernel(
    request: Request, kernelId: str, scope: WorkspaceScope, principal: CurrentPrincipal, services: ServicesDep
) -> Response:
    if (forwarded := await _forwarded(request, services, scope, kernelId, principal)) is not None:
        return forwarded
    await services.kernels.interrupt(scope, kernelId)
    return Response(status_code=204)


@router.post("/{kernelId}/restart")
async def restart_kernel(
    request: Request, kernelId: str, scope: WorkspaceScope, principal: CurrentPrincipal, services: ServicesDep
) -> Response:
    if (forwarded := await _forwarded(request, services, scope, kernelId, principal)) is not None:
        return forwarded
    return JSONResponse(kernel_model(await services.kernels.restart(scope, kernelId)))
