"""Domain objects and rules of workspaces: keys, lifecycle, permissions, list queries and page tokens."""

from __future__ import annotations

import base64
import json
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from nbplane.errors import InvalidInputError
from nbplane.etags import etag_of
from nbplane.scope import Scope

DEFAULT_WORKSPACE_KEY = "default"
KEY_MAX_LENGTH = 64
_KEY_ALPHABET = string.ascii_lowercase + string.digits


class WorkspaceType(StrEnum):
    DEFAULT = "DEFAULT"  # the workspace every instance is created with
    USER = "USER"


class LifecycleState(StrEnum):
    CREATING = "CREATING"
    UPDATING = "UPDATING"
    ACTIVE = "ACTIVE"
    DELETING = "DELETING"
    DELETED = "DELETED"
    FAILED = "FAILED"


USABLE_STATES = frozenset({LifecycleState.ACTIVE, LifecycleState.UPDATING})
"""States in which a workspace serves sessions, contents and kernels."""


class Permission(StrEnum):
    """AIDP's workspace permissions. USER and PRIVILEGED_USER use the workspace (nbplane has nothing
    that tells them apart); ADMINISTRATOR also updates and deletes it and manages its permissions."""

    USER = "USER"
    PRIVILEGED_USER = "PRIVILEGED_USER"
    ADMINISTRATOR = "ADMINISTRATOR"


class SortBy(StrEnum):
    TIME_CREATED = "timeCreated"
    DISPLAY_NAME = "displayName"


class SortOrder(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


def default_order(sort_by: SortBy) -> SortOrder:
    """AIDP's defaults: newest first by time, A to Z by name."""
    return SortOrder.DESC if sort_by is SortBy.TIME_CREATED else SortOrder.ASC


def new_key() -> str:
    """A generated workspace key: lower case (Jupyter's gateway client lower-cases URLs), letter first
    and never a JSON literal, so the `aidp` CLI passes it through unchanged."""
    return "ws" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(12))


def check_key(key: str) -> str:
    """A key chosen by an operator: a letter, then letters, digits, `-` and `_` (never a JSON literal,
    never a path segment such as `..`). Raises InvalidInputError."""
    if not 1 <= len(key) <= KEY_MAX_LENGTH or not key[0].isascii() or not key[0].isalpha():
        raise InvalidInputError(f"A workspace key starts with a letter and has at most {KEY_MAX_LENGTH} characters.")
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in key):
        raise InvalidInputError("A workspace key uses only letters, digits, '-' and '_'.")
    if key in ("true", "false", "null", "nan", "inf", "infinity"):
        raise InvalidInputError(f"'{key}' reads as a JSON literal on the aidp command line; choose another key.")
    return key


@dataclass(frozen=True)
class Workspace:
    scope: Scope
    display_name: str
    description: str | None
    type: WorkspaceType
    lifecycle_state: LifecycleState
    lifecycle_details: str | None
    default_catalog_key: str | None
    created_by: str | None
    created_by_name: str | None
    updated_by: str | None
    updated_by_name: str | None
    time_created: datetime
    time_updated: datetime | None

    @property
    def key(self) -> str:
        return self.scope.workspace_key

    @property
    def etag(self) -> str:
        """Covers what a client can change and the lifecycle."""
        stable = [
            self.key,
            self.display_name,
            self.description,
            self.default_catalog_key,
            self.lifecycle_state.value,
            self.time_updated.isoformat() if self.time_updated else None,
        ]
        return etag_of(stable)


@dataclass(frozen=True)
class WorkspaceDetails:
    """What a caller sets on create (display_name required there) or update (None: unchanged)."""

    display_name: str | None = None
    description: str | None = None
    default_catalog_key: str | None = None


@dataclass(frozen=True)
class Grantee:
    """A user with the permissions it holds on a workspace."""

    user_id: str
    name: str
    permissions: tuple[Permission, ...]


@dataclass(frozen=True)
class PermissionChange:
    """One `manage_workspace_permission` call: revoke, then assign, in one transaction."""

    assign_users: tuple[str, ...] = ()
    assign: tuple[Permission, ...] = ()
    revoke_users: tuple[str, ...] = ()
    revoke: tuple[Permission, ...] = ()


@dataclass(frozen=True)
class PageCursor:
    """Keyset position after a page's last item, bound to the sort it was made for; an opaque
    letter-first token (the CLI parses arguments as JSON)."""

    sort_by: SortBy
    sort_order: SortOrder
    value: str
    key: str

    def encode(self) -> str:
        raw = json.dumps([self.sort_by.value, self.sort_order.value, self.value, self.key]).encode()
        return "w" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, sort_by: SortBy, sort_order: SortOrder) -> PageCursor:
        try:
            if not token.startswith("w"):
                raise ValueError(token)
            body = token[1:]
            by, order, value, key = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            cursor = cls(SortBy(by), SortOrder(order), str(value), str(key))
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise InvalidInputError("Invalid page token; pass the opc-next-page value unchanged.") from exc
        if (cursor.sort_by, cursor.sort_order) != (sort_by, sort_order):
            raise InvalidInputError("The page token was made for another sort; repeat the sortBy and sortOrder.")
        return cursor


@dataclass(frozen=True)
class ListWorkspacesQuery:
    lifecycle_state: LifecycleState | None = None
    display_name: str | None = None
    display_name_contains: str | None = None
    type: WorkspaceType | None = None
    is_private_network_enabled: bool | None = None
    limit: int = 100
    page: str | None = None
    sort_by: SortBy = SortBy.TIME_CREATED
    sort_order: SortOrder | None = None

    @property
    def order(self) -> SortOrder:
        return self.sort_order or default_order(self.sort_by)


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    next_page: str | None = None
