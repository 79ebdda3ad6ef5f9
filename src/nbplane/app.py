"""Application factory: builds the ASGI app; its lifespan gets the services from `build_services()` and
runs their lifecycle (kernel adoption, upload purging, culling, stopping or letting go of kernels)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import make_url

from nbplane import __version__
from nbplane.api import (
    async_operations,
    contents,
    health,
    kernel_ws,
    kernels,
    kernelspecs,
    nodes,
    sessions,
    workspace_objects,
    workspaces,
)
from nbplane.api import errors as api_errors
from nbplane.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from nbplane.api.unserved import UnservedOperations
from nbplane.auth.authenticator import Authenticator
from nbplane.bootstrap import BootstrapInfo
from nbplane.contents import ContentService
from nbplane.files import secure_data_dir, secure_database_file
from nbplane.kernels.base import KernelBackend
from nbplane.kernels.isolation import Isolation
from nbplane.kernels.service import AdoptionReport
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


def stop_kernels_on_exit(mode: str, exit_signal: int | None) -> bool:
    """Whether a clean stop stops the kernels. `auto`: a service manager's SIGTERM (a deploy, a rolling
    restart) keeps them for the next start; Ctrl-C (SIGINT) or any other stop ends them."""
    if mode in ("keep", "stop"):
        return mode == "stop"
    return exit_signal != signal.SIGTERM


def create_app(
    settings: Settings,
    *,
    kernel_backend: KernelBackend | None = None,
    authenticator: Authenticator | None = None,
    on_ready: Callable[[BootstrapInfo, AdoptionReport, Isolation, str | None], None] | None = None,
    exit_signal: Callable[[], int | None] = lambda: None,
    on_stopping: Callable[[bool, int], None] | None = None,
) -> FastAPI:
    """`exit_signal` tells the lifespan which signal stopped the server (see `stop_kernels_on_exit`);
    `on_stopping(stop_kernels, count)` is called before kernels are stopped or let go."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings, kernel_backend=kernel_backend, authenticator=authenticator)
        await services.nodes.register()
        report = await services.kernels.adopt_on_start()
        background = [
            asyncio.create_task(_purge_uploads(services.contents, min(3600.0, settings.upload_ttl_seconds / 2))),
            asyncio.create_task(services.nodes.run_forever(services.kernels)),
        ]
        if services.cull_policy.enabled:
            background.append(asyncio.create_task(services.culler.run_forever()))
        app.state.services = services
        app.state.bootstrap = services.bootstrap
        app.state.adoption = report
        secure_data_dir(settings.data_dir)
        if services.db.is_sqlite:
            secure_database_file(Path(make_url(services.db.url).database or ""))
        if on_ready is not None:  # `serve` prints the isolation mode and its warning once
            on_ready(services.bootstrap, report, services.isolation, services.isolation_warning)
        elif services.isolation_warning:
            log.warning("kernel isolation: %s", services.isolation_warning)
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*background, return_exceptions=True)
            stop = stop_kernels_on_exit(settings.kernels_on_stop, exit_signal())
            if on_stopping is not None:
                on_stopping(stop, len(await services.kernels.user_kernel_ids()))
            await services.kernels.close(stop_kernels=stop)
            await services.peers.close()
            await services.db.dispose()

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
    app.include_router(workspace_objects.router)
    app.include_router(async_operations.router)
    app.include_router(nodes.router)
    app.state.unserved = UnservedOperations(app.routes)  # after every router: it reads what is routed
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
