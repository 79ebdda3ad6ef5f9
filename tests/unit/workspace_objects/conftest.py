"""Fixtures for the workspace objects domain: the services over a ContentService in a temporary data dir."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nbplane.contents import ContentService
from nbplane.scope import Scope
from nbplane.workspace_objects import TreeLimits, WorkspaceObjectService, ZipTransfers

SCOPE = Scope("ocid1.aidataplatform.oc1..x", "ws1")
OTHER = Scope("ocid1.aidataplatform.oc1..x", "ws2")


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    tmp: Path
    contents: ContentService
    objects: WorkspaceObjectService
    transfers: ZipTransfers
    clock: Clock
    renames: list[tuple[Scope, str, str]] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.tmp / "data" / SCOPE.instance_id / SCOPE.workspace_key

    def snapshot(self) -> dict[str, bytes | None]:
        base = self.tmp / "data"
        return {str(p.relative_to(base)): p.read_bytes() if p.is_file() else None for p in sorted(base.rglob("*"))}


def make_env(tmp_path: Path, limits: TreeLimits | None = None) -> Env:
    renames: list[tuple[Scope, str, str]] = []

    async def on_renamed(scope: Scope, old: str, new: str) -> None:
        renames.append((scope, old, new))

    clock = Clock()
    contents = ContentService(tmp_path / "data", tmp_path / "staging", on_renamed=on_renamed)
    contents.storage_for(SCOPE)
    contents.storage_for(OTHER)
    limits = limits or TreeLimits()
    transfers = ZipTransfers(contents, tmp_path / "staging", limits, clock=clock)
    return Env(tmp_path, contents, WorkspaceObjectService(contents, limits), transfers, clock, renames)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)
