"""Fixtures for the contents domain: a ContentService over a temporary data dir with a settable clock."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from nbplane.contents import ChunkUpload, ContentLimits, ContentService
from nbplane.scope import Scope

INSTANCE = "ocid1.aidataplatform.oc1..x"
WORKSPACE = "ws1"
SCOPE = Scope(INSTANCE, WORKSPACE)


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    tmp: Path
    svc: ContentService
    clock: Clock
    renames: list[tuple[Scope, str, str]] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.tmp / "data" / INSTANCE / WORKSPACE

    @property
    def staging(self) -> Path:
        return self.tmp / "staging"

    def staged_uploads(self) -> list[Path]:
        updir = self.staging / "uploads"
        return list(updir.iterdir()) if updir.exists() else []


def make_env(tmp_path: Path, limits: ContentLimits | None = None) -> Env:
    clock = Clock()
    renames: list[tuple[Scope, str, str]] = []

    async def on_renamed(scope: Scope, old: str, new: str) -> None:
        renames.append((scope, old, new))

    svc = ContentService(tmp_path / "data", tmp_path / "staging", limits, on_renamed, clock=clock)
    svc.storage_for(SCOPE)  # creates the root
    return Env(tmp_path, svc, clock, renames)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


def notebook(source: str = "x = 1", *, png: str | None = None) -> dict:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    if png is not None:
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png})]
    nb.cells.append(cell)
    return nb


def notebook_bytes(source: str = "x = 1") -> bytes:
    return nbformat.writes(nbformat.from_dict(notebook(source))).encode()


def chunks_of(data: bytes, n: int, upload_id: str = "u-1", *, sha: str | None = None, size: int | None = None):
    """(ChunkUpload, base64 content) pairs cutting `data` into n slices; the last has index -1."""
    step = -(-len(data) // n)
    digest = sha or hashlib.sha256(data).hexdigest()
    total = len(data) if size is None else size
    out = []
    for i in range(n):
        index = -1 if i == n - 1 else i + 1
        piece = data[i * step : (i + 1) * step]
        out.append((ChunkUpload(upload_id, index, n, total, digest), base64.b64encode(piece).decode()))
    return out
