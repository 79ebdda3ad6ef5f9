"""Reading untrusted zip archives safely, and the plan of what one would extract.

Blocking code, run in a worker thread. Every entry name goes through `paths.normalize` (no `..`, no
absolute names, no backslashes or drive letters), symlinks, special files and encrypted entries are
refused, and sizes are checked twice: the declared ones before anything is inflated, the real ones while
inflating (a lying header cannot get past `max_bytes`).
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nbplane.contents import paths
from nbplane.errors import InvalidInputError, PayloadTooLargeError
from nbplane.workspace_objects.models import TreeLimits

_BLOCK = 1024 * 1024
_RATIO_FLOOR = 1024 * 1024  # small entries may compress as well as they like


@dataclass(frozen=True, slots=True)
class Extracted:
    """The archive's folders and files; each file's bytes are staged at `files[rel]`."""

    folders: list[str]
    files: dict[str, Path]


def extract_to_staging(archive: Path, staging: Path, limits: TreeLimits) -> Extracted:
    """Check the whole archive, then inflate its files into `staging` (flat, numbered names).

    InvalidInputError for a corrupt archive or an unsafe entry, PayloadTooLargeError past the limits.
    Nothing outside `staging` is written.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            entries = _plan(zf.infolist(), limits)
            staging.mkdir(parents=True, exist_ok=True)
            files: dict[str, Path] = {}
            total = 0
            for n, (rel, info) in enumerate(entries.files.items()):
                target = staging / f"{n:06d}"
                total = _inflate(zf, info, target, total, limits)
                files[rel] = target
    except zipfile.BadZipFile as exc:
        raise InvalidInputError(f"the archive is not a valid zip file: {exc}") from exc
    except (NotImplementedError, RuntimeError) as exc:  # unsupported compression, encryption
        raise InvalidInputError(f"the archive cannot be read: {exc}") from exc
    return Extracted(sorted(entries.folders, key=lambda f: f.count("/")), files)


@dataclass(slots=True)
class _Plan:
    folders: set[str]
    files: dict[str, zipfile.ZipInfo]


def _plan(infos: list[zipfile.ZipInfo], limits: TreeLimits) -> _Plan:
    if len(infos) > limits.max_entries:
        raise PayloadTooLargeError(f"the archive has more than {limits.max_entries} entries")
    plan = _Plan(set(), {})
    declared = 0
    for info in infos:
        rel, is_folder = _entry_path(info)
        if rel.count("/") >= limits.max_depth:
            raise InvalidInputError(f"entry {info.filename!r} nests deeper than {limits.max_depth} levels")
        parents = _parents(rel)
        clash = next((p for p in parents if p in plan.files), None)
        if clash is not None or rel in plan.files or (not is_folder and rel in plan.folders):
            raise InvalidInputError(f"entry {info.filename!r} appears twice or both as a file and a folder")
        plan.folders.update(parents)
        if is_folder:
            plan.folders.add(rel)
            continue
        declared += info.file_size
        if declared > limits.max_bytes:
            raise PayloadTooLargeError(f"the archive would extract to more than {limits.max_bytes} bytes")
        if info.file_size > _RATIO_FLOOR and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise PayloadTooLargeError(f"entry {info.filename!r} is compressed more than {limits.max_ratio}:1")
        plan.files[rel] = info
    return plan


def _entry_path(info: zipfile.ZipInfo) -> tuple[str, bool]:
    name = info.filename
    if info.flag_bits & 0x1:
        raise InvalidInputError(f"entry {name!r} is encrypted")
    mode = info.external_attr >> 16
    is_folder = name.endswith("/")
    if mode and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = "a symlink" if stat.S_ISLNK(mode) else "not a regular file or folder"
        raise InvalidInputError(f"entry {name!r} is {kind}")
    if name.startswith("/") or "\\" in name or "\0" in name:
        raise InvalidInputError(f"entry {name!r} is not a relative path")
    rel = paths.normalize(name)  # rejects `..`, `.`, drive letters, reserved and non-portable names
    if not rel:
        raise InvalidInputError(f"entry {name!r} has no name")
    return rel, is_folder or (mode != 0 and stat.S_ISDIR(mode))


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, total: int, limits: TreeLimits) -> int:
    written = 0
    with zf.open(info) as src, target.open("wb") as out:
        while block := src.read(_BLOCK):
            written += len(block)
            total += len(block)
            if written > info.file_size or total > limits.max_bytes:
                raise PayloadTooLargeError("the archive inflates past its declared sizes or the size limit")
            out.write(block)
    return total
