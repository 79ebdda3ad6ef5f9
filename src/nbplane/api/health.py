"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

router = APIRouter()


@router.get("/health")
async def health() -> JSONResponse:
    """200 once the lifespan has finished starting (the server accepts no requests before that)."""
    return JSONResponse({"status": "ok"})
