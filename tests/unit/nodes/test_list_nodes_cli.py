"""`nbplane admin list-nodes`: each server sharing the database, its address, its lease and its kernels."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from nbplane.cli import main
from nbplane.nodes import NodeRegistry, NodeTiming
from nbplane.store.db import Database


def test_list_nodes_shows_live_and_lapsed_leases(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite+aiosqlite:///{data / 'nbplane.db'}"
    now = datetime.now(UTC)

    async def register() -> None:
        db = Database(url)
        await db.migrate()
        await NodeRegistry(db, "live-node", "https://a:8443", NodeTiming(lease=600)).register()
        old = NodeRegistry(db, "old-node", None, NodeTiming(lease=30), clock=lambda: now - timedelta(hours=1))
        await old.register()
        await db.dispose()

    asyncio.run(register())
    result = CliRunner().invoke(main, ["admin", "list-nodes", "--data-dir", str(data)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("live-node  address=https://a:8443") and "lease=live" in lines[0]
    assert lines[1].startswith("old-node  address=-") and "lease=ran out" in lines[1]
    assert all(line.endswith("running_kernels=0") for line in lines)
