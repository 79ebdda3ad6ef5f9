"""What each HTTP operation really answers, for the OpenAPI document (`openapi.py`): its success statuses and
content, the error statuses it can give besides the ones every operation of its kind gives, and whether it is
public or reads raw bytes. Operations not listed get `default_operation`. Kept next to the routes' behaviour:
the schemathesis run in CI (tests/e2e/test_openapi_fuzz.py) fails when a route answers what is not declared.

Every authenticated operation may answer 401 and 429, every one taking a body 400 and 413 (added by
`openapi.py`); every one under a workspace 404 (the workspace is checked first) and 500.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbplane.api import urls

JSON = ("application/json",)
ANY = ("*/*",)

WS = urls.WORKSPACE
NB = f"{WS}/notebook"
API = f"{NB}/api"


@dataclass(frozen=True)
class Operation:
    success: tuple[int, ...] = (200,)
    errors: tuple[int, ...] = (400, 404, 500)
    success_content: tuple[str, ...] = JSON
    success_headers: tuple[str, ...] = ()
    raw_body: bool = False
    public: bool = False
    summary: str | None = None
    body_example: object = None
    """A request body that succeeds on a fresh server (an OpenAPI example: fuzzers start from it)."""
    parameter_examples: tuple[tuple[str, str], ...] = ()


def default_operation(method: str, path: str) -> Operation:
    if method == "DELETE":
        return Operation(success=(204,), errors=(400, 404, 409, 412, 500))
    return Operation()


_CONTENT_WRITE = (400, 404, 409, 412, 500)

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/health"): Operation(errors=(), public=True, summary="Liveness: 200 once the server has started."),
    # sessions
    ("POST", f"{API}/sessions"): Operation(
        success=(201,),
        errors=(400, 404, 409, 500),
        success_headers=("etag",),
        body_example={"path": "examples/a.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
    ),
    ("GET", f"{API}/sessions/{{sessionId}}"): Operation(success_headers=("etag",)),
    ("PATCH", f"{API}/sessions/{{sessionId}}"): Operation(errors=_CONTENT_WRITE, success_headers=("etag",)),
    ("DELETE", f"{API}/sessions/{{sessionId}}"): Operation(success=(204,), errors=_CONTENT_WRITE),
    # contents (with and without a contentPath)
    **{
        (method, f"{API}/contents{suffix}"): op
        for suffix in ("", "/{contentPath}")
        for method, op in (
            ("GET", Operation(success_headers=("etag",))),
            ("POST", Operation(success=(201,), errors=_CONTENT_WRITE, success_headers=("etag",))),
            (
                "PUT",
                Operation(
                    errors=_CONTENT_WRITE,
                    success_headers=("etag",),
                    body_example={"type": "file", "format": "text", "content": "hello"},
                    parameter_examples=(("contentPath", "example.txt"),),
                ),
            ),
            ("PATCH", Operation(errors=_CONTENT_WRITE, success_headers=("etag", "location"))),
            ("DELETE", Operation(success=(204,), errors=_CONTENT_WRITE)),
        )
    },
    # kernels and kernelspecs
    ("POST", f"{API}/kernels"): Operation(
        success=(201,), success_headers=("location",), body_example={"name": "python3"}
    ),
    ("POST", f"{API}/kernels/{{kernelId}}/interrupt"): Operation(success=(204,)),
    ("DELETE", f"{API}/kernels/{{kernelId}}"): Operation(success=(204,)),
    ("GET", f"{NB}/kernelspecs/{{kernelName}}/{{fileName}}"): Operation(success_content=ANY),
    # workspaces
    ("PUT", WS): Operation(errors=(400, 404, 409, 412, 500), success_headers=("etag",)),
    ("POST", f"{WS}/actions/managePermission"): Operation(success=(204,), errors=(400, 404, 409, 500)),
    # clusters (a create, an action or a retried request can conflict: 409; if-match: 412)
    ("POST", f"{WS}/clusters"): Operation(errors=(400, 404, 409, 500), success_headers=("etag",)),
    ("GET", f"{WS}/clusters/{{clusterKey}}"): Operation(success_headers=("etag",)),
    ("GET", f"{urls.INSTANCE}/defaultCluster"): Operation(success_headers=("etag",)),
    ("PUT", f"{WS}/clusters/{{clusterKey}}"): Operation(errors=(400, 404, 409, 412, 500), success_headers=("etag",)),
    **{
        ("POST", f"{WS}/clusters/{{clusterKey}}/actions/{action}"): Operation(
            errors=(400, 404, 409, 412, 500), success_headers=("etag",)
        )
        for action in ("start", "stop", "restart")
    },
    # workspace objects
    ("POST", f"{WS}/objects"): Operation(
        success=(201,), errors=(400, 404, 409, 413, 500), raw_body=True, success_headers=("etag",)
    ),
    ("GET", f"{WS}/objects/{{objectPath}}"): Operation(success_content=ANY),
    ("HEAD", f"{WS}/objects/{{objectPath}}"): Operation(
        success_content=ANY, summary="The object's metadata as GET gives it, without the bytes."
    ),
    ("PUT", f"{WS}/objects/{{objectPath}}"): Operation(
        errors=(400, 404, 409, 412, 413, 500), raw_body=True, success_headers=("etag",)
    ),
    ("POST", f"{WS}/objects/{{objectPath}}"): Operation(
        success=(), errors=(404,), summary="Not served (AIDP's managePermission on an object): always 404."
    ),
    ("POST", f"{WS}/actions/copyObject"): Operation(errors=(400, 404, 409, 500)),
    ("POST", f"{WS}/actions/moveObject"): Operation(errors=(400, 404, 409, 500)),
    ("POST", f"{WS}/actions/renameObject"): Operation(errors=(400, 404, 409, 500)),
    # pre-authorised transfer URLs: the token in the path is the credential
    ("GET", "/p/{operationKey}/{token}/{name}"): Operation(
        errors=(404,),
        success_content=("application/zip",),
        public=True,
        summary="Download a zipped folder; the URL itself is the credential (public on purpose).",
    ),
    ("PUT", "/p/{operationKey}/{token}/{name}"): Operation(
        errors=(400, 404, 409, 413),
        success_content=(),
        raw_body=True,
        public=True,
        success_headers=("etag",),
        summary="Upload a zip to extract; the URL itself is the credential (public on purpose).",
    ),
}
