"""Reading a workspace tree through `ContentStorage`: object facts, bounded recursive walks, notebook outputs."""

from __future__ import annotations

import json
import mimetypes
from collections import deque
from dataclasses import dataclass

from nbplane import jsonbounds
from nbplane.contents import ContentStorage, EntryInfo, EntryKind
from nbplane.errors import InvalidInputError, NotFoundError, PayloadTooLargeError
from nbplane.workspace_objects.models import ObjectType, TreeLimits

NOTEBOOK_EXT = ".ipynb"
NOTEBOOK_MIMETYPE = "application/x-ipynb+json"


def api_path(rel: str) -> str:
    """The workspace-absolute form of a normalised path: `a/b` is `/a/b`, the root is `/`."""
    return "/" + rel


def type_of(info: EntryInfo) -> ObjectType:
    """Folders by kind, notebooks by the .ipynb extension (the contents API's rule), the rest are files."""
    if info.kind is EntryKind.DIRECTORY:
        return ObjectType.FOLDER
    return ObjectType.NOTEBOOK if info.path.endswith(NOTEBOOK_EXT) else ObjectType.FILE


def mimetype_of(info: EntryInfo) -> str | None:
    if info.kind is EntryKind.DIRECTORY:
        return None
    if info.path.endswith(NOTEBOOK_EXT):
        return NOTEBOOK_MIMETYPE
    return mimetypes.guess_type(info.path)[0] or "application/octet-stream"


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One entry below a walked folder; `rel` is relative to that folder."""

    rel: str
    info: EntryInfo


async def walk(storage: ContentStorage, root: str, limits: TreeLimits) -> list[TreeEntry]:
    """Every folder and file below `root` (parents before children), within the limits; entries that are no
    objects of the workspace (dangling symlinks, symlinks leading outside, special files) are left out.

    PayloadTooLargeError past `max_entries` or `max_bytes`, InvalidInputError past `max_depth` (which is
    also what a symlink loop inside the workspace runs into).
    """
    out: list[TreeEntry] = []
    total = 0
    pending: deque[tuple[str, int]] = deque([("", 0)])
    while pending:
        rel, depth = pending.popleft()
        if depth > limits.max_depth:
            raise InvalidInputError(f"folders nest deeper than {limits.max_depth} levels")
        folder = f"{root}/{rel}".strip("/") if root else rel
        for name in await storage.listdir(folder):
            child_rel = f"{rel}/{name}" if rel else name
            try:
                info = await storage.stat(f"{folder}/{name}" if folder else name)
            except (NotFoundError, InvalidInputError):
                continue  # gone meanwhile, dangling, or a symlink leading outside: not an object here (as in lists)
            out.append(TreeEntry(child_rel, info))
            if len(out) > limits.max_entries:
                raise PayloadTooLargeError(f"more than {limits.max_entries} objects below /{root}")
            if info.kind is EntryKind.DIRECTORY:
                pending.append((child_rel, depth + 1))
            else:
                total += info.size or 0
                if total > limits.max_bytes:
                    raise PayloadTooLargeError(f"the files below /{root} exceed {limits.max_bytes} bytes")
    return out


def strip_outputs(data: bytes, shown: str) -> bytes:
    """A notebook's bytes with every code cell's outputs and execution count cleared.

    The document is otherwise kept as it is (no nbformat upgrade); InvalidInputError if it is not a notebook.
    """
    try:
        nb = jsonbounds.loads(data)
    except jsonbounds.JsonTooDeepError as exc:
        raise InvalidInputError(f"{shown} is not a valid notebook: {exc}") from None
    except ValueError as exc:
        raise InvalidInputError(f"{shown} is not a valid notebook: not JSON") from exc
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise InvalidInputError(f"{shown} is not a valid notebook: no cells")
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return (json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
