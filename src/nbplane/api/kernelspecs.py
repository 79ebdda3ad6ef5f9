"""Jupyter's kernelspecs routes under a workspace's notebook base URL: list, one, and resource files."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse

from nbplane.api import urls
from nbplane.api.deps import ServicesDep, WorkspaceScope
from nbplane.errors import NotFoundError
from nbplane.kernels.base import KernelSpecInfo, resource_files
from nbplane.scope import Scope

BASE = urls.NOTEBOOK
router = APIRouter(prefix=BASE)


def _base_path(instance_id: str, workspace_key: str) -> str:
    return BASE.format(aiDataPlatformId=instance_id, workspaceKey=workspace_key)


def spec_model(spec: KernelSpecInfo, base: str) -> dict[str, Any]:
    """Jupyter's `{name, spec, resources}`; resources are URL paths on this server."""
    body = dict(spec.spec or {"display_name": spec.display_name, "language": spec.language})
    body.setdefault("metadata", {})
    body.setdefault("env", {})
    body.setdefault("interrupt_mode", "signal")
    resources: dict[str, str] = {}
    for fname in resource_files(spec):
        # Jupyter's keys: kernel.js and kernel.css as they are, logos without their extension
        if fname in ("kernel.js", "kernel.css") or fname.startswith("logo-"):
            key = fname if not fname.startswith("logo-") else fname.rsplit(".", 1)[0]
            resources[key] = f"{base}/kernelspecs/{spec.name}/{fname}"
    return {"name": spec.name, "spec": body, "resources": resources}


async def _find(services: ServicesDep, scope: Scope, name: str) -> KernelSpecInfo:
    spec = (await services.kernels.kernelspecs(scope)).get(name)
    if spec is None:
        raise NotFoundError(f"Kernel spec {name} not found")
    return spec


@router.get("/api/kernelspecs")
async def list_kernelspecs(
    aiDataPlatformId: str, workspaceKey: str, scope: WorkspaceScope, services: ServicesDep
) -> JSONResponse:
    """The kernelspecs of the workspace's clusters."""
    base = _base_path(aiDataPlatformId, workspaceKey)
    found = await services.kernels.kernelspecs(scope)
    specs = {name: spec_model(spec, base) for name, spec in sorted(found.items())}
    return JSONResponse({"default": services.kernels.default_kernel_name, "kernelspecs": specs})


@router.get("/api/kernelspecs/{kernelName}")
async def get_kernelspec(
    aiDataPlatformId: str, workspaceKey: str, kernelName: str, scope: WorkspaceScope, services: ServicesDep
) -> JSONResponse:
    spec = await _find(services, scope, kernelName)
    return JSONResponse(spec_model(spec, _base_path(aiDataPlatformId, workspaceKey)))


@router.get("/kernelspecs/{kernelName}/{fileName}")
async def get_kernelspec_resource(
    kernelName: str, fileName: str, scope: WorkspaceScope, services: ServicesDep
) -> FileResponse:
    path = resource_files(await _find(services, scope, kernelName)).get(fileName)
    if path is None:
        raise NotFoundError(f"Kernel spec resource {kernelName}/{fileName} not found")
    return FileResponse(path)
