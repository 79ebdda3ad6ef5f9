"""The unit of tenancy inside an instance."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """A workspace of an AI Data Platform instance; every session, kernel and file belongs to one."""

    instance_id: str
    workspace_key: str
