"""Application factory: builds the ASGI app; its lifespan gets the services from `build_services()` and
runs their lifecycle (reconcile, upload purging, stopping kernels)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from nbplane import __version__
from nbplane.api import contents, health, kernel_ws, kernels, kernelspecs, sessions, workspaces
from nbplane.api import errors as api_errors
from nbplane.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from nbplane.api.unserved import UnservedOperations
from nbplane.auth.authenticator import Authenticator
from nbplane.bootstrap import BootstrapInfo
from nbplane.contents import ContentService
from nbplane.kernels.base import KernelBackend
from nbplane.services import build_services
from nbplane.settings import Settings

log = logging.getLogger(__name__)


async def _purge_uploads(contents: ContentService, every: float) -> None:
    """Drop abandoned chunked uploads now and then; a failure is logged and retried next round."""
    while True:
        try:
            await contents.purge_expired()
        except Exception:
            log.exception("purging expired uploads failed")
        await asyncio.sleep(every)


def create_app(
    settings: Settings,
    *,
    kernel_backend: KernelBackend | None = None,
    authenticator: Authenticator | None = None,
    on_ready: Callable[[BootstrapInfo], None] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings, kernel_backend=kernel_backend, authenticator=authenticator)
        session_service, contents_service, db = services.sessions, services.contents, services.db
        await session_service.reconcile_on_start()
        purger = asyncio.create_task(_purge_uploads(contents_service, min(3600.0, settings.upload_ttl_seconds / 2)))
        app.state.services = services
        app.state.bootstrap = info = services.bootstrap
        if on_ready is not None:
            on_ready(info)
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            await session_service.stop_all_kernels()
            await db.dispose()

    app = FastAPI(
        title="nbplane",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        redirect_slashes=False,  # the clients' requests would follow a redirect and lose the signature
    )
    api_errors.install(app)
    app.include_router(health.router)
    app.include_router(sessions.router)
    app.include_router(contents.router)
    app.include_router(kernelspecs.router)
    app.include_router(kernels.router)
    app.include_router(kernel_ws.router)
    app.include_router(workspaces.router)
    app.state.unserved = UnservedOperations(app.routes)  # after every router: it reads what is routed
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
