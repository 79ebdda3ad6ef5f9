"""HTTP routes of the Workspace Object API (`WorkspaceObjectClient`).

`objectPath` is everything after `/objects/` in the raw request path, percent-decoded exactly once (the
SDK keeps `/` literal, so `/Workspace/a.ipynb` arrives as `objects//Workspace/a.ipynb`). Objects are
sent and received as raw bytes; every rule lives in `nbplane.workspace_objects`. The zip actions are in
`api.object_zips`, included here.
"""

from __future__ import annotations

import hashlib
import json
from email.utils import format_datetime as http_date
from typing import Annotated, Literal
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException

from nbplane.api import object_schemas as schemas
from nbplane.api import object_zips, urls
from nbplane.api.deps import CurrentPrincipal, ServicesDep, WorkspaceScope, json_body
from nbplane.api.retry import with_retry_token
from nbplane.errors import InvalidInputError, MissingParameterError
from nbplane.workspace_objects import (
    CopyRequest,
    ListObjectsQuery,
    SortBy,
    SortOrder,
    WorkspaceObject,
    decode_base64,
    parse_type_filter,
)


class _ObjectPathConvertor(Convertor[str]):
    """Matches anything, control characters included, so a bad path reaches the handler and gets its 400."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("objectpath", _ObjectPathConvertor())

PREFIX = urls.WORKSPACE
router = APIRouter()

_OBJECT_SEGMENTS = (*urls.NOTEBOOK_API_SEGMENTS[:6], b"objects")

IfMatch = Annotated[str | None, Header(alias="if-match", max_length=1024)]
ShouldUpdateRecent = Annotated[str | None, Header(alias="should-update-recent", max_length=16)]
RetryToken = Annotated[str | None, Header(alias="opc-retry-token")]
Description = Annotated[str | None, Query(alias="objectDescription", max_length=4096)]


async def _object_path(request: Request) -> str:
    """The decoded objectPath, cut from the raw path (decoded once), never from the decoded one."""
    raw: bytes | None = request.scope.get("raw_path")
    text = request.scope["path"].encode("utf-8") if raw is None else raw.split(b"?", 1)[0]
    parts = text.split(b"/", len(_OBJECT_SEGMENTS))
    head = parts[: len(_OBJECT_SEGMENTS)]
    if len(parts) <= len(_OBJECT_SEGMENTS) or any(
        want is not None and got != want for got, want in zip(head, _OBJECT_SEGMENTS, strict=True)
    ):
        raise StarletteHTTPException(404)  # e.g. `objects%2Fa`: the decoded path matched, the raw one did not
    rest = parts[len(_OBJECT_SEGMENTS)]
    if raw is None:
        return rest.decode("utf-8")
    try:
        return unquote_to_bytes(rest).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError("objectPath is not valid percent-encoded UTF-8") from exc


ObjectPath = Annotated[str, Depends(_object_path)]


def _bool(value: str | None, name: str, default: bool = False) -> bool:
    """A boolean header or query value; the SDK sends `True`/`False`, the CLI `true`/`false`."""
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidInputError(f"{name} must be true or false")


def _no_description(value: str | None) -> None:
    if value is not None:
        raise InvalidInputError("nbplane does not store object descriptions; send the request without one")


def _metadata_headers(obj: WorkspaceObject, *, include_metadata: bool) -> dict[str, str]:
    headers = {
        "etag": obj.etag,
        "last-modified": http_date(obj.updated, usegmt=True),
        "object-type": obj.type.value,
    }
    if include_metadata:
        headers["file-metadata"] = "{}"  # nbplane keeps no custom metadata
    return headers


def _details_response(obj: WorkspaceObject, status_code: int = 200) -> JSONResponse:
    return JSONResponse(schemas.details_out(obj), status_code=status_code, headers={"etag": obj.etag})


# -- objects ---------------------------------------------------------------------------------------------


@router.get(PREFIX + "/objects")
async def list_workspace_objects(
    scope: WorkspaceScope,
    services: ServicesDep,
    path: Annotated[str, Query(max_length=4096)],
    type: Annotated[str | None, Query(max_length=256)] = None,
    display_name: Annotated[str | None, Query(alias="displayName", min_length=1, max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page: Annotated[str | None, Query(min_length=1, max_length=4096)] = None,
    sort_order: Annotated[Literal["ASC", "DESC"] | None, Query(alias="sortOrder")] = None,
    sort_by: Annotated[Literal["timeCreated", "displayName"], Query(alias="sortBy")] = "timeCreated",
    metadata_keys: Annotated[str | None, Query(alias="metadataKeys", max_length=4096)] = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> JSONResponse:
    _bool(should_update_recent, "should-update-recent")
    query = ListObjectsQuery(
        path=path,
        types=parse_type_filter(type),
        display_name=display_name,
        limit=limit,
        page=page,
        sort_by=SortBy(sort_by),
        sort_order=SortOrder(sort_order) if sort_order else None,
    )
    result = await services.workspace_objects.list(scope, query)
    items = [schemas.summary_out(o) for o in result.items]
    digest = hashlib.sha256(json.dumps([o.etag for o in result.items] + [result.next_page]).encode())
    headers = {"etag": digest.hexdigest()[:32]}
    if result.next_page:
        headers["opc-next-page"] = result.next_page
    return JSONResponse({"items": items}, headers=headers)


@router.post(PREFIX + "/objects")
async def create_workspace_object(
    request: Request,
    scope: WorkspaceScope,
    principal: CurrentPrincipal,
    services: ServicesDep,
    path: Annotated[str | None, Header(alias="path", max_length=4096)] = None,
    type: Annotated[str | None, Header(alias="type", max_length=64)] = None,
    base64: Annotated[str | None, Header(alias="is-upload-file-base64-encoded", max_length=16)] = None,
    overwrite: Annotated[str | None, Header(alias="is-overwrite", max_length=16)] = None,
    description: Description = None,
    retry_token: RetryToken = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> Response:
    _bool(should_update_recent, "should-update-recent")
    _no_description(description)
    if path is None:
        raise MissingParameterError("the path header is required")
    is_base64, is_overwrite = _bool(base64, "is-upload-file-base64-encoded"), _bool(overwrite, "is-overwrite")
    body = await request.body()
    data = decode_base64(body) if is_base64 else body

    async def run() -> tuple[Response, str | None]:
        obj = await services.workspace_objects.create(scope, path, data, type=type, overwrite=is_overwrite)
        return _details_response(obj, 201), obj.path

    return await with_retry_token(
        request,
        services,
        principal=principal,
        operation="create_workspace_object",
        scope=scope,
        token=retry_token,
        run=run,
        resource_exists=lambda created: services.workspace_objects.exists(scope, created),
        fingerprint_extra=json.dumps([path, type, is_base64, is_overwrite]),
    )


@router.get(PREFIX + "/objects/{objectPath:objectpath}")
async def get_workspace_object(
    path: ObjectPath,
    scope: WorkspaceScope,
    services: ServicesDep,
    include_metadata: Annotated[str | None, Query(alias="shouldIncludeMetadata", max_length=16)] = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> Response:
    _bool(should_update_recent, "should-update-recent")
    with_metadata = _bool(include_metadata, "shouldIncludeMetadata")
    obj, stream = await services.workspace_objects.read(scope, path)
    headers = _metadata_headers(obj, include_metadata=with_metadata)
    if stream is None:  # a folder has no bytes: its details
        return JSONResponse(schemas.details_out(obj), headers=headers)
    return StreamingResponse(stream, media_type=obj.mimetype, headers=headers)


@router.head(PREFIX + "/objects/{objectPath:objectpath}")
async def head_workspace_object(
    path: ObjectPath,
    scope: WorkspaceScope,
    services: ServicesDep,
    include_metadata: Annotated[str | None, Query(alias="shouldIncludeMetadata", max_length=16)] = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> Response:
    _bool(should_update_recent, "should-update-recent")
    obj = await services.workspace_objects.stat(scope, path)
    headers = _metadata_headers(obj, include_metadata=_bool(include_metadata, "shouldIncludeMetadata"))
    if obj.size is not None:
        headers["content-length"] = str(obj.size)
    headers["content-type"] = obj.mimetype or "application/json"
    return Response(status_code=200, headers=headers)


@router.put(PREFIX + "/objects/{objectPath:objectpath}")
async def update_workspace_object(
    request: Request,
    path: ObjectPath,
    scope: WorkspaceScope,
    services: ServicesDep,
    description: Description = None,
    if_match: IfMatch = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> Response:
    _bool(should_update_recent, "should-update-recent")
    _no_description(description)
    obj = await services.workspace_objects.update(scope, path, await request.body(), if_match=if_match)
    return _details_response(obj)


@router.delete(PREFIX + "/objects/{objectPath:objectpath}", status_code=204)
async def delete_workspace_object(
    path: ObjectPath, scope: WorkspaceScope, services: ServicesDep, if_match: IfMatch = None
) -> Response:
    await services.workspace_objects.delete(scope, path, if_match=if_match)
    return Response(status_code=204)


@router.post(PREFIX + "/objects/{objectPath:objectpath}")
async def no_post_on_an_object(scope: WorkspaceScope) -> Response:
    """POST under an object is only AIDP's `managePermission`, which nbplane does not serve: answered like any
    operation that is not served (404 NotFound), rather than 405 for the other methods of this path; after the
    workspace's access check, like every route under a workspace."""
    raise StarletteHTTPException(404)


# -- actions ---------------------------------------------------------------------------------------------


@router.post(PREFIX + "/actions/copyObject")
async def copy_workspace_object(
    details: Annotated[schemas.CopyWorkspaceObjectDetails, Depends(json_body(schemas.CopyWorkspaceObjectDetails))],
    scope: WorkspaceScope,
    services: ServicesDep,
    if_match: IfMatch = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> Response:
    _bool(should_update_recent, "should-update-recent")
    if details.from_path is None or details.to_path is None:
        raise MissingParameterError("fromPath and toPath are required")
    copy = CopyRequest(
        from_path=details.from_path,
        to_path=details.to_path,
        delete_source=bool(details.is_delete_source),
        overwrite=bool(details.is_over_write),
        include_outputs=details.is_include_outputs is not False,
    )
    return _details_response(await services.workspace_objects.copy(scope, copy, if_match=if_match))


@router.post(PREFIX + "/actions/moveObject")
async def move_workspace_object(
    details: Annotated[schemas.MoveWorkspaceObjectDetails, Depends(json_body(schemas.MoveWorkspaceObjectDetails))],
    scope: WorkspaceScope,
    services: ServicesDep,
    if_match: IfMatch = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> Response:
    _bool(should_update_recent, "should-update-recent")
    if details.from_path is None or details.to_path is None:
        raise MissingParameterError("fromPath and toPath are required")
    obj = await services.workspace_objects.move(scope, details.from_path, details.to_path, if_match=if_match)
    return _details_response(obj)


@router.post(PREFIX + "/actions/renameObject")
async def rename_workspace_object(
    details: Annotated[schemas.RenameWorkspaceObjectDetails, Depends(json_body(schemas.RenameWorkspaceObjectDetails))],
    scope: WorkspaceScope,
    services: ServicesDep,
    if_match: IfMatch = None,
    should_update_recent: ShouldUpdateRecent = None,
) -> Response:
    _bool(should_update_recent, "should-update-recent")
    if details.path is None or details.new_name is None:
        raise MissingParameterError("path and newName are required")
    obj = await services.workspace_objects.rename(scope, details.path, details.new_name, if_match=if_match)
    return _details_response(obj)


router.include_router(object_zips.router)
