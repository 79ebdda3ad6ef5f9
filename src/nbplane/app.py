"""Application factory: builds the ASGI app and, in its lifespan, every collaborator it needs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from nbplane import __version__
from nbplane.api import errors as api_errors
from nbplane.api import health, kernel_ws, kernels, kernelspecs, sessions
from nbplane.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from nbplane.auth.authenticator import Authenticator, OpenAuthenticator
from nbplane.bootstrap import BootstrapInfo, ensure_bootstrap
from nbplane.idempotency import RetryTokens
from nbplane.kernels.base import KernelBackend
from nbplane.kernels.local import LocalKernelBackend
from nbplane.scope import Scope
from nbplane.services import Services
from nbplane.sessions.kernels import KernelService
from nbplane.sessions.service import SessionService
from nbplane.settings import Settings
from nbplane.store.db import Database

log = logging.getLogger(__name__)


def workspace_dir(data_dir: Path) -> Callable[[Scope], Path]:
    """Where a workspace's files live (and where its kernels start)."""

    def resolve(scope: Scope) -> Path:
        return data_dir / "workspaces" / scope.instance_id / scope.workspace_key

    return resolve


def create_app(
    settings: Settings,
    *,
    kernel_backend: KernelBackend | None = None,
    authenticator: Authenticator | None = None,
    on_ready: Callable[[BootstrapInfo], None] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        await db.migrate()
        info = await ensure_bootstrap(settings.data_dir, db)
        kernels = kernel_backend or LocalKernelBackend(
            settings.data_dir / "runtime",
            default_kernel_name=settings.default_kernel_name,
            start_timeout=settings.kernel_start_timeout,
            restart_limit=settings.kernel_restart_limit,
            replay_max_messages=settings.kernel_replay_max_messages,
            replay_max_bytes=settings.kernel_replay_max_bytes,
        )
        session_service = SessionService(
            db,
            kernels,
            workspace_dir=workspace_dir(settings.data_dir),
            wait_timeout=settings.kernel_start_timeout + 30,
        )
        await session_service.reconcile_on_start()
        app.state.services = Services(
            settings=settings,
            db=db,
            kernels=kernels,
            sessions=session_service,
            retry_tokens=RetryTokens(db, timedelta(seconds=settings.retry_token_ttl_seconds)),
            authenticator=authenticator or OpenAuthenticator(),
            workspace_kernels=KernelService(db, kernels, session_service),
        )
        app.state.bootstrap = info
        if on_ready is not None:
            on_ready(info)
        try:
            yield
        finally:
            await session_service.stop_all_kernels()
            await db.dispose()

    app = FastAPI(
        title="nbplane",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    api_errors.install(app)
    app.include_router(health.router)
    app.include_router(sessions.router)
    app.include_router(kernelspecs.router)
    app.include_router(kernels.router)
    app.include_router(kernel_ws.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
