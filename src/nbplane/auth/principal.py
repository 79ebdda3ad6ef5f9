"""The authenticated caller: who signed or presented a token, and what it may reach."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PrincipalKind = Literal["user", "session", "token", "anonymous"]


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller.

    `user` signed with an API key, `session` with a session token's key, `token` presented an API token
    (which acts for `user_id` and only inside `workspace_scope`), `anonymous` presented nothing.
    """

    kind: PrincipalKind
    tenancy_id: str | None
    user_id: str | None
    workspace_scope: tuple[str, str] | None  # (instance_id, workspace_key); API tokens only
    display: str

    def __post_init__(self) -> None:
        if self.kind == "anonymous":
            if self.tenancy_id or self.user_id or self.workspace_scope:
                raise ValueError("an anonymous principal carries no identity")
            return
        if not self.tenancy_id or not self.user_id:
            raise ValueError(f"a {self.kind} principal needs tenancy_id and user_id")
        if (self.kind == "token") != (self.workspace_scope is not None):
            raise ValueError("workspace_scope is set for token principals and only for them")

    @classmethod
    def anonymous(cls) -> Principal:
        """The caller that presented no credentials."""
        return cls(kind="anonymous", tenancy_id=None, user_id=None, workspace_scope=None, display="anonymous")

    @property
    def key(self) -> str:
        """Stable identity of the acting user, for rate limiting and `created_by`.

        A user is the same principal whether it signs with an API key, a session token or an API token.
        """
        if self.kind == "anonymous":
            return "anonymous"
        return f"{self.tenancy_id}/{self.user_id}"

    def may_access_workspace(self, instance_id: str, workspace_key: str) -> bool:
        """False when an API token is used outside its workspace; tenant checks happen elsewhere."""
        if self.kind == "anonymous":
            return False
        return self.workspace_scope is None or self.workspace_scope == (instance_id, workspace_key)
