"""Kernel quotas: how many kernels may run at once in all, per workspace and per user (0 = unlimited).

`KernelAdmissions.admit` is the one check, made by `KernelService.start` for every kernel start (sessions, the
kernels API, and any other starter: jobs, a warm pool). It counts the running kernels and the starts still under
way and records the new start in one serialised transaction (`store.admissions_repo`), so concurrent starts
cannot overshoot a limit. Over a limit is `QuotaExceededError` (400 `QuotaExceeded`, which the SDK does not
retry), naming the limit and its setting.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nbplane.errors import QuotaExceededError
from nbplane.scope import Scope
from nbplane.store import admissions_repo
from nbplane.store.admissions_repo import KernelCounts
from nbplane.store.db import Database


@dataclass(frozen=True)
class KernelQuota:
    max_kernels: int = 0
    max_per_workspace: int = 0
    max_per_user: int = 0

    @property
    def enabled(self) -> bool:
        return any((self.max_kernels, self.max_per_workspace, self.max_per_user))


def check(quota: KernelQuota, counts: KernelCounts, scope: Scope) -> None:
    """QuotaExceededError unless one more kernel fits every limit; `counts` include the starts under way."""
    for limit, count, setting, where in (
        (quota.max_per_user, counts.user, "NBPLANE_MAX_KERNELS_PER_USER", "for this user"),
        (
            quota.max_per_workspace,
            counts.workspace,
            "NBPLANE_MAX_KERNELS_PER_WORKSPACE",
            f"in workspace {scope.workspace_key}",
        ),
        (quota.max_kernels, counts.total, "NBPLANE_MAX_KERNELS", "on this server"),
    ):
        if limit and count >= limit:
            raise QuotaExceededError(
                f"Kernel quota exceeded: {count} kernel(s) are running or starting {where}, and the limit "
                f"({setting}) is {limit}. Shut down a kernel or delete a session, then try again.",
                limit=setting,
            )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class KernelAdmissions:
    """Admits kernel starts under a `KernelQuota`; does nothing (and touches no table) when it is unlimited."""

    def __init__(
        self,
        db: Database,
        quota: KernelQuota,
        *,
        start_timeout: float,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """`start_timeout`: how long a start may take; an admission several times older is from a server that
        died mid-start and no longer counts."""
        self.quota = quota
        self._db = db
        self._stale_after = timedelta(seconds=max(60.0, 4 * start_timeout))
        self._clock = clock

    async def admit(self, scope: Scope, created_by: str) -> str | None:
        """Record a start under the quota: its admission id (to `finish` or `release`), None when unlimited.
        Raises QuotaExceededError when a limit is reached."""
        if not self.quota.enabled:
            return None
        admission_id = str(uuid.uuid4())
        now = self._clock()
        async with self._db.write() as db:
            await admissions_repo.lock(db)
            await admissions_repo.purge_stale(db, now - self._stale_after)
            counts = await admissions_repo.counts(db, scope.instance_id, scope.workspace_key, created_by)
            check(self.quota, counts, scope)
            await admissions_repo.insert(db, admission_id, scope.instance_id, scope.workspace_key, created_by, now)
        return admission_id

    async def release(self, admission_id: str | None) -> None:
        """Forget an admission whose start failed (in its own transaction)."""
        if admission_id is None:
            return
        async with self._db.write() as db:
            await admissions_repo.remove(db, admission_id)
