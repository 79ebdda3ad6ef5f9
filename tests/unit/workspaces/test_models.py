"""Workspace keys and page tokens."""

from __future__ import annotations

import json

import pytest

from nbplane.errors import InvalidInputError
from nbplane.workspaces.models import PageCursor, SortBy, SortOrder, check_key, new_key


def test_generated_keys_survive_the_cli_and_jupyter_gateway() -> None:
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert check_key(key) == key and key == key.lower()
        with pytest.raises(json.JSONDecodeError):
            json.loads(key)  # the aidp CLI passes arguments through json.loads


@pytest.mark.parametrize("key", ["", "1a", "-a", "a b", "a/b", "a.b", "..", "null", "true", "é", "a" * 65])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidInputError):
        check_key(key)


def test_page_tokens_are_bound_to_their_sort() -> None:
    token = PageCursor(SortBy.DISPLAY_NAME, SortOrder.ASC, "b", "wsx").encode()
    assert token[0].isalpha()
    assert PageCursor.decode(token, SortBy.DISPLAY_NAME, SortOrder.ASC).key == "wsx"
    with pytest.raises(InvalidInputError):
        PageCursor.decode(token, SortBy.DISPLAY_NAME, SortOrder.DESC)
    for junk in ("x", "w", "w!!!", "wbnVsbA"):
        with pytest.raises(InvalidInputError):
            PageCursor.decode(junk, SortBy.DISPLAY_NAME, SortOrder.ASC)
