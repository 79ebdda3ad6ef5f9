"""Application factory: builds the ASGI app and, in its lifespan, every collaborator it needs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from nbplane import __version__
from nbplane.api import async_operations, contents, health, kernel_ws, kernels, kernelspecs, sessions, workspace_objects
from nbplane.api import errors as api_errors
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
from nbplane.contents import ContentLimits, ContentService
from nbplane.idempotency import RetryTokens
from nbplane.kernels.base import KernelBackend
from nbplane.kernels.culling import Culler, CullPolicy
from nbplane.kernels.local import LocalKernelBackend
from nbplane.kernels.service import AdoptionReport, KernelService
from nbplane.scope import Scope
from nbplane.services import Services
from nbplane.sessions.service import SessionService
from nbplane.settings import Settings
from nbplane.store.db import Database
from nbplane.workspace_objects import TreeLimits, WorkspaceObjectService, ZipTransfers

log = logging.getLogger(__name__)


def workspace_dir(data_dir: Path) -> Callable[[Scope], Path]:
    """Where a workspace's files live (and where its kernels start)."""

    def resolve(scope: Scope) -> Path:
        return data_dir / "workspaces" / scope.instance_id / scope.workspace_key

    return resolve


def content_service(settings: Settings, sessions: SessionService) -> ContentService:
    """Contents live where the workspace's kernels start, so notebooks and kernels see one tree."""
    limits = ContentLimits(
        max_upload_bytes=settings.upload_max_bytes,
        max_chunks=settings.upload_max_chunks,
        upload_ttl_seconds=settings.upload_ttl_seconds,
    )

    return ContentService(
        settings.data_dir / "workspaces", settings.data_dir / "uploads", limits, on_renamed=sessions.follow_rename
    )


def tree_limits(settings: Settings) -> TreeLimits:
    """Folder copies and zips are bounded like uploads: no more bytes than one upload, no larger zip than a body."""
    return TreeLimits(max_bytes=settings.upload_max_bytes, max_archive_bytes=settings.max_body_bytes)


async def _purge_uploads(contents: ContentService, every: float) -> None:
    """Drop abandoned chunked uploads now and then; a failure is logged and retried next round."""
    while True:
        try:
            await contents.purge_expired()
        except Exception:
            log.exception("purging expired uploads failed")
        await asyncio.sleep(every)


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


def node_id(data_dir: Path) -> str:
    """This server's stable identity among servers sharing one database (kept in its data dir)."""
    path = data_dir / "node_id"
    if not path.exists():
        path.write_text(uuid.uuid4().hex)
    return path.read_text().strip()


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
    on_ready: Callable[[BootstrapInfo, AdoptionReport], None] | None = None,
    exit_signal: Callable[[], int | None] = lambda: None,
    on_stopping: Callable[[bool, int], None] | None = None,
) -> FastAPI:
    """`exit_signal` tells the lifespan which signal stopped the server (see `stop_kernels_on_exit`);
    `on_stopping(stop_kernels, count)` is called before kernels are stopped or let go."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        await db.migrate()
        info = await ensure_bootstrap(settings.data_dir, db)
        backend = kernel_backend or LocalKernelBackend(
            settings.data_dir / "runtime",
            default_kernel_name=settings.default_kernel_name,
            start_timeout=settings.kernel_start_timeout,
            adopt_timeout=settings.kernel_adopt_timeout,
            restart_limit=settings.kernel_restart_limit,
            replay_max_messages=settings.kernel_replay_max_messages,
            replay_max_bytes=settings.kernel_replay_max_bytes,
            env_passthrough=settings.kernel_env_passthrough,
        )
        kernel_service = KernelService(
            db, backend, workspace_dir=workspace_dir(settings.data_dir), node_id=node_id(settings.data_dir)
        )
        report = await kernel_service.adopt_on_start()
        session_service = SessionService(db, kernel_service, wait_timeout=settings.kernel_start_timeout + 30)
        contents_service = content_service(settings, session_service)
        policy = CullPolicy(
            idle_timeout=settings.cull_idle_timeout,
            busy_timeout=settings.cull_busy_timeout,
            cull_connected=settings.cull_connected,
            interval=settings.cull_interval,
        )
        culler = Culler(kernel_service, policy)
        background = [
            asyncio.create_task(_purge_uploads(contents_service, min(3600.0, settings.upload_ttl_seconds / 2)))
        ]
        if policy.enabled:
            background.append(asyncio.create_task(culler.run_forever()))
        app.state.services = Services(
            settings=settings,
            db=db,
            backend=backend,
            kernels=kernel_service,
            sessions=session_service,
            contents=contents_service,
            retry_tokens=RetryTokens(db, timedelta(seconds=settings.retry_token_ttl_seconds)),
            authenticator=authenticator or build_authenticator(settings, db),
            culler=culler,
            workspace_objects=WorkspaceObjectService(contents_service, tree_limits(settings)),
            zip_transfers=ZipTransfers(contents_service, settings.data_dir / "uploads", tree_limits(settings)),
        )
        app.state.bootstrap = info
        app.state.adoption = report
        if on_ready is not None:
            on_ready(info, report)
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*background, return_exceptions=True)
            stop = stop_kernels_on_exit(settings.kernels_on_stop, exit_signal())
            if on_stopping is not None:
                on_stopping(stop, len(await backend.kernel_ids()))
            await kernel_service.close(stop_kernels=stop)
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
    app.include_router(workspace_objects.router)
    app.include_router(async_operations.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
