"""The on-disk layout of a data dir: where workspaces, uploads, kernels, keys and state files live.

Every path under the data dir is spelled here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nbplane.scope import Scope


@dataclass(frozen=True)
class DataLayout:
    """Paths of one data dir (`root`)."""

    root: Path

    @property
    def workspaces(self) -> Path:
        """Parent of every workspace directory: `workspaces/<instance>/<key>`."""
        return self.root / "workspaces"

    def workspace_dir(self, scope: Scope) -> Path:
        """A workspace's files; also the working directory of its kernels."""
        return self.workspaces / scope.instance_id / scope.workspace_key

    @property
    def staging(self) -> Path:
        """Chunked uploads and content locks, outside every workspace."""
        return self.root / "uploads"

    @property
    def deleted_workspaces(self) -> Path:
        """Where a deleted workspace's files are moved (kept until an operator removes them)."""
        return self.root / "deleted-workspaces"

    def deleted_workspace_dir(self, scope: Scope, when: datetime) -> Path:
        stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        return self.deleted_workspaces / scope.instance_id / f"{scope.workspace_key}.{stamp}"

    @property
    def runtime(self) -> Path:
        """Kernel connection files."""
        return self.root / "runtime"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def oci_dir(self) -> Path:
        return self.root / "oci"

    @property
    def oci_config(self) -> Path:
        return self.oci_dir / "config"

    @property
    def bootstrap_file(self) -> Path:
        return self.root / "bootstrap.json"

    @property
    def server_file(self) -> Path:
        """Endpoint and pid of the running server (`nbplane info` reads it)."""
        return self.root / "server.json"

    @property
    def node_id_file(self) -> Path:
        return self.root / "node_id"

    @property
    def sqlite_database(self) -> Path:
        return self.root / "nbplane.db"
