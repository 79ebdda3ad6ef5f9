"""This node's registration and heartbeat, and the sweep that declares other nodes' kernels dead.

Timing: every `heartbeat` seconds a node renews its lease to now + `lease`; a node whose lease ran out is
presumed gone. Its local kernels are reported `unknown` for `dead_after` more seconds (a server that was only
slow gets them back by renewing), then any live node records them dead, in one conditional update per node
(`kernels_repo.mark_node_lost`), so each row changes once however many nodes sweep. Their sessions revive on
the next create. A node that comes back after that lets go of the kernels it still runs whose rows no longer
say they are its own, so it never fights over a session that was revived elsewhere.

Clocks: leases compare timestamps written by different servers; keep their clocks in sync (NTP), well within
`lease`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from nbplane.nodes.models import NodeInfo, Placement, PlacementKind, dead_reason, lost_reason
from nbplane.store import nodes_repo
from nbplane.store.db import Database
from nbplane.store.nodes_repo import StoredNode

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NodeTiming:
    lease: float = 30.0
    heartbeat: float = 10.0
    dead_after: float = 60.0

    @property
    def interval(self) -> float:
        """How often to beat and sweep: never so seldom that a live node's lease runs out between beats."""
        return max(0.05, min(self.heartbeat, self.lease / 2))


class KernelCustodian(Protocol):
    """The kernels service's side of the heartbeat and the sweep."""

    async def release_taken_over(self) -> list[str]: ...

    async def mark_node_lost(self, node_id: str, reason: str) -> list[str]: ...


def _info(node: StoredNode) -> NodeInfo:
    return NodeInfo(node.id, node.address, node.started, node.lease_expires)


class NodeRegistry:
    def __init__(
        self,
        db: Database,
        node_id: str,
        address: str | None,
        timing: NodeTiming,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._db = db
        self._node_id = node_id
        self._address = address.rstrip("/") if address else None
        self._timing = timing
        self._clock = clock

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def address(self) -> str | None:
        return self._address

    @property
    def timing(self) -> NodeTiming:
        return self._timing

    def _lease_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self._timing.lease)

    async def register(self) -> None:
        now = self._clock()
        async with self._db.write() as db:
            await nodes_repo.register(db, self._node_id, self._address, now=now, lease_until=self._lease_until(now))

    async def beat(self) -> bool:
        """Renew the lease; True when it had run out (or the row was gone) before this beat."""
        now = self._clock()
        async with self._db.write() as db:
            previous = await nodes_repo.renew(db, self._node_id, now=now, lease_until=self._lease_until(now))
            if previous is None:
                await nodes_repo.register(db, self._node_id, self._address, now=now, lease_until=self._lease_until(now))
        lapsed = previous is None or previous < now
        if lapsed:
            log.warning("this node's lease had run out; its kernels may have been declared dead by other nodes")
        return lapsed

    async def sweep(self, kernels: KernelCustodian) -> dict[str, list[str]]:
        """Declare dead the kernels of every node whose lease ran out more than `dead_after` ago."""
        cutoff = self._clock() - timedelta(seconds=self._timing.dead_after)
        async with self._db.read() as db:
            gone = await nodes_repo.expired_before(db, cutoff, exclude=self._node_id)
        declared: dict[str, list[str]] = {}
        for node in gone:
            ids = await kernels.mark_node_lost(node.id, dead_reason(_info(node)))
            if ids:
                log.warning("declared %d kernel(s) of node %s dead: its lease ran out", len(ids), node.id)
                declared[node.id] = ids
        return declared

    async def run_once(self, kernels: KernelCustodian) -> None:
        await self.beat()
        await kernels.release_taken_over()
        await self.sweep(kernels)

    async def run_forever(self, kernels: KernelCustodian) -> None:
        """Heartbeat and sweep until cancelled; a failed round (the database away) is logged and retried."""
        while True:
            await asyncio.sleep(self._timing.interval)
            try:
                await self.run_once(kernels)
            except Exception:
                log.exception("node heartbeat or sweep failed")

    async def placements(self, node_ids: Collection[str | None]) -> dict[str | None, Placement]:
        wanted = {n for n in node_ids if n is not None and n != self._node_id}
        async with self._db.read() as db:
            nodes = await nodes_repo.get_many(db, wanted)
        now = self._clock()
        dead_after = timedelta(seconds=self._timing.dead_after)
        found: dict[str | None, Placement] = {}
        for node_id in node_ids:
            stored = nodes.get(node_id) if node_id is not None else None
            if node_id == self._node_id:
                found[node_id] = Placement(PlacementKind.LOCAL)
            elif stored is None:
                found[node_id] = Placement(PlacementKind.UNROUTED)
            elif stored.lease_expires < now:
                info = _info(stored)
                found[node_id] = Placement(PlacementKind.LOST, info, lost_reason(info, dead_after))
            elif not stored.address:
                found[node_id] = Placement(PlacementKind.UNROUTED, _info(stored))
            else:
                found[node_id] = Placement(PlacementKind.REMOTE, _info(stored))
        return found
