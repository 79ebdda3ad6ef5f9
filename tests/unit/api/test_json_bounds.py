"""Deeply nested JSON is a 400 `InvalidParameter` on every operation that takes a body, never a 500 or a
RecursionError in the log; notebook content handed to nbformat is bounded the same way."""

from __future__ import annotations

import json
import logging
import re

import nbformat
import pytest
from fastapi.routing import APIRoute

from nbplane import jsonbounds
from tests.unit.conftest import InProcess

DEEP_ARRAYS = b"[" * 960 + b"]" * 960
DEEP_JSON_TOO = json.dumps(json.loads("[" * 70 + "]" * 70)).encode()  # parses, but over the 64-level limit


def _parses_json_body(route: APIRoute) -> bool:
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if dependant.call is not None and "json_body" in getattr(dependant.call, "__qualname__", ""):
            return True
        stack.extend(dependant.dependencies)
    return False


def _api_routes(routes: list[object]) -> list[APIRoute]:
    """The app's APIRoutes, included routers opened (FastAPI keeps them as `_IncludedRouter`)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(_api_routes(route.original_router.routes))
    return found


def _body_routes(inproc: InProcess) -> list[tuple[str, str]]:
    found = []
    for route in _api_routes(inproc.app.routes):
        if _parses_json_body(route):
            path = route.path.replace("{aiDataPlatformId}", inproc.instance_id).replace(
                "{workspaceKey}", inproc.workspace_key
            )
            path = re.sub(r"\{[^}:]+(:path)?\}", "x", path)
            found.extend((method, path) for method in sorted(route.methods))
    return found


def test_depth_is_counted_without_recursion() -> None:
    assert jsonbounds.depth(1) == 0
    assert jsonbounds.depth([]) == 1
    assert jsonbounds.depth({"a": [{"b": 1}]}) == 3
    nested: list[object] = []
    for _ in range(5000):
        nested = [nested]
    assert jsonbounds.depth(nested) == 5001  # deeper than the recursion limit, counted all the same
    with pytest.raises(jsonbounds.JsonTooDeepError):
        jsonbounds.loads(DEEP_ARRAYS)
    with pytest.raises(jsonbounds.JsonTooDeepError):
        jsonbounds.loads("[" * 200_000 + "]" * 200_000)
    assert jsonbounds.loads("[" * 64 + "]" * 64) is not None


@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_JSON_TOO], ids=["960-arrays", "70-levels"])
async def test_deep_json_is_400_on_every_body_operation(
    inproc: InProcess, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    routes = _body_routes(inproc)
    assert len(routes) >= 14, routes  # sessions, kernels, contents, workspaces, objects, zips
    caplog.set_level(logging.DEBUG)
    for method, path in routes:
        response = await inproc.client.request(method, path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, (method, path, response.text)
        assert response.json()["code"] == "InvalidParameter", (method, path, response.text)
        assert "64 levels" in response.json()["message"]
    assert "RecursionError" not in caplog.text
    assert "Traceback" not in caplog.text


def _deep_notebook(levels: int) -> dict[str, object]:
    nb = json.loads(nbformat.writes(nbformat.v4.new_notebook()))  # plain dicts: NotebookNode would recurse
    deep: dict[str, object] = {}
    for _ in range(levels):
        deep = {"a": deep}
    nb["metadata"]["deep"] = deep
    return nb


@pytest.mark.parametrize("levels", [900, 70])
async def test_notebook_put_with_deep_metadata_is_400_and_writes_nothing(
    inproc: InProcess, levels: int, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{inproc.api_url}/contents/deep.ipynb"
    caplog.set_level(logging.DEBUG)
    # As content inside the body (the body's depth bound answers) and as a JSON string (nbformat's bound does).
    for content in (_deep_notebook(levels), json.dumps(_deep_notebook(levels))):
        body = json.dumps({"type": "notebook", "format": "json", "content": content})
        response = await inproc.client.put(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "InvalidParameter"
        assert "levels" in response.json()["message"]
    assert not (inproc.workspace_root / "deep.ipynb").exists()
    assert "RecursionError" not in caplog.text


async def test_a_notebook_nested_within_the_limit_is_saved(inproc: InProcess) -> None:
    body = {"type": "notebook", "format": "json", "content": _deep_notebook(40)}
    response = await inproc.client.put(f"{inproc.api_url}/contents/ok.ipynb", json=body)
    assert response.status_code in (200, 201), response.text
    assert (inproc.workspace_root / "ok.ipynb").exists()
