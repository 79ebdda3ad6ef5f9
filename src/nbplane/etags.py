"""Etags and the `if-match` comparison shared by every resource that has one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from nbplane.errors import PreconditionFailedError


def etag_of(fields: Sequence[object]) -> str:
    """An opaque etag for a resource's stable fields (JSON values): 32 hex digits of their SHA-256."""
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:32]


def etag_matches(if_match: str, current: str) -> bool:
    """Whether an `if-match` value admits `current`: `*`, or one of its comma-separated etags, compared
    as opaque strings with quotes and a weak `W/` prefix ignored."""
    for candidate in if_match.split(","):
        if candidate.strip().removeprefix("W/").strip('"') in ("*", current):
            return True
    return False


def require_match(if_match: str | None, current: str, what: str) -> None:
    """PreconditionFailedError unless `if_match` is absent or admits `current` (the etag of the `what`)."""
    if if_match is not None and not etag_matches(if_match, current):
        raise PreconditionFailedError(f"The if-match value does not match the current etag of the {what}.")
