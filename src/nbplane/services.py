"""The composition root: `build_services()` makes every collaborator of one running server, once, in the
app's lifespan. Nothing else constructs services, and nothing changes them afterwards."""

from __future__ import annotations

import logging
import ssl
import uuid
from dataclasses import dataclass
from datetime import timedelta

from nbplane.auth.authenticator import (
    Authenticator,
    OpenAuthenticator,
    RateLimitedAuthenticator,
    SignatureAuthenticator,
)
from nbplane.auth.forwarded import ForwardedAuthenticator
from nbplane.auth.ratelimit import TokenBucketLimiter
from nbplane.auth.session_tokens import SessionTokenIssuer
from nbplane.bootstrap import BootstrapInfo, ensure_bootstrap, session_signing_key
from nbplane.contents import ContentLimits, ContentService, LocalContentStorage
from nbplane.files import write_private
from nbplane.idempotency import RetryTokens
from nbplane.kernels.base import KernelBackend
from nbplane.kernels.culling import Culler, CullPolicy
from nbplane.kernels.isolation import Isolation, resolve_isolation
from nbplane.kernels.local import LocalKernelBackend
from nbplane.kernels.service import KernelService
from nbplane.layout import DataLayout
from nbplane.nodes import NodeRegistry, NodeTiming
from nbplane.nodes.peers import PeerClient
from nbplane.nodes.signing import NodeSigner, cluster_secret
from nbplane.scope import Scope
from nbplane.sessions.service import SessionService
from nbplane.settings import Settings
from nbplane.store.db import Database
from nbplane.workspace_objects import TreeLimits, WorkspaceObjectService, ZipTransfers
from nbplane.workspaces import WorkspaceService
from nbplane.workspaces.teardown import runtime_teardown

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    settings: Settings
    layout: DataLayout
    db: Database
    bootstrap: BootstrapInfo
    backend: KernelBackend
    kernels: KernelService
    sessions: SessionService
    contents: ContentService
    retry_tokens: RetryTokens
    authenticator: Authenticator
    cull_policy: CullPolicy
    culler: Culler
    workspaces: WorkspaceService
    workspace_objects: WorkspaceObjectService
    zip_transfers: ZipTransfers
    isolation: Isolation
    isolation_warning: str | None
    nodes: NodeRegistry
    node_signer: NodeSigner
    peers: PeerClient
    peer_ssl: ssl.SSLContext


def content_service(settings: Settings, layout: DataLayout, sessions: SessionService) -> ContentService:
    """Contents live where the workspace's kernels start, so notebooks and kernels see one tree."""
    limits = ContentLimits(
        max_upload_bytes=settings.upload_max_bytes,
        max_chunks=settings.upload_max_chunks,
        upload_ttl_seconds=settings.upload_ttl_seconds,
    )

    def storage(instance_id: str, workspace_key: str) -> LocalContentStorage:
        lock = layout.staging / "locks" / instance_id / f"{workspace_key}.lock"
        return LocalContentStorage(layout.workspace_dir(Scope(instance_id, workspace_key)), lock_path=lock)

    return ContentService(
        layout.workspaces, layout.staging, limits, on_renamed=sessions.follow_rename, storage_factory=storage
    )


def tree_limits(settings: Settings) -> TreeLimits:
    """Folder copies and zips are bounded like uploads: no more bytes than one upload, no larger zip than a body."""
    return TreeLimits(max_bytes=settings.upload_max_bytes, max_archive_bytes=settings.max_body_bytes)


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


def node_id(layout: DataLayout) -> str:
    """This server's stable identity among servers sharing one database (kept in its data dir)."""
    path = layout.node_id_file
    if not path.exists():
        write_private(path, uuid.uuid4().hex)
    return path.read_text().strip()


def node_registry(settings: Settings, db: Database, node: str) -> NodeRegistry:
    timing = NodeTiming(
        lease=settings.node_lease, heartbeat=settings.node_heartbeat, dead_after=settings.node_dead_after
    )
    return NodeRegistry(db, node, settings.node_address, timing)


def peer_ssl_context(settings: Settings, layout: DataLayout) -> ssl.SSLContext:
    """How this node verifies the other nodes it forwards to: `node_ca_bundle`, else this data dir's own CA
    (servers given copies of one data dir's `tls/`), else the system's trust store."""
    bundle = settings.node_ca_bundle
    if bundle is None and settings.tls_cert is None and (layout.tls / "ca.pem").exists():
        bundle = layout.tls / "ca.pem"
    return ssl.create_default_context(cafile=str(bundle) if bundle else None)


async def build_services(
    settings: Settings,
    *,
    kernel_backend: KernelBackend | None = None,
    authenticator: Authenticator | None = None,
) -> Services:
    """Migrate the database, make the first-run records, and wire every service. The caller owns their
    lifecycle (adopting kernels, background tasks, stopping kernels, disposing the database)."""
    layout = DataLayout(settings.data_dir)
    layout.root.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    await db.migrate()
    info = await ensure_bootstrap(settings.data_dir, db)
    isolation, isolation_warning = resolve_isolation(
        settings.kernel_isolation, data_dir=settings.data_dir, uid_base=settings.kernel_uid_base
    )
    backend = kernel_backend or LocalKernelBackend(
        layout.runtime,
        default_kernel_name=settings.default_kernel_name,
        start_timeout=settings.kernel_start_timeout,
        adopt_timeout=settings.kernel_adopt_timeout,
        restart_limit=settings.kernel_restart_limit,
        replay_max_messages=settings.kernel_replay_max_messages,
        replay_max_bytes=settings.kernel_replay_max_bytes,
        env_passthrough=settings.kernel_env_passthrough,
        isolation=isolation,
    )
    switches_user = kernel_backend is None and isolation.switches_user  # only local processes change users
    this_node = node_id(layout)
    nodes = node_registry(settings, db, this_node)
    signer = NodeSigner(cluster_secret(session_signing_key(settings.data_dir)), this_node)
    peer_ssl = peer_ssl_context(settings, layout)
    peers = PeerClient(signer, peer_ssl)
    kernels = KernelService(
        db,
        backend,
        workspace_dir=layout.workspace_dir,
        node_id=this_node,
        identity_base=settings.kernel_uid_base if switches_user else None,
        nodes=nodes,
        peers=peers,
        pool_size=settings.kernel_pool_size,
        pool_max_total=settings.kernel_pool_max_kernels,
    )
    sessions = SessionService(db, kernels, wait_timeout=settings.kernel_start_timeout + 30)
    policy = CullPolicy(
        idle_timeout=settings.cull_idle_timeout,
        busy_timeout=settings.cull_busy_timeout,
        cull_connected=settings.cull_connected,
        interval=settings.cull_interval,
    )
    contents = content_service(settings, layout, sessions)
    return Services(
        settings=settings,
        layout=layout,
        db=db,
        bootstrap=info,
        backend=backend,
        kernels=kernels,
        sessions=sessions,
        contents=contents,
        retry_tokens=RetryTokens(db, timedelta(seconds=settings.retry_token_ttl_seconds)),
        authenticator=ForwardedAuthenticator(authenticator or build_authenticator(settings, db), signer),
        cull_policy=policy,
        culler=Culler(kernels, policy),
        workspaces=WorkspaceService(db, layout, runtime_teardown(sessions, kernels)),
        workspace_objects=WorkspaceObjectService(contents, tree_limits(settings)),
        zip_transfers=ZipTransfers(contents, layout.staging, tree_limits(settings)),
        isolation=isolation,
        isolation_warning=isolation_warning,
        nodes=nodes,
        node_signer=signer,
        peers=peers,
        peer_ssl=peer_ssl,
    )
