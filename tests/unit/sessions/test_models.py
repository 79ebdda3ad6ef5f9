"""Page tokens and etags."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from nbplane.errors import InvalidInputError
from nbplane.scope import Scope
from nbplane.sessions.models import LifecycleState, NotebookSession, PageCursor


def test_page_cursor_round_trips_and_is_never_a_json_literal() -> None:
    cursor = PageCursor(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "0f1e2d3c-aaaa")
    token = cursor.encode()
    assert token[0].isalpha()
    with pytest.raises(json.JSONDecodeError):
        json.loads(token)
    assert PageCursor.decode(token) == cursor


@pytest.mark.parametrize("token", ["", "x", "p", "p!!!", "1234", "pWzEsMl0", "cGxhaW4"])
def test_bad_page_tokens_are_invalid_input(token: str) -> None:
    with pytest.raises(InvalidInputError):
        PageCursor.decode(token)


def _session(**changes: object) -> NotebookSession:
    now = datetime.now(UTC)
    base = dict(
        id="s1",
        scope=Scope("i", "w"),
        name="n",
        path="p",
        type="notebook",
        cluster_id=None,
        agent_flow_key=None,
        kernel_id="k1",
        kernel_name="python3",
        lifecycle_state=LifecycleState.ACTIVE,
        lifecycle_details=None,
        created_by="u",
        time_created=now,
        time_updated=now,
    )
    base.update(changes)
    return NotebookSession(**base)  # type: ignore[arg-type]


def test_etag_tracks_client_changes_only() -> None:
    base = _session()
    assert base.etag == _session(time_updated=datetime(2000, 1, 1, tzinfo=UTC)).etag
    for change in ({"name": "m"}, {"path": "q"}, {"cluster_id": "c"}, {"kernel_id": "k2"}, {"type": "file"}):
        assert _session(**change).etag != base.etag
