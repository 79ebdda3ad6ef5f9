"""Sorting and keyset paging of a folder listing.

A page token carries the sort and the last key it returned, so the next page starts strictly after that
object even when objects are added or removed in between. A token only works with the query it came from.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from nbplane.errors import InvalidInputError
from nbplane.workspace_objects.models import ListObjectsQuery, SortBy, SortOrder, WorkspaceObject

Key = tuple[int | str, ...]


def order_of(query: ListObjectsQuery) -> SortOrder:
    if query.sort_order is not None:
        return query.sort_order
    return SortOrder.DESC if query.sort_by is SortBy.TIME_CREATED else SortOrder.ASC


def key_of(obj: WorkspaceObject, sort_by: SortBy) -> Key:
    # The name is last so that every key is unique within a folder.
    if sort_by is SortBy.DISPLAY_NAME:
        return (obj.name.casefold(), obj.name)
    return (round(obj.created.timestamp() * 1_000_000), obj.name)


def _query_digest(query: ListObjectsQuery) -> str:
    types = sorted(query.types) if query.types is not None else None
    facts = [query.path, query.sort_by, order_of(query), types, query.display_name]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]


def encode_token(query: ListObjectsQuery, last: Key) -> str:
    raw = json.dumps([_query_digest(query), list(last)], separators=(",", ":")).encode()
    # Starts with a letter, so the CLI never reads it as a JSON number.
    return "p" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(query: ListObjectsQuery, token: str) -> Key:
    try:
        body = token.removeprefix("p")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        digest, last = json.loads(raw)
        key = tuple(last)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInputError("page is not a token this service issued") from exc
    if not token.startswith("p") or digest != _query_digest(query) or not key:
        raise InvalidInputError("page belongs to a different listing (path, filters or sort changed)")
    if any(not isinstance(part, int | str) for part in key):
        raise InvalidInputError("page is not a token this service issued")
    return key


def paginate(query: ListObjectsQuery, objects: list[WorkspaceObject]) -> tuple[list[WorkspaceObject], str | None]:
    """The page of `objects` the query asks for, and the token of the next page (None on the last)."""
    descending = order_of(query) is SortOrder.DESC
    keyed = sorted(((key_of(o, query.sort_by), o) for o in objects), key=lambda pair: pair[0], reverse=descending)
    if query.page is not None:
        last = decode_token(query, query.page)
        try:
            keyed = [(k, o) for k, o in keyed if (k < last if descending else k > last)]
        except TypeError as exc:  # a forged token whose key parts have the wrong types
            raise InvalidInputError("page is not a token this service issued") from exc
    page = keyed[: query.limit]
    more = len(keyed) > query.limit
    return [o for _, o in page], encode_token(query, page[-1][0]) if more and page else None
