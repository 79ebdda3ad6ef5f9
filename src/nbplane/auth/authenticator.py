"""The authentication seam: turn the facts of a request into a Principal, or refuse it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from nbplane.auth.principal import ANONYMOUS, Principal


@dataclass(frozen=True)
class RequestFacts:
    """What authentication may look at, independent of the web framework.
    `raw_path` and `query_string` are exactly as received (undecoded)."""

    method: str
    raw_path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes


class Authenticator(Protocol):
    async def authenticate(self, request: RequestFacts) -> Principal:
        """Return the verified caller; raise NotAuthenticatedError when it cannot be established."""
        ...


class OpenAuthenticator:
    """Accepts every request as the anonymous principal (loopback development only)."""

    async def authenticate(self, request: RequestFacts) -> Principal:
        return ANONYMOUS
