"""The warm pool's bookkeeping: which started-ahead kernels wait for which (workspace, kernelspec), and how
many more to start. Pure and synchronous (one event loop); `KernelService` does the starting and stopping.

Rules:
- a pool belongs to one workspace and one kernelspec (`PoolKey`): its kernels run in that workspace's folder
  as that workspace's user, so a kernel never crosses workspaces;
- a workspace gets a pool for a kernelspec on its first start of that kernelspec on this node, and keeps it
  while the server runs (or until the workspace is deleted, or the cap makes room for a busier pool);
- at most `size` kernels per pool and `max_total` in all pools, counting kernels still starting; when the cap
  is reached, the least recently used pool gives up a kernel to a pool used more recently;
- kernels are handed out oldest first.
"""

from __future__ import annotations

import itertools
import uuid
from collections import deque
from dataclasses import dataclass

__all__ = ["KernelPool", "PoolKey"]


@dataclass(frozen=True)
class PoolKey:
    instance_id: str
    workspace_key: str
    kernel_name: str


class KernelPool:
    def __init__(self, size: int, max_total: int) -> None:
        self.size = max(0, size)
        self.max_total = max(0, max_total)
        self._ready: dict[PoolKey, deque[str]] = {}
        self._starting: dict[str, PoolKey] = {}
        self._used: dict[PoolKey, int] = {}  # key -> tick of its last use (higher is more recent)
        self._ticks = itertools.count(1)

    @property
    def enabled(self) -> bool:
        return self.size > 0 and self.max_total > 0

    # ---- reads -------------------------------------------------------------------------------

    def __contains__(self, kernel_id: str) -> bool:
        return kernel_id in self._starting or any(kernel_id in q for q in self._ready.values())

    def ids(self) -> set[str]:
        """Every pooled kernel id, ready or starting."""
        return set(self._starting).union(*self._ready.values())

    def ready(self, key: PoolKey) -> list[str]:
        return list(self._ready.get(key, ()))

    def count(self, key: PoolKey) -> int:
        return len(self._ready.get(key, ())) + sum(1 for k in self._starting.values() if k == key)

    @property
    def total(self) -> int:
        return len(self._starting) + sum(len(q) for q in self._ready.values())

    # ---- hand-out ----------------------------------------------------------------------------

    def touch(self, key: PoolKey) -> None:
        """The key was just asked for (a start): it is the most recently used pool."""
        self._used[key] = next(self._ticks)

    def take(self, key: PoolKey) -> str | None:
        """The oldest ready kernel of the pool, removed from it; None when there is none."""
        queue = self._ready.get(key)
        if not queue:
            return None
        return queue.popleft()

    def put_back(self, key: PoolKey, kernel_id: str) -> None:
        """A taken kernel that was not handed out (the start needed what it cannot give) goes back first in line."""
        self._ready.setdefault(key, deque()).appendleft(kernel_id)

    # ---- filling -----------------------------------------------------------------------------

    def reserve(self, key: PoolKey) -> tuple[str | None, str | None]:
        """Room for one more kernel in the pool: `(new kernel id, evicted kernel id)`. The new id counts as
        starting until `filled` or `abandon`; the evicted kernel (of a less recently used pool, made room for)
        must be stopped by the caller. `(None, None)` when the pool is full or the cap leaves no room."""
        if not self.enabled or self.count(key) >= self.size:
            return None, None
        evicted = None
        if self.total >= self.max_total:
            evicted = self._evict_for(key)
            if evicted is None:
                return None, None
        kernel_id = str(uuid.uuid4())
        self._starting[kernel_id] = key
        return kernel_id, evicted

    def _evict_for(self, key: PoolKey) -> str | None:
        mine = self._used.get(key, 0)
        victims = [k for k, q in self._ready.items() if k != key and q and self._used.get(k, 0) < mine]
        if not victims:
            return None
        victim = min(victims, key=lambda k: self._used.get(k, 0))
        return self._ready[victim].pop()  # its newest: the oldest stays first in line

    def filled(self, kernel_id: str) -> bool:
        """A reserved kernel started and is ready. False when it was dropped meanwhile (then stop it)."""
        key = self._starting.pop(kernel_id, None)
        if key is None:
            return False
        self._ready.setdefault(key, deque()).append(kernel_id)
        return True

    def abandon(self, kernel_id: str) -> None:
        """A reserved kernel did not start (or was stopped while starting)."""
        self._starting.pop(kernel_id, None)

    # ---- dropping ----------------------------------------------------------------------------

    def remove(self, kernel_id: str) -> bool:
        """Forget one kernel (it died or was stopped); True if it was pooled."""
        if self._starting.pop(kernel_id, None) is not None:
            return True
        for queue in self._ready.values():
            if kernel_id in queue:
                queue.remove(kernel_id)
                return True
        return False

    def drain(self, instance_id: str, workspace_key: str) -> list[str]:
        """Drop a workspace's pools (it is being deleted): its ready and starting kernel ids, to be stopped."""
        keys = {k for k in (*self._ready, *self._used) if _of(k, instance_id, workspace_key)}
        dropped = [kid for k in keys for kid in self._ready.pop(k, ())]
        for k in keys:
            self._used.pop(k, None)
        starting = [kid for kid, k in self._starting.items() if _of(k, instance_id, workspace_key)]
        for kid in starting:
            del self._starting[kid]
        return dropped + starting

    def drain_all(self) -> list[str]:
        dropped = self.ids()
        self._ready.clear()
        self._starting.clear()
        self._used.clear()
        return sorted(dropped)


def _of(key: PoolKey, instance_id: str, workspace_key: str) -> bool:
    return (key.instance_id, key.workspace_key) == (instance_id, workspace_key)
