"""`get_async_operation` for the operations nbplane starts: the zips of the Workspace Object API.

AIDP clients poll an operation key until it SUCCEEDED before they use a zip's URL. nbplane zips and
extracts within the request, so a download is SUCCEEDED at once and an upload once its UPDATE is done.
Other operation keys are unknown (404), like keys of another tenancy or of a workspace the caller cannot use.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from nbplane.api import urls
from nbplane.api.deps import CurrentPrincipal, ServicesDep
from nbplane.api.schemas import format_datetime
from nbplane.auth import access
from nbplane.errors import NotFoundError

router = APIRouter(prefix=f"{urls.INSTANCE}/asyncOperations")


@router.get("/{asyncOperationKey}")
async def get_async_operation(
    aiDataPlatformId: str,
    asyncOperationKey: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    tenant: Annotated[str | None, Header(alias="datalake-tenant-id")] = None,
) -> JSONResponse:
    unknown = NotFoundError(f"Async operation '{asyncOperationKey}' was not found or is not authorized.")
    try:
        status = await services.zip_transfers.status(aiDataPlatformId, asyncOperationKey)
        await access.resolve_workspace(services.db, principal, aiDataPlatformId, status.workspace_key, tenant_id=tenant)
    except NotFoundError as exc:
        raise unknown from exc
    body = {
        "key": status.operation_key,
        "resourceType": "WORKSPACE_OBJECT",
        "actionType": status.action,
        "resourceName": status.resource_name,
        "resourceDisplayName": status.archive_name,
        "createdBy": status.created_by or None,
        "createdByName": None,
        "timeStarted": format_datetime(status.started),
        "timeFinished": format_datetime(status.finished) if status.finished else None,
        "status": status.status,
        "statusDetails": status.details,
        "errorCode": None,
        "errorMessage": None,
    }
    return JSONResponse(body)
