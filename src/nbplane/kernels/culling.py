"""Idle and busy culling of kernels, as users asked for it (jupyter-lessons §3: EG #931, EG #665,
notebook #3896, nb2kg #31):

- an idle timeout and a separate busy timeout (a runaway cell can be stopped after hours while idle
  kernels go after minutes); either is off at 0;
- the idle clock starts at the later of the last activity and the busy→idle transition, so a long cell is
  never culled the moment it finishes;
- connected kernels are culled only when `cull_connected` is set (an open browser tab is a connection);
- attached clients are told (a `dead` status with the reason, then the socket closes with it), and the
  kernel row keeps `culled` and the reason, so get and list show it; the session comes back on its next
  create (or patch) with a new kernel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from nbplane.kernels.base import ExecutionState, KernelActivity
from nbplane.kernels.service import KernelService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CullPolicy:
    idle_timeout: float = 0.0
    busy_timeout: float = 0.0
    cull_connected: bool = False
    interval: float = 300.0

    @property
    def enabled(self) -> bool:
        return self.idle_timeout > 0 or self.busy_timeout > 0


def cull_reason(activity: KernelActivity, now: datetime, policy: CullPolicy) -> str | None:
    """Why the kernel should be culled now, or None to keep it."""
    if activity.connections and not policy.cull_connected:
        return None
    since = activity.state_since or activity.last_activity
    if activity.execution_state is ExecutionState.BUSY:
        busy_for = (now - since).total_seconds()
        if policy.busy_timeout > 0 and busy_for >= policy.busy_timeout:
            return f"culled: busy for {busy_for:.0f} s (the busy timeout is {policy.busy_timeout:g} s)"
        return None
    if activity.execution_state is ExecutionState.IDLE:
        idle_for = (now - max(activity.last_activity, since)).total_seconds()
        if policy.idle_timeout > 0 and idle_for >= policy.idle_timeout:
            return f"culled: idle for {idle_for:.0f} s (the idle timeout is {policy.idle_timeout:g} s)"
    return None  # starting, restarting or dead kernels are left to the runtime


class Culler:
    """Checks every kernel this node runs each `policy.interval` seconds; `clock` is injectable for tests."""

    def __init__(
        self, kernels: KernelService, policy: CullPolicy, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._kernels = kernels
        self._policy = policy
        self._clock = clock

    async def run_once(self) -> dict[str, str]:
        """Cull what is due now; returns the culled kernel ids with their reasons."""
        now = self._clock()
        culled: dict[str, str] = {}
        for kernel_id, activity in (await self._kernels.running_activity()).items():
            reason = cull_reason(activity, now, self._policy)
            if reason is not None:
                try:
                    await self._kernels.cull(kernel_id, reason)
                    culled[kernel_id] = reason
                except Exception:
                    log.exception("culling kernel %s failed", kernel_id)
        return culled

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self._policy.interval)
            try:
                await self.run_once()
            except Exception:
                log.exception("a culling pass failed")
