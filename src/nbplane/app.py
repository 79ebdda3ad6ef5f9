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
from nbplane.api import health, sessions
from nbplane.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from nbplane.auth.authenticator import (
    Authenticator,
    OpenAuthenticator,
    RateLimitedAuthenticator,
    SignatureAuthenticator,
)
from nbplane.auth.ratelimit import TokenBucketLimiter
from nbplane.auth.session_tokens import SessionTokenIssuer
from nbplane.bootstrap import BootstrapInfo, ensure_bootstrap, session_signing_key
from nbplane.idempotency import RetryTokens
from nbplane.kernels.base import KernelBackend
from nbplane.kernels.local import LocalKernelBackend
from nbplane.scope import Scope
from nbplane.services import Services
from nbplane.sessions.service import SessionService
from nbplane.settings import Settings
from nbplane.store.db import Database

log = logging.getLogger(__name__)


def workspace_dir(data_dir: Path) -> Callable[[Scope], Path]:
    """Where a workspace's files live (and where its kernels start)."""

    def resolve(scope: Scope) -> Path:
        return data_dir / "workspaces" / scope.instance_id / scope.workspace_key

    return resolve


def build_authenticator(settings: Settings, db: Database) -> Authenticator:
    """Signature/token verification (or none with `insecure_no_auth`), rate limited per principal."""
    authenticator: Authenticator
    if settings.insecure_no_auth:
        log.warning("authentication is OFF (--insecure-no-auth): every request is accepted")
        authenticator = OpenAuthenticator()
    else:
        authenticator = SignatureAuthenticator(db, SessionTokenIssuer(session_signing_key(settings.data_dir)))
    if settings.rate_limit_per_second > 0:
        limiter = TokenBucketLimiter(settings.rate_limit_per_second, max(1, settings.rate_limit_burst))
        authenticator = RateLimitedAuthenticator(authenticator, limiter)
    return authenticator


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
            authenticator=authenticator or build_authenticator(settings, db),
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
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
