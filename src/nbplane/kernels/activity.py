"""Per-kernel execution state and last activity, derived from the kernel's own IOPub messages.

Only status messages whose parent request is a *user* message type move `execution_state` between
busy and idle; replies to server probes (kernel_info, comm_info, ...) only turn `starting` into
`idle`. This is the rule jupyter_server uses (untracked message types), so a server-side ping never
flips a user's `busy` to `idle` and never counts as user activity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

UNTRACKED_MESSAGE_TYPES = frozenset(
    {
        "comm_info_request",
        "comm_info_reply",
        "kernel_info_request",
        "kernel_info_reply",
        "shutdown_request",
        "shutdown_reply",
        "interrupt_request",
        "interrupt_reply",
        "debug_request",
        "debug_reply",
        "stream",
        "display_data",
        "update_display_data",
        "execute_input",
        "execute_result",
        "error",
        "status",
        "clear_output",
        "debug_event",
        "input_request",
        "input_reply",
    }
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ActivityTracker:
    """Folds IOPub messages into (execution_state, last_activity)."""

    def __init__(self, clock: Callable[[], datetime] = _utcnow) -> None:
        self._clock = clock
        self.execution_state = "starting"
        self.last_activity = clock()
        self.reason: str | None = None

    def observe(self, msg: dict[str, Any]) -> None:
        msg_type = msg.get("header", {}).get("msg_type", "")
        parent_type = (msg.get("parent_header") or {}).get("msg_type", "")
        tracked = msg_type not in UNTRACKED_MESSAGE_TYPES or parent_type not in UNTRACKED_MESSAGE_TYPES
        if tracked or self.execution_state == "busy":
            self.last_activity = self._clock()
        if msg_type != "status":
            return
        state = msg.get("content", {}).get("execution_state")
        if not isinstance(state, str):
            return
        if parent_type and parent_type not in UNTRACKED_MESSAGE_TYPES:
            self.execution_state = state
        elif self.execution_state in ("starting", "restarting", "autorestarting") and state == "idle":
            self.execution_state = "idle"

    def set_state(self, state: str, reason: str | None = None) -> None:
        """Lifecycle states the runtime learns of itself: restarting, autorestarting, dead."""
        self.execution_state = state
        self.reason = reason
        if state in ("restarting", "autorestarting"):
            self.last_activity = self._clock()
