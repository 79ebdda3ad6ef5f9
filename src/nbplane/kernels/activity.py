"""A kernel's live state (`execution_state`, `last_activity`, `connections`) followed per request.

Jupyter Server decides by message type alone, so a status from its own probe can flip a user's
`busy` to `idle` and server nudges can look like activity (JS #1395, EG #1138). Here the kernel
is busy while any *user* request it reported busy for has not reported idle, and requests the
server sent itself never count.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from time import monotonic
from typing import Any

from nbplane.kernels.base import ExecutionState, KernelActivity

__all__ = ["UNTRACKED_REQUEST_TYPES", "ActivityTracker", "BoundedMap", "ExecutionState", "KernelActivity"]

log = logging.getLogger(__name__)

UNTRACKED_REQUEST_TYPES = frozenset({"kernel_info_request", "comm_info_request"})
"""Requests frontends send on every (re)connect: nudges, not user activity."""


class BoundedMap(OrderedDict[str, str]):
    """Insertion-ordered map that forgets its oldest entries beyond `limit`."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: str, value: str = "") -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


def utcnow() -> datetime:
    return datetime.now(UTC)


class ActivityTracker:
    """Folds client and kernel messages into a `KernelActivity`; pure, no I/O.

    `on_state_change` is called on every change of state or connections, and at most once per
    `notify_interval` seconds when only `last_activity` moved (output can be thousands of
    messages a second; every execution ends with an idle status, which always notifies).
    """

    def __init__(
        self,
        *,
        untracked_types: frozenset[str] = UNTRACKED_REQUEST_TYPES,
        on_state_change: Callable[[KernelActivity], None] | None = None,
        notify_interval: float = 1.0,
        max_busy: int = 1_000,
    ) -> None:
        self._untracked = untracked_types
        self._on_state_change = on_state_change
        self._notify_interval = notify_interval
        self._last_notify = float("-inf")
        self._busy_parents = BoundedMap(max_busy)
        self._state = ExecutionState.STARTING
        self._last_activity = utcnow()
        self._state_since = self._last_activity
        self._connections = 0
        self._reason: str | None = None

    @property
    def execution_state(self) -> ExecutionState:
        return self._state

    @property
    def last_activity(self) -> datetime:
        return self._last_activity

    @property
    def connections(self) -> int:
        return self._connections

    @property
    def reason(self) -> str | None:
        """Why the kernel is dead (or None)."""
        return self._reason

    @property
    def snapshot(self) -> KernelActivity:
        return KernelActivity(self._state, self._last_activity, self._connections, self._reason, self._state_since)

    @property
    def state_since(self) -> datetime:
        """When the current execution_state began."""
        return self._state_since

    def resume(self, last_activity: datetime) -> None:
        """Start from an activity time recorded elsewhere (a kernel adopted after a server restart)."""
        self._last_activity = last_activity
        self._notify(significant=True)

    def _enter(self, state: ExecutionState) -> None:
        if state is not self._state:
            self._state = state
            self._state_since = utcnow()

    def set_connections(self, count: int) -> None:
        if count != self._connections:
            self._connections = count
            self._notify(significant=True)

    def set_state(self, state: ExecutionState, reason: str | None = None) -> None:
        """Owner-known transitions; forgets busy requests, which a new process never reports idle.
        `reason` (why a kernel is dead) is kept until the next transition."""
        if state is ExecutionState.BUSY:
            raise ValueError("busy comes from the kernel, not from the owner")
        self._busy_parents.clear()
        self._reason = reason
        if state is not self._state:
            self._enter(state)
            self._notify(significant=True)

    def is_user_request(self, header: Mapping[str, Any], *, from_server: bool) -> bool:
        """A request of a tracked type that the server did not send itself."""
        msg_type = header.get("msg_type")
        return bool(msg_type) and msg_type not in self._untracked and not from_server

    def client_message(self, header: Mapping[str, Any]) -> None:
        """A client sent a message to the kernel."""
        if self.is_user_request(header, from_server=False):
            self._last_activity = utcnow()
            self._notify(significant=False)

    def kernel_message(self, msg: Mapping[str, Any], *, parent_from_server: bool) -> None:
        """An iopub message arrived; `parent_from_server` if it answers the server's own request."""
        parent = msg.get("parent_header") or {}
        user = self.is_user_request(parent, from_server=parent_from_server)
        before = self._state
        if msg.get("header", {}).get("msg_type") == "status":
            self._apply_status(msg.get("content", {}).get("execution_state"), parent, user)
        if user:
            self._last_activity = utcnow()
        if user or self._state is not before:
            self._notify(significant=self._state is not before)

    def _apply_status(self, status: object, parent: Mapping[str, Any], user: bool) -> None:
        if status == "starting" and not parent:
            # A fresh kernel process: whatever was busy before will never report idle.
            self._busy_parents.clear()
            return
        if status not in ("busy", "idle"):
            return
        if user and status == "busy":
            self._busy_parents.put(str(parent.get("msg_id")))
        elif user:
            self._busy_parents.pop(str(parent.get("msg_id")), None)
        if self._state is ExecutionState.DEAD:
            return  # only the owner declares a dead kernel alive again
        # Any status ends starting/restarting; only user requests make it busy.
        self._enter(ExecutionState.BUSY if self._busy_parents else ExecutionState.IDLE)

    def _notify(self, *, significant: bool) -> None:
        if self._on_state_change is None:
            return
        now = monotonic()
        if not significant and now - self._last_notify < self._notify_interval:
            return
        self._last_notify = now
        try:
            self._on_state_change(self.snapshot)
        except Exception:
            log.exception("on_state_change callback failed")
