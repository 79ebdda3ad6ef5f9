"""HTTP routes of the Workspace Object API's zips, and the transfer URLs they hand out.

The zip actions answer with URLs under `/p/` that work without a signature, as AIDP's pre-authenticated
request URLs do: whoever holds one may download that archive or upload that one zip, until it expires.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from nbplane.api import object_schemas as schemas
from nbplane.api import urls
from nbplane.api.deps import CurrentPrincipal, ServicesDep, WorkspaceScope, json_body
from nbplane.api.retry import with_retry_token
from nbplane.errors import MissingParameterError

PREFIX = urls.WORKSPACE
TRANSFER_PREFIX = "/p"
router = APIRouter()

RetryToken = Annotated[str | None, Header(alias="opc-retry-token")]


def _transfer_url(request: Request, operation_key: str, token: str, name: str) -> str:
    base = f"{request.url.scheme}://{request.url.netloc}{TRANSFER_PREFIX}"
    return f"{base}/{operation_key}/{token}/{quote(name, safe='')}"


@router.post(PREFIX + "/actions/zipAndDownloadFolder")
async def zip_and_download_workspace_folder(
    request: Request,
    details: Annotated[schemas.ZipAndDownloadFolderDetails, Depends(json_body(schemas.ZipAndDownloadFolderDetails))],
    scope: WorkspaceScope,
    principal: CurrentPrincipal,
    services: ServicesDep,
    retry_token: RetryToken = None,
) -> Response:
    async def run() -> tuple[Response, str | None]:
        zipped = await services.zip_transfers.start_download(
            scope, details.source_folder_path, created_by=principal.user_id or principal.key
        )
        body = {
            "operationKey": zipped.operation_key,
            "downloadUrl": _transfer_url(request, zipped.operation_key, zipped.token, zipped.archive_name),
            "archiveName": zipped.archive_name,
        }
        return JSONResponse(body), zipped.operation_key

    return await with_retry_token(
        request,
        services,
        principal=principal,
        operation="zip_and_download_workspace_folder",
        scope=scope,
        token=retry_token,
        run=run,
        resource_exists=lambda key: services.zip_transfers.exists(scope, key),
    )


@router.post(PREFIX + "/actions/uploadAndExtractZip")
async def upload_and_extract_workspace_zip(
    request: Request,
    details: Annotated[schemas.UploadAndExtractZipDetails, Depends(json_body(schemas.UploadAndExtractZipDetails))],
    scope: WorkspaceScope,
    principal: CurrentPrincipal,
    services: ServicesDep,
    retry_token: RetryToken = None,
) -> Response:
    if details.action is None:
        raise MissingParameterError("action (CREATE or UPDATE) is required")

    async def run() -> tuple[Response, str | None]:
        transfers = services.zip_transfers
        body: dict[str, Any]
        if details.action == "CREATE":
            upload = await transfers.start_upload(
                scope,
                details.destination_folder_path,
                details.zip_file_name,
                bool(details.is_overwrite),
                created_by=principal.user_id or principal.key,
            )
            body = {
                "operationKey": upload.operation_key,
                "uploadUrl": _transfer_url(request, upload.operation_key, upload.token, upload.archive_name),
                "destinationFolderPath": upload.destination,
            }
            return JSONResponse(body), upload.operation_key
        destination = await transfers.finish_upload(
            scope, details.operation_key, details.size_in_bytes, details.e_tag, details.is_overwrite
        )
        body = {"operationKey": details.operation_key, "uploadUrl": None, "destinationFolderPath": destination}
        return JSONResponse(body), None

    return await with_retry_token(
        request,
        services,
        principal=principal,
        operation="upload_and_extract_workspace_zip",
        scope=scope,
        token=retry_token,
        run=run,
        resource_exists=lambda key: services.zip_transfers.exists(scope, key),
    )


# -- transfer URLs (pre-authenticated: no signature, the token is the credential) --------------------------


@router.get(TRANSFER_PREFIX + "/{operationKey}/{token}/{name}")
async def download_transfer(operationKey: str, token: str, name: str, services: ServicesDep) -> Response:
    archive_name, file = await services.zip_transfers.download(operationKey, token)
    return FileResponse(file, media_type="application/zip", filename=archive_name)


@router.put(TRANSFER_PREFIX + "/{operationKey}/{token}/{name}")
async def upload_transfer(
    request: Request, operationKey: str, token: str, name: str, services: ServicesDep
) -> Response:
    digest = await services.zip_transfers.receive(operationKey, token, request.stream())
    return Response(status_code=200, headers={"etag": digest})
