"""The package root exposes exactly its declared public names."""

from __future__ import annotations

import nbplane.auth


def test_all_names_exist() -> None:
    missing = [name for name in nbplane.auth.__all__ if not hasattr(nbplane.auth, name)]
    assert missing == []
    assert sorted(nbplane.auth.__all__) == nbplane.auth.__all__
