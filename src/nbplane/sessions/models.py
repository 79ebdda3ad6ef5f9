"""Domain objects of notebook sessions."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from nbplane.errors import InvalidInputError
from nbplane.etags import etag_of
from nbplane.kernels.base import KernelActivity
from nbplane.scope import Scope


class LifecycleState(StrEnum):
    CREATING = "CREATING"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"


class SortOrder(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True)
class NotebookSession:
    id: str
    scope: Scope
    name: str
    path: str | None
    type: str | None
    cluster_id: str | None
    agent_flow_key: str | None
    kernel_id: str | None
    kernel_name: str
    lifecycle_state: LifecycleState
    lifecycle_details: str | None
    created_by: str | None
    time_created: datetime
    time_updated: datetime

    @property
    def stable(self) -> list[str | None]:
        """What a client can change and the lifecycle, never kernel activity: what etags cover."""
        return [
            self.id,
            self.name,
            self.path,
            self.type,
            self.cluster_id,
            self.agent_flow_key,
            self.kernel_id,
            self.kernel_name,
            self.lifecycle_state.value,
        ]

    @property
    def etag(self) -> str:
        return etag_of(self.stable)


@dataclass(frozen=True)
class SessionView:
    """A session with its kernel's live state (None when this node has no news of the kernel) and what the
    kernel's row says (`kernel_status` running/stopped/dead/culled, with `kernel_reason`)."""

    session: NotebookSession
    kernel: KernelActivity | None
    kernel_status: str | None = None
    kernel_reason: str | None = None
    kernel_note: str | None = None  # why the state of a kernel another node runs is unknown here

    @property
    def kernel_gone(self) -> bool:
        return self.kernel is None and self.kernel_status in ("stopped", "dead", "culled")

    @property
    def execution_state(self) -> str:
        if self.kernel is not None:
            return self.kernel.execution_state
        if self.session.lifecycle_state is LifecycleState.CREATING:
            return "starting"
        if self.session.lifecycle_state is LifecycleState.FAILED or self.kernel_gone:
            return "dead"
        return "unknown"

    @property
    def lifecycle_details(self) -> str | None:
        """The session's own details, or, for an ACTIVE session whose kernel is not running, why and what
        revives it: the state and the kernel's never contradict each other without saying so."""
        if self.session.lifecycle_state is not LifecycleState.ACTIVE:
            return self.session.lifecycle_details
        dead_reason: str | None = None
        if self.kernel is not None and self.kernel.execution_state == "dead":
            dead_reason = self.kernel.reason or "the kernel died"
        elif self.kernel_gone:
            dead_reason = self.kernel_reason or f"the kernel was {self.kernel_status}"
        elif self.kernel is None and self.session.kernel_id and self.kernel_status == "running":
            if self.kernel_note:
                return f"The kernel's state is unknown here: {self.kernel_note}."
            return "The kernel runs on another nbplane server; its state is unknown here."
        if dead_reason is None:
            return self.session.lifecycle_details
        return (
            f"The session's kernel is not running ({dead_reason}). Create the session again for its path, "
            "or update it, to start a new kernel."
        )


class Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset()


@dataclass(frozen=True)
class CreateSessionRequest:
    path: str | None = None
    name: str | None = None
    type: str | None = None
    cluster_id: str | None = None
    agent_flow_key: str | None = None
    kernel_id: str | None = None
    kernel_name: str | None = None


@dataclass(frozen=True)
class PatchSessionRequest:
    """Fields left UNSET are not changed."""

    name: str | Unset = UNSET
    path: str | Unset | None = UNSET
    type: str | Unset | None = UNSET
    cluster_id: str | Unset | None = UNSET
    kernel_id: str | None = None
    kernel_name: str | None = None
    must_refresh_context: bool = False


@dataclass(frozen=True)
class PageCursor:
    """Keyset position after the last item of a page; serialised as an opaque letter-first token."""

    time_created: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.time_created.isoformat(), self.id]).encode()
        return "p" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> PageCursor:
        try:
            if not token.startswith("p"):
                raise ValueError(token)
            body = token[1:]
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            stamp, ident = json.loads(raw)
            when = datetime.fromisoformat(stamp)
            if when.tzinfo is None or not isinstance(ident, str):
                raise ValueError(token)
            return cls(when, ident)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise InvalidInputError("Invalid page token; pass the opc-next-page value unchanged.") from exc


@dataclass(frozen=True)
class ListSessionsQuery:
    path: str | None = None
    cluster_id: str | None = None
    agent_flow_key: str | None = None
    limit: int = 100
    page: PageCursor | None = None
    sort_order: SortOrder = SortOrder.DESC


@dataclass(frozen=True)
class SessionPage:
    items: list[SessionView] = field(default_factory=list)
    next_page: str | None = None
