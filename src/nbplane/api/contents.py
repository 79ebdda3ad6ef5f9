"""HTTP routes of the six contents operations: get, create, update, modify (rename), delete and export.

Everything after `/contents/` (or `/actions/export/contents/`) is one contentPath, taken from the raw request
path and percent-decoded exactly once, so the SDK's `a/b%20c.ipynb` and `//a.ipynb` and the CLI's
`a%2Fb%20c.ipynb` name the same file. Path safety and every content rule live in `nbplane.contents`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote, unquote_to_bytes

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException

from nbplane.api import content_schemas as cs
from nbplane.api import urls
from nbplane.api.deps import CurrentPrincipal, ServicesDep, WorkspaceScope, json_body
from nbplane.api.retry import with_retry_token
from nbplane.contents.models import FINAL_CHUNK, ChunkUpload, ContentModel
from nbplane.errors import InvalidInputError, MissingParameterError


class _AnyPathConvertor(Convertor[str]):
    """Like `path` but also matching control characters, so `a%0Ab` reaches the handler and gets its 400."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("contentpath", _AnyPathConvertor())

PREFIX = urls.NOTEBOOK_API
router = APIRouter(prefix=PREFIX)

_BASE_SEGMENTS = urls.NOTEBOOK_API_SEGMENTS
_CONTENTS = (b"contents",)
_EXPORT = (b"actions", b"export", b"contents")

IfMatch = Annotated[str | None, Header(alias="if-match", max_length=1024)]
ShouldUpdateRecent = Annotated[str | None, Header(alias="should-update-recent", max_length=16)]


def _raw_content_path(literals: tuple[bytes, ...]) -> Callable[[Request], Awaitable[str]]:
    """A dependency returning the decoded contentPath of a route whose path ends in `literals` + path."""
    fixed = (*_BASE_SEGMENTS, *literals)

    async def resolve(request: Request) -> str:
        raw: bytes | None = request.scope.get("raw_path")
        if raw is None:  # a server that gives no raw path has decoded it already; do not decode twice
            parts = request.scope["path"].encode("utf-8").split(b"/", len(fixed))
        else:
            # Some ASGI clients include the query; a literal '?' cannot be part of the path.
            parts = raw.split(b"?", 1)[0].split(b"/", len(fixed))
        head, rest = parts[: len(fixed)], parts[len(fixed) :]
        if len(head) != len(fixed) or any(
            want is not None and got != want for got, want in zip(head, fixed, strict=True)
        ):
            # e.g. `contents%2Fa`: the decoded path matched the route, the raw one is something else
            raise StarletteHTTPException(404)
        text = rest[0] if rest else b""
        if raw is None:
            return text.decode("utf-8")
        try:
            return unquote_to_bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError("contentPath is not valid percent-encoded UTF-8") from exc

    return resolve


ContentPath = Annotated[str, Depends(_raw_content_path(_CONTENTS))]
ExportPath = Annotated[str, Depends(_raw_content_path(_EXPORT))]


def _zero_one(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    if value.strip() in ("0", "1"):
        return int(value)
    raise InvalidInputError(f"{name} must be 0 or 1")


def _check_bool_header(value: str | None, name: str) -> bool | None:
    """Parse a boolean header the SDK sends as `True`/`False`; nbplane keeps no recent list, so it is then
    ignored, but a malformed value is still the client's mistake."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidInputError(f"{name} must be True or False")


def _chunk(details: cs.CreateContentDetails | cs.UpdateContentDetails) -> ChunkUpload | None:
    if details.upload_id is None:
        stray = [
            f
            for f in ("upload_chunk_index", "total_chunks", "total_size_bytes", "sha256")
            if getattr(details, f) is not None
        ]
        if stray:
            raise InvalidInputError(f"{', '.join(stray)} needs upload_id")
        return None
    if details.upload_chunk_index is None:
        raise MissingParameterError("upload_chunk_index is required with upload_id")
    return ChunkUpload(
        upload_id=details.upload_id,
        chunk_index=details.upload_chunk_index,
        total_chunks=details.total_chunks,
        total_size_bytes=details.total_size_bytes,
        sha256=details.sha256,
    )


def _format(value: str | None) -> str | None:
    """`NULL` is one of UpdateContentDetails.format's published values; it means no format."""
    return None if value == "NULL" else value


def _content_response(model: ContentModel, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    all_headers = dict(headers or {})
    if model.etag:
        all_headers["etag"] = model.etag
    return JSONResponse(cs.content_out(model), status_code=status_code, headers=all_headers)


def _created_resource(model: ContentModel) -> str | None:
    """What a create made, for the retry token: nothing for a chunk acknowledgement."""
    if model.upload_chunk_index is not None and model.upload_chunk_index != FINAL_CHUNK:
        return None
    return model.path


def _location(request: Request, instance_id: str, workspace_key: str, path: str) -> str:
    base = PREFIX.format(aiDataPlatformId=quote(instance_id, safe=""), workspaceKey=quote(workspace_key, safe=""))
    return f"{request.url.scheme}://{request.url.netloc}{base}/contents/{quote(path, safe='/')}"


@router.get("/contents")
@router.get("/contents/{contentPath:contentpath}")
async def get_content(
    path: ContentPath,
    scope: WorkspaceScope,
    services: ServicesDep,
    type: Annotated[str | None, Query(max_length=64)] = None,
    format: Annotated[str | None, Query(max_length=64)] = None,
    content: Annotated[str | None, Query(max_length=8)] = None,
    hash: Annotated[str | None, Query(max_length=8)] = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> Response:
    _check_bool_header(should_update_recent, "should-update-recent")
    model = await services.contents.get(
        scope,
        path,
        type=type,
        format=format,
        content=_zero_one(content, "content", 1),
        hash=_zero_one(hash, "hash", 0),
    )
    return _content_response(model)


@router.post("/contents")
@router.post("/contents/{contentPath:contentpath}")
async def create_content(
    request: Request,
    path: ContentPath,
    details: Annotated[cs.CreateContentDetails, Depends(json_body(cs.CreateContentDetails))],
    scope: WorkspaceScope,
    principal: CurrentPrincipal,
    services: ServicesDep,
    retry_token: Annotated[str | None, Header(alias="opc-retry-token")] = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> Response:
    _check_bool_header(should_update_recent, "should-update-recent")
    upload = _chunk(details)

    async def run() -> tuple[Response, str | None]:
        model = await services.contents.create(
            scope,
            path,
            type=details.type,
            ext=details.ext,
            copy_from=details.copy_from,
            upload=upload,
            format=details.format,
            content=details.content,
        )
        return _content_response(model, 201), _created_resource(model)

    return await with_retry_token(
        request,
        services,
        principal=principal,
        operation="create_content",
        scope=scope,
        token=retry_token,
        run=run,
        resource_exists=lambda created: services.contents.exists(scope, created),
    )


@router.put("/contents")
@router.put("/contents/{contentPath:contentpath}")
async def update_content(
    path: ContentPath,
    details: Annotated[cs.UpdateContentDetails, Depends(json_body(cs.UpdateContentDetails))],
    scope: WorkspaceScope,
    services: ServicesDep,
    if_match: IfMatch = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> Response:
    _check_bool_header(should_update_recent, "should-update-recent")
    model = await services.contents.update(
        scope,
        path,
        name=details.name,
        type=details.type,
        format=_format(details.format),
        content=details.content,
        upload=_chunk(details),
        if_match=if_match,
    )
    return _content_response(model)


@router.patch("/contents")
@router.patch("/contents/{contentPath:contentpath}")
async def modify_content(
    request: Request,
    path: ContentPath,
    details: Annotated[cs.ModifyContentDetails, Depends(json_body(cs.ModifyContentDetails))],
    scope: WorkspaceScope,
    services: ServicesDep,
    if_match: IfMatch = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> Response:
    _check_bool_header(should_update_recent, "should-update-recent")
    if details.path is None:
        raise MissingParameterError("path (the new path) is required")
    model = await services.contents.rename(scope, path, details.path, if_match=if_match)
    location = _location(request, scope.instance_id, scope.workspace_key, model.path)
    return _content_response(model, headers={"Location": location})


@router.delete("/contents", status_code=204)
@router.delete("/contents/{contentPath:contentpath}", status_code=204)
async def delete_content(
    path: ContentPath,
    scope: WorkspaceScope,
    services: ServicesDep,
    if_match: IfMatch = None,
) -> Response:
    await services.contents.delete(scope, path, if_match=if_match)
    return Response(status_code=204)


@router.post("/actions/export/contents")
@router.post("/actions/export/contents/{contentPath:contentpath}")
async def export_contents(
    path: ExportPath,
    details: Annotated[cs.ExportContentsDetails, Depends(json_body(cs.ExportContentsDetails))],
    scope: WorkspaceScope,
    services: ServicesDep,
) -> Response:
    exported = await services.contents.export(scope, path, details.format)
    body: dict[str, Any] = cs.exported_out(exported)
    headers = {"etag": exported.etag} if exported.etag else {}
    return JSONResponse(body, headers=headers)
