"""`if-match` comparison shared by every resource that has an etag."""

from __future__ import annotations


def etag_matches(if_match: str, current: str) -> bool:
    """Whether an `if-match` value admits `current`: `*`, or one of its comma-separated etags, compared
    as opaque strings with quotes and a weak `W/` prefix ignored."""
    for candidate in if_match.split(","):
        if candidate.strip().removeprefix("W/").strip('"') in ("*", current):
            return True
    return False
