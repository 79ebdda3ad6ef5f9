"""Domain objects of clusters: a workspace's compute targets, their states, list queries and page tokens."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from nbplane.etags import etag_of
from nbplane.scope import Scope
from nbplane.workspaces.models import PageCursor, SortBy, SortOrder, default_order

_KEY_ALPHABET = string.ascii_lowercase + string.digits


class ClusterKind(StrEnum):
    LOCAL = "local"  # kernels run on the nbplane server's machine
    GATEWAY = "gateway"  # kernels run on a Jupyter Kernel Gateway or Enterprise Gateway


class ClusterState(StrEnum):
    """AIDP's cluster states; nbplane's clusters are ACTIVE or STOPPED (a stop or restart is immediate)."""

    ACCEPTED = "ACCEPTED"
    CREATING = "CREATING"
    ACTIVE = "ACTIVE"
    DELETING = "DELETING"
    DELETED = "DELETED"
    FAILED = "FAILED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    UPDATING = "UPDATING"
    RESTARTING = "RESTARTING"
    STARTING = "STARTING"
    NETWORK_CONFIGURATION_ATTACH_IN_PROGRESS = "NETWORK_CONFIGURATION_ATTACH_IN_PROGRESS"
    NETWORK_CONFIGURATION_ATTACH_SUCCESSFUL = "NETWORK_CONFIGURATION_ATTACH_SUCCESSFUL"
    NETWORK_CONFIGURATION_ATTACH_FAILED = "NETWORK_CONFIGURATION_ATTACH_FAILED"
    NETWORK_CONFIGURATION_DETACH_IN_PROGRESS = "NETWORK_CONFIGURATION_DETACH_IN_PROGRESS"
    NETWORK_CONFIGURATION_DETACH_SUCCESSFUL = "NETWORK_CONFIGURATION_DETACH_SUCCESSFUL"
    NETWORK_CONFIGURATION_DETACH_FAILED = "NETWORK_CONFIGURATION_DETACH_FAILED"


STOP_REASON = "cluster stopped"
RESTART_REASON = "cluster restarted"


def new_key() -> str:
    """A generated cluster key: lower case, letter first, never a JSON literal (the `aidp` CLI parses it)."""
    return "cl" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(12))


@dataclass(frozen=True)
class AttachedSession:
    path: str | None
    type: str | None


@dataclass(frozen=True)
class Cluster:
    scope: Scope  # the workspace
    key: str
    display_name: str
    description: str | None
    kind: ClusterKind
    is_default: bool
    state: ClusterState
    state_details: str | None
    gateway_url: str | None
    created_by: str | None
    created_by_name: str | None
    updated_by: str | None
    updated_by_name: str | None
    stopped_by: str | None
    stopped_by_name: str | None
    time_created: datetime
    time_updated: datetime | None
    attached: tuple[AttachedSession, ...] = ()

    @property
    def etag(self) -> str:
        """Covers what a client can change and the state."""
        stable = [
            self.key,
            self.display_name,
            self.description,
            self.state.value,
            self.gateway_url,
            self.time_updated.isoformat() if self.time_updated else None,
        ]
        return etag_of(stable)


@dataclass(frozen=True)
class ClusterDetails:
    """What a caller sets on create (display_name required there) or update (None: unchanged)."""

    display_name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class GatewayDetails:
    """An operator's gateway cluster: URL, secret token, CA bundle text and kernel env."""

    url: str
    token: str | None = None
    ca_pem: str | None = None
    kernel_env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ListClustersQuery:
    state: ClusterState | None = None
    display_name: str | None = None
    display_name_contains: str | None = None
    limit: int = 100
    page: str | None = None
    sort_by: SortBy = SortBy.TIME_CREATED
    sort_order: SortOrder | None = None

    @property
    def order(self) -> SortOrder:
        return self.sort_order or default_order(self.sort_by)


__all__ = [
    "STOP_REASON",
    "AttachedSession",
    "Cluster",
    "ClusterDetails",
    "ClusterKind",
    "ClusterState",
    "GatewayDetails",
    "ListClustersQuery",
    "PageCursor",
    "SortBy",
    "SortOrder",
    "new_key",
]
