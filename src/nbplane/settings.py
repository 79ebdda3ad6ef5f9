"""Runtime settings: one pydantic-settings object, read from NBPLANE_* variables and CLI options."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from nbplane.layout import DataLayout


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("nbplane", appauthor=False))


class Settings(BaseSettings):
    """Everything the server needs to start; passed down explicitly, never read from globals."""

    model_config = SettingsConfigDict(env_prefix="NBPLANE_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert: Path | None = None
    tls_key: Path | None = None
    default_kernel_name: str = "python3"
    kernel_start_timeout: float = 60.0
    kernel_restart_limit: int = Field(5, ge=0)  # consecutive autorestarts before a kernel is reported dead
    kernel_replay_max_messages: int = Field(10_000, ge=1)  # output kept per kernel while no client is attached
    kernel_replay_max_bytes: int = Field(16 * 1024 * 1024, ge=1)
    kernel_adopt_timeout: float = Field(10.0, gt=0)  # how long a kernel may take to answer when re-adopted
    kernel_env_passthrough: list[str] = Field(default_factory=list)  # server variables kernels may see too
    kernel_isolation: Literal["auto", "none", "user", "sandbox"] = "auto"
    """How local kernels are kept from the server's files and each other (see nbplane.kernels.isolation)."""
    kernel_uid_base: int = Field(200_000, ge=1000)  # workspaces' kernel uids are allocated from here up
    kernel_pool_size: int = Field(0, ge=0, le=64)
    """Kernels kept warm per workspace and kernelspec, handed to the next session or kernel start (0: off).
    Each idle python kernel costs about 51 MB of memory. A workspace gets its pool on its first kernel start
    (of that kernelspec) on this server; see nbplane.kernels.pool."""
    kernel_pool_max_kernels: int = Field(16, ge=0)
    """At most this many pooled kernels on this server in all (the least recently used pool gives way)."""
    kernels_on_stop: Literal["auto", "keep", "stop"] = "auto"
    """What a clean stop does with the kernels: keep them running for the next start, stop them, or (auto)
    keep them on SIGTERM (a service manager, a rolling restart) and stop them on SIGINT (Ctrl-C)."""
    # Culling (off by default, as in Jupyter): seconds idle / busy before a kernel is shut down (0 = never),
    # whether kernels with a websocket attached are culled too, and how often to check.
    cull_idle_timeout: float = Field(0.0, ge=0)
    cull_busy_timeout: float = Field(0.0, ge=0)
    cull_connected: bool = False
    cull_interval: float = Field(300.0, gt=0)
    max_body_bytes: int = 64 * 1024 * 1024
    retry_token_ttl_seconds: int = 24 * 3600
    # Chunked notebook uploads (contents): the assembled size, the chunk count, and how long an
    # untouched upload is kept before it is purged.
    upload_max_bytes: int = 256 * 1024 * 1024
    upload_max_chunks: int = 1024
    upload_ttl_seconds: int = 24 * 3600
    log_level: str = "info"
    insecure_no_auth: bool = False
    """Accept every request unauthenticated; `nbplane serve` allows it on a loopback address only."""
    rate_limit_per_second: float = 50.0
    """Requests per second per principal (token bucket refill); 0 turns rate limiting off."""
    rate_limit_burst: int = 200
    # Several servers on one database (see nbplane.nodes): the https URL other servers reach this one at
    # (`serve` uses its own endpoint when unset), the heartbeat lease, how often it is renewed, how long a
    # node whose lease ran out keeps its kernels `unknown` before any live node records them dead, and the
    # CA bundle other nodes' certificates are verified with (default: this data dir's CA, else the system's).
    node_address: str | None = None
    node_lease: float = Field(30.0, gt=0)
    node_heartbeat: float = Field(10.0, gt=0)
    node_dead_after: float = Field(60.0, ge=0)
    node_ca_bundle: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL; `postgresql://` is read as asyncpg, SQLite lives in the data dir."""
        url = self.database_url or f"sqlite+aiosqlite:///{DataLayout(self.data_dir).sqlite_database}"
        return normalize_database_url(url)


def normalize_database_url(url: str) -> str:
    """Map plain driver-less URLs to the async drivers nbplane ships with."""
    for plain, async_ in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return async_ + url[len(plain) :]
    return url
