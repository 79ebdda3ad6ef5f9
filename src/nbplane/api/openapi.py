"""The API's OpenAPI 3 document: FastAPI's, corrected from the routes themselves and `operations.OPERATIONS`.

FastAPI alone declares no request body for nbplane's operations (bodies are parsed by `deps.json_body`, to give
OCI errors), only 200/422 responses (nbplane answers 400, never 422), and leaves the `{contentPath}` and
`{objectPath}` path parameters undefined (they are cut from the raw path). This module adds:

- every path parameter of a path template, as a required string;
- the request body: the `json_body` model's schema (the SDK's JSON names), or the raw bytes an operation reads;
- the responses each operation really gives: its success status and content, and the OCI error model
  (`{"code", "message"}`) for the error statuses it can answer;
- the security schemes: OCI request signatures and workspace API tokens; `/health` and the pre-authorised
  transfer URLs (`/p/…`, whose token is in the path) are public on purpose.

The document is served at `/openapi.json` behind the API's own authentication (`app.py`); it does not list
itself, nor the kernel websocket (an upgrade, not an HTTP operation; see README).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from nbplane.api.operations import OPERATIONS, Operation, default_operation

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An OCI error.",
    "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
}

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Invalid or missing parameter, or a request that cannot be met (InvalidParameter, MissingParameter, "
    "CannotParseRequest, QuotaExceeded)",
    401: "Not authenticated (NotAuthenticated)",
    404: "Not found, or not visible to the caller (NotAuthorizedOrNotFound, NotFound)",
    405: "Method not allowed (MethodNotAllowed), with an Allow header",
    409: "Conflict (Conflict, NotAuthorizedOrResourceAlreadyExists, InvalidatedRetryToken)",
    412: "The if-match precondition failed (NoEtagMatch)",
    413: "The body is over the configured limit (PayloadTooLarge)",
    429: "Too many requests (TooManyRequests), with Retry-After",
    500: "Internal error (InternalServerError)",
}

_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute of the app, included routers opened (FastAPI keeps them as `_IncludedRouter`)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(api_routes(route.original_router.routes))
    return found


def body_model(route: APIRoute) -> tuple[type[BaseModel], bool] | None:
    """The model a route's `json_body` dependency parses, and whether a body is required."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        model = getattr(dependant.call, "body_model", None)
        if model is not None:
            return model, bool(getattr(dependant.call, "body_required", True))
        stack.extend(dependant.dependencies)
    return None


def _error(status: int) -> dict[str, Any]:
    return {
        "description": _STATUS_TEXT.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _success(status: int, op: Operation) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "Success")}
    if status != 204 and op.success_content:
        response["content"] = {media: {"schema": {}} for media in op.success_content}
    if op.success_headers:
        response["headers"] = {name: {"schema": {"type": "string"}} for name in op.success_headers}
    return response


def _model_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for generated in ("HTTPValidationError", "ValidationError"):
        components.pop(generated, None)
    components["Error"] = ERROR_SCHEMA
    schema["components"]["securitySchemes"] = {
        "ociSignature": {
            "type": "apiKey",
            "in": "header",
            "name": "authorization",
            "description": "OCI request signature (Signature version 1, rsa-sha256) of an API key or session token",
        },
        "workspaceToken": {
            "type": "apiKey",
            "in": "header",
            "name": "authorization",
            "description": "A workspace API token: `token <t>` or `Bearer <t>` (`nbplane admin create-token`)",
        },
    }
    schema["security"] = [{"ociSignature": []}, {"workspaceToken": []}]
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            continue
        path = _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path_format)
        for method in sorted(route.methods):
            operation = schema["paths"].get(path, {}).get(method.lower())
            if operation is None:
                continue
            op = OPERATIONS.get((method, path)) or default_operation(method, path)
            _fix_operation(operation, path, route, op, components)
    return schema


def _fix_operation(
    operation: dict[str, Any], path: str, route: APIRoute, op: Operation, components: dict[str, Any]
) -> None:
    declared = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
    for name in _PATH_PARAM.findall(path):
        if ("path", name) not in declared:
            operation.setdefault("parameters", []).append(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            )
    for param in operation.get("parameters", []):
        if param["in"] == "path":
            param["schema"] = {**param.get("schema", {}), "type": "string", "minLength": 1}
    found = body_model(route)
    if found is not None:
        model, required = found
        operation["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": _model_schema(model, components)}},
        }
    elif op.raw_body:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    if op.body_example is not None and "requestBody" in operation:
        for media in operation["requestBody"]["content"].values():
            media["example"] = op.body_example
    examples = dict(op.parameter_examples)
    for param in operation.get("parameters", []):
        if param["in"] == "path" and param["name"] in examples:
            param["example"] = examples[param["name"]]
    responses: dict[str, Any] = {str(status): _success(status, op) for status in op.success}
    errors = set(op.errors)
    if found is not None or op.raw_body:
        errors |= {400, 413}
    if not op.public:
        errors |= {401, 429}
    if any(p["in"] == "header" and p["name"].lower() == "if-match" for p in operation.get("parameters", [])):
        errors.add(412)
    for status in sorted(errors):
        responses[str(status)] = _error(status)
    operation["responses"] = responses
    if op.public:
        operation["security"] = []
    if op.summary:
        operation["description"] = op.summary
