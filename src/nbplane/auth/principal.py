"""Who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Principal:
    """A verified caller. `workspace_scope` limits an API token to one (instance_id, workspace_key)."""

    kind: Literal["user", "session", "token", "anonymous"]
    tenancy_id: str | None
    user_id: str | None
    workspace_scope: tuple[str, str] | None = None
    display: str = ""

    @property
    def key(self) -> str:
        """Stable identity for rate limits, retry-token scopes and `created_by`."""
        if self.kind == "token":
            return f"token:{self.display}"
        return f"{self.kind}:{self.tenancy_id or '-'}/{self.user_id or '-'}"


ANONYMOUS = Principal(kind="anonymous", tenancy_id=None, user_id=None, display="anonymous")
