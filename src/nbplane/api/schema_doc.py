"""`GET /openapi.json`: the API's OpenAPI document, behind the same authentication as the API (it describes
every operation, so it is not handed to anyone who asks). Not listed in itself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from nbplane.api import openapi
from nbplane.api.deps import CurrentPrincipal

router = APIRouter()


@router.get("/openapi.json", include_in_schema=False)
async def openapi_document(request: Request, _: CurrentPrincipal) -> JSONResponse:
    app = request.app
    document: dict[str, Any] | None = getattr(app.state, "openapi_document", None)
    if document is None:
        document = app.state.openapi_document = openapi.build(app)
    return JSONResponse(document)
