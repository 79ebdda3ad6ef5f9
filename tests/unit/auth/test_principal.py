"""The Principal dataclass."""

from __future__ import annotations

import pytest

from nbplane.auth.principal import Principal


def test_key_is_the_acting_user() -> None:
    user = Principal("user", "t1", "u1", None, "u1")
    session = Principal("session", "t1", "u1", None, "u1 (session)")
    token = Principal("token", "t1", "u1", ("inst", "ws"), "u1 (token abc)")
    assert user.key == session.key == token.key == "t1/u1"
    assert Principal.anonymous().key == "anonymous"


def test_workspace_scope() -> None:
    token = Principal("token", "t1", "u1", ("inst", "ws"), "tok")
    assert token.may_access_workspace("inst", "ws")
    assert not token.may_access_workspace("inst", "ws2")
    assert Principal("user", "t1", "u1", None, "u1").may_access_workspace("inst", "ws2")
    assert not Principal.anonymous().may_access_workspace("inst", "ws")


@pytest.mark.parametrize(
    "args",
    [
        ("user", None, "u1", None),
        ("session", "t1", "", None),
        ("user", "t1", "u1", ("i", "w")),
        ("token", "t1", "u1", None),
        ("anonymous", "t1", None, None),
    ],
)
def test_invalid_combinations(args: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        Principal(*args, display="x")  # type: ignore[arg-type]


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        Principal.anonymous().kind = "user"  # type: ignore[misc]
