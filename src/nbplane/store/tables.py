"""ORM rows. Every timestamp is stored and returned as timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """DateTime that refuses naive values going in and restores UTC coming out (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class TenancyRow(Base):
    __tablename__ = "tenancies"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tenancy_id: Mapped[str] = mapped_column(ForeignKey("tenancies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKeyRow(Base):
    """A user's registered public key; `fingerprint` is OCI's colon-separated MD5 of the DER key."""

    __tablename__ = "api_keys"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiTokenRow(Base):
    """A workspace-scoped API token. Only the SHA-256 of the token is kept; `id` is its public lookup part."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        ForeignKeyConstraint(
            ["instance_id", "workspace_key"],
            ["workspaces.instance_id", "workspaces.key"],
            ondelete="CASCADE",
        ),
        Index("ix_api_tokens_scope", "instance_id", "workspace_key"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    instance_id: Mapped[str] = mapped_column(String(255))
    workspace_key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(512), nullable=True)
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class InstanceRow(Base):
    """An AI Data Platform instance, owned by one tenancy."""

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tenancy_id: Mapped[str] = mapped_column(ForeignKey("tenancies.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(255))
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkspaceRow(Base):
    """A workspace of an instance. `type` is DEFAULT for the instance's first workspace, else USER."""

    __tablename__ = "workspaces"
    __table_args__ = (Index("ix_workspaces_instance_created", "instance_id", "time_created", "key"),)

    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    type: Mapped[str] = mapped_column(String(16), server_default="USER")
    lifecycle_state: Mapped[str] = mapped_column(String(16), server_default="ACTIVE")
    lifecycle_details: Mapped[str | None] = mapped_column(Text, nullable=True)
    default_catalog_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_by_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_by_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    time_updated: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WorkspaceGrantRow(Base):
    """One permission of one user on one workspace; a user without any row cannot reach the workspace."""

    __tablename__ = "workspace_grants"
    __table_args__ = (
        ForeignKeyConstraint(
            ["instance_id", "workspace_key"],
            ["workspaces.instance_id", "workspaces.key"],
            ondelete="CASCADE",
        ),
    )

    instance_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    workspace_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    permission: Mapped[str] = mapped_column(String(32), primary_key=True)
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KernelStatus(StrEnum):
    """A kernel row's status. RUNNING: a node runs it (its `node_id`); POOLED: a node runs it warm for the
    workspace's next start and nobody uses it yet (never listed, never culled); the others are final, with
    `reason`."""

    RUNNING = "running"
    POOLED = "pooled"  # started ahead of demand (the warm pool); RUNNING once handed out
    STOPPED = "stopped"  # shut down on request (delete, last session gone, server stop in the stop mode)
    DEAD = "dead"  # ended on its own: crashed, restarts exhausted, gone while no server ran, did not answer
    CULLED = "culled"  # shut down by the idle/busy culler


class KernelRow(Base):
    """A kernel and what is needed to reach it again: `runtime` (the backend kind) and `details` (the
    backend's record: for local kernels the connection file, pid and launch arguments)."""

    __tablename__ = "kernels"
    __table_args__ = (
        ForeignKeyConstraint(
            ["instance_id", "workspace_key"],
            ["workspaces.instance_id", "workspaces.key"],
            ondelete="CASCADE",
        ),
        Index("ix_kernels_scope", "instance_id", "workspace_key"),
        Index("ix_kernels_node_status", "node_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(255))
    workspace_key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    connection_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    node_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    runtime: Mapped[str | None] = mapped_column(String(32), nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_activity: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(512), nullable=True)
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cluster_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """The workspace cluster the kernel runs on (None: rows from before clusters, the default cluster)."""


class ClusterRow(Base):
    """A workspace's compute target: `kind` local (kernels on the node's machine) or gateway (a Kernel or
    Enterprise Gateway at `gateway_url`). `gateway_token` is a secret: never returned by the API, never
    logged, never passed to a kernel; `gateway_ca` is a PEM bundle's text, so that every node can use it."""

    __tablename__ = "clusters"
    __table_args__ = (
        ForeignKeyConstraint(
            ["instance_id", "workspace_key"],
            ["workspaces.instance_id", "workspaces.key"],
            ondelete="CASCADE",
        ),
        Index("ix_clusters_scope_created", "instance_id", "workspace_key", "time_created", "key"),
    )

    instance_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    workspace_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(48))
    state_details: Mapped[str | None] = mapped_column(Text, nullable=True)
    gateway_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    gateway_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    gateway_ca: Mapped[str | None] = mapped_column(Text, nullable=True)
    kernel_env: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_by_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_by_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    stopped_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    stopped_by_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    time_updated: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class KernelAdmissionRow(Base):
    """A kernel start admitted under the kernel quotas and still under way (its kernel row is not written
    yet). Counted with the running kernels so that concurrent starts cannot all pass one check; deleted in the
    transaction that records the kernel, or when the start fails. A row older than a start can take is from a
    server that died mid-start and is ignored and purged."""

    __tablename__ = "kernel_admissions"
    __table_args__ = (Index("ix_kernel_admissions_scope", "instance_id", "workspace_key"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(255))
    workspace_key: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(512))
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KernelIdentityRow(Base):
    """The OS identity (uid = gid) a workspace's local kernels run as when the server isolates them; one per
    workspace, never shared, so one workspace's kernels cannot read another's files or connection files."""

    __tablename__ = "kernel_identities"
    __table_args__ = (
        ForeignKeyConstraint(
            ["instance_id", "workspace_key"],
            ["workspaces.instance_id", "workspaces.key"],
            ondelete="CASCADE",
        ),
    )

    instance_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    workspace_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    uid: Mapped[int] = mapped_column(Integer, unique=True)
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SessionRow(Base):
    """A notebook session. At most one per (instance, workspace, path); NULL paths are not unique."""

    __tablename__ = "sessions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["instance_id", "workspace_key"],
            ["workspaces.instance_id", "workspaces.key"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("instance_id", "workspace_key", "path", name="uq_sessions_path"),
        Index("ix_sessions_scope_created", "instance_id", "workspace_key", "time_created", "id"),
        Index("ix_sessions_kernel", "kernel_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(255))
    workspace_key: Mapped[str] = mapped_column(String(255))
    path: Mapped[str | None] = mapped_column(String(4096), nullable=True)
    name: Mapped[str] = mapped_column(String(1024))
    type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cluster_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    agent_flow_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    kernel_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kernel_name: Mapped[str] = mapped_column(String(255))
    lifecycle_state: Mapped[str] = mapped_column(String(32))
    lifecycle_details: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(512), nullable=True)
    time_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    time_updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthGenerationRow(Base):
    """One row (id 1) whose `value` database triggers bump on every write to a table that authentication
    or authorisation reads (migration 0011), so in-memory caches of those tables know when to drop."""

    __tablename__ = "auth_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)


class RetryTokenRow(Base):
    """An `opc-retry-token` record: the first response to a create, replayed for 24 h."""

    __tablename__ = "retry_tokens"

    scope: Mapped[str] = mapped_column(String(1024), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    etag: Mapped[str | None] = mapped_column(String(255), nullable=True)
    resource_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class NodeRow(Base):
    """An nbplane server sharing the database: the address other servers reach it at, and its lease (renewed
    by its heartbeat). A node whose lease ran out is presumed gone: its local kernels are reported unknown,
    then dead."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    started: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_expires: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
