"""The OpenAPI document in process: behind authentication, every operation with its path parameters, request
bodies in the SDK's names and the OCI error model; 405s name every method of the path in `Allow`."""

from __future__ import annotations

from nbplane.api import openapi, operations
from tests.unit.conftest import InProcess


async def test_every_operation_is_described_truthfully(inproc: InProcess) -> None:
    response = await inproc.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    found = [(m, p, op) for p, ops in document["paths"].items() for m, op in ops.items()]
    assert len(found) == len(
        [(m, r.path) for r in openapi.api_routes(inproc.app.routes) if r.include_in_schema for m in r.methods]
    )
    for method, path, op in found:
        where = f"{method.upper()} {path}"
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(openapi._PATH_PARAM.findall(path)), where  # contentPath, objectPath included
        assert "422" not in op["responses"], where  # nbplane answers 400, never 422
        for status, response_ in op["responses"].items():
            if int(status) >= 400:
                schema = response_["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, where
        public = op.get("security") == []
        assert public == (path == "/health" or path.startswith("/p/")), where
        if not public:
            assert {"401", "429"} <= set(op["responses"]), where
    sessions = document["paths"][f"{operations.API}/sessions"]["post"]
    assert "201" in sessions["responses"]
    body = document["components"]["schemas"]["CreateSessionDetails"]["properties"]
    assert {"path", "kernel", "cluster_id", "agentFlowKey"} <= set(body)  # the SDK's wire names, mixed case
    assert document["components"]["schemas"]["Error"]["required"] == ["code", "message"]


async def test_405_names_every_method_of_the_path(inproc: InProcess) -> None:
    object_url = f"{inproc.api_url.removesuffix('/notebook/api')}/objects/a.txt"
    refused = await inproc.client.request("PATCH", object_url)
    assert refused.status_code == 405 and refused.json()["code"] == "MethodNotAllowed"
    assert set(refused.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT", "DELETE", "POST"}
    sessions = await inproc.client.put(inproc.sessions_url, json={})
    assert sessions.status_code == 405
    assert set(sessions.headers["allow"].split(", ")) == {"GET", "POST"}
