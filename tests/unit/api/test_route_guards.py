"""Every HTTP route under a workspace resolves the caller's access to it: through the `WorkspaceScope`
dependency, or (the Workspace and Cluster APIs) through WorkspaceService and ClusterService, whose checks
are tested by behaviour.
A new router that forgets the dependency fails here."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIRouter

import nbplane.api
from nbplane.api import deps


def _calls(dependant: Dependant) -> set[object]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _routes() -> list[APIRoute]:
    routes = []
    for info in pkgutil.iter_modules(nbplane.api.__path__):
        module = importlib.import_module(f"nbplane.api.{info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            routes += [r for r in router.routes if isinstance(r, APIRoute)]
    return routes


def test_workspace_routes_check_access() -> None:
    under_workspace = [r for r in _routes() if "{workspaceKey}" in r.path]
    assert len(under_workspace) > 20
    unguarded = [
        f"{sorted(r.methods)} {r.path}"
        for r in under_workspace
        if deps.workspace_scope not in _calls(r.dependant)
        and r.endpoint.__module__ not in ("nbplane.api.workspaces", "nbplane.api.clusters")
    ]
    assert unguarded == []
