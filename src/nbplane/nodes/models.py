"""What a server knows of another node, and where a kernel recorded as running is, seen from this node."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from nbplane.kernels.base import KernelActivity


@dataclass(frozen=True)
class NodeInfo:
    id: str
    address: str | None
    started: datetime
    lease_expires: datetime

    def describe(self) -> str:
        return f"node {self.id}" + (f" at {self.address}" if self.address else "")


class PlacementKind(StrEnum):
    LOCAL = "local"  # this node runs it
    REMOTE = "remote"  # a live node runs it: requests that act on it are forwarded there
    LOST = "lost"  # its node's lease ran out: reported unknown until it is declared dead
    UNROUTED = "unrouted"  # its node never registered an address (or is not recorded): nothing to forward to


@dataclass(frozen=True)
class Placement:
    kind: PlacementKind
    node: NodeInfo | None = None
    reason: str | None = None


def lost_reason(node: NodeInfo, dead_after: timedelta) -> str:
    """What get and list say of a kernel whose node's lease ran out, until it is declared dead."""
    when = node.lease_expires.isoformat(timespec="seconds")
    dead_at = (node.lease_expires + dead_after).isoformat(timespec="seconds")
    return (
        f"the nbplane server that runs the kernel ({node.describe()}) stopped renewing its lease at {when}; "
        f"the kernel is recorded dead at {dead_at} unless that server comes back"
    )


def dead_reason(node: NodeInfo) -> str:
    """The reason recorded for the kernels of a node declared gone."""
    when = node.lease_expires.isoformat(timespec="seconds")
    return f"the nbplane server that ran the kernel ({node.describe()}) stopped renewing its lease at {when}"


class NodeLookup(Protocol):
    """Where other nodes' kernels are (`NodeRegistry`); the kernels service asks it about kernels it does not run."""

    @property
    def node_id(self) -> str: ...

    async def placements(self, node_ids: Collection[str | None]) -> dict[str | None, Placement]:
        """The placement of a kernel recorded as running on each of `node_ids` (other nodes than this one)."""
        ...


class PeerStates(Protocol):
    """Asks a live node for the state of kernels it runs (`nbplane.nodes.peers.PeerClient`)."""

    async def kernel_states(self, node: NodeInfo, kernel_ids: Sequence[str]) -> dict[str, KernelActivity]: ...
