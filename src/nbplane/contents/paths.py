"""Content path normalisation: turn a decoded API path into a safe, workspace-relative POSIX path.

Pure and lexical. Leading slashes make a path workspace-absolute, never host-absolute: `/a.ipynb`,
`//a.ipynb` and `a.ipynb` are one file, and `/etc/passwd` names `<workspace>/etc/passwd`. Anything that
could escape the root or mean something else on another platform or object store is rejected with
InvalidInputError. Symlink confinement needs the filesystem and lives in `storage`.
"""

from __future__ import annotations

import re

from nbplane.errors import InvalidInputError

MAX_PATH_CHARS = 4096
MAX_SEGMENT_BYTES = 255
# Temporary files of atomic writes start with this; users may not name files so.
RESERVED_PREFIX = ".~nbplane"

_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$", "clock$"}
    | {f"com{c}" for c in "0123456789¹²³"}
    | {f"lpt{c}" for c in "0123456789¹²³"}
)
# Characters Windows forbids in names, plus backslash; ':' also covers drive letters and ADS streams.
_FORBIDDEN_CHARS = frozenset('\\:*?"<>|')
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


def normalize(path: str) -> str:
    """Return the canonical workspace-relative form of `path` ("" is the workspace root).

    Raises InvalidInputError for `.`/`..` segments, NUL and control characters, backslashes, colons,
    Windows-reserved names, trailing dots or spaces, over-long names and the reserved temp prefix.
    """
    if not isinstance(path, str):
        raise InvalidInputError("path must be a string")
    if len(path) > MAX_PATH_CHARS:
        raise InvalidInputError("path is too long")
    # Empty segments (leading '/', '//' or a trailing '/') carry no meaning, as on POSIX.
    segments = [s for s in path.split("/") if s != ""]
    for segment in segments:
        check_segment(segment)
    return "/".join(segments)


def check_segment(segment: str) -> None:
    """Reject one path segment (a file or directory name) that is unsafe or non-portable."""
    shown = ascii(segment)
    if segment in (".", ".."):
        raise InvalidInputError(f"path segment {shown} is not allowed")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in segment):
        raise InvalidInputError("path contains a control character")
    bad = _FORBIDDEN_CHARS.intersection(segment)
    if bad:
        raise InvalidInputError(f"path segment {shown} contains forbidden character {''.join(sorted(bad))!r}")
    try:
        encoded = segment.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError("path is not valid Unicode") from exc
    if len(encoded) > MAX_SEGMENT_BYTES:
        raise InvalidInputError(f"path segment is longer than {MAX_SEGMENT_BYTES} bytes")
    if segment[-1] in ". ":
        raise InvalidInputError(f"path segment {shown} ends with a dot or space")
    if segment.split(".", 1)[0].rstrip(" ").lower() in _WINDOWS_RESERVED:
        raise InvalidInputError(f"path segment {shown} is a reserved device name")
    if segment.startswith(RESERVED_PREFIX):
        raise InvalidInputError(f"names starting with {RESERVED_PREFIX!r} are reserved")


def check_identifier(value: str, what: str) -> str:
    """Validate an instance id or workspace key used as one directory name under the data root."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value) or value.endswith("."):
        raise InvalidInputError(f"invalid {what}")
    return value


def split(path: str) -> tuple[str, str]:
    """Split a normalised path into (parent, name); the root splits into ("", "")."""
    parent, _, name = path.rpartition("/")
    return parent, name


def join(parent: str, name: str) -> str:
    """Join a normalised parent and a checked name."""
    return f"{parent}/{name}" if parent else name


def is_within(path: str, ancestor: str) -> bool:
    """True when normalised `path` is `ancestor` or lies below it."""
    return ancestor == "" or path == ancestor or path.startswith(ancestor + "/")


_COPY_SUFFIX = re.compile(r"-Copy\d*\.")


def next_free_name(filename: str, taken: set[str], insert: str = "") -> str:
    """Jupyter's untitled/copy naming: `filename` if free, else `<base><insert><n><suffix>` for n = 1, 2, …

    The suffix is `.ipynb` for notebooks and everything from the first dot otherwise (`x.tar.gz`).
    """
    base, dot, ext = filename.rpartition(".")
    if ext != "ipynb":
        base, dot, ext = filename.partition(".")
    n = 0
    while True:
        name = f"{base}{insert}{n}{dot}{ext}" if n else filename
        if name not in taken:
            return name
        n += 1


def copy_base_name(name: str) -> str:
    """The name a copy starts from: `a-Copy2.ipynb` copies as `a.ipynb` (then numbered `-Copy<n>`)."""
    return _COPY_SUFFIX.sub(".", name)
