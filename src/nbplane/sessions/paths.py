"""Session paths: the workspace file a session is for, checked by the contents rules (`contents.paths`).

Every segment must pass `contents.paths.check_segment` (no `.`/`..`, NUL or control characters, backslashes,
colons, reserved names...), so a session can never name a file outside its workspace. A leading `/` means the
workspace root, never the host's (`/data/a.ipynb` names `<workspace>/data/a.ipynb`, as for contents); it is kept
as sent, once, since clients read back the path they gave (the SDK's example is `/data/test.ipynb`). Repeated
and trailing slashes are dropped.
"""

from __future__ import annotations

from nbplane.contents import paths as content_paths
from nbplane.errors import InvalidInputError


def normalize(path: str) -> str:
    """The stored form of a session path; InvalidInputError naming the problem for one that breaks the rules."""
    if not isinstance(path, str):
        raise InvalidInputError("session path must be a string")
    try:
        relative = content_paths.normalize(path)
    except InvalidInputError as exc:
        raise InvalidInputError(f"invalid session path: {exc.message}") from None
    if not relative:
        raise InvalidInputError("invalid session path: it must name a file in the workspace, not its root")
    return "/" + relative if path.startswith("/") else relative


def problem(path: str | None) -> str | None:
    """Why a stored path breaks the rules (None when it is fine or absent); for reporting old rows."""
    if path is None:
        return None
    try:
        normalized = normalize(path)
    except InvalidInputError as exc:
        return exc.message
    return None if normalized == path else f"not in normal form (would be {normalized!r})"
