"""`nbplane admin create-cluster` and the clusters in `nbplane admin list`; a gateway token is stored and
never printed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nbplane.store.db import Database
from nbplane.store.tables import ClusterRow
from tests.unit.auth.test_admin_cli import data_dir, run

__all__ = ["data_dir"]

SECRET = "s3cr3t-gateway-token"


def _row(data: Path, instance: str, key: str) -> ClusterRow | None:
    async def go() -> ClusterRow | None:
        db = Database(f"sqlite+aiosqlite:///{data / 'nbplane.db'}")
        try:
            async with db.read() as session:
                return await session.get(ClusterRow, (instance, "default", key))
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_create_cluster_prints_its_key_and_never_the_token(data_dir: Path, tmp_path: Path) -> None:
    d = ["--data-dir", str(data_dir)]
    instance = run("admin", "create-instance", *d).output.strip()
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    made = run(
        "admin", "create-cluster", "--instance", instance, "--workspace", "default", "--name", "eg",
        "--gateway-url", "https://gw.example:8888/", "--gateway-token", SECRET, "--gateway-ca", str(ca),
        "--kernel-env", "KERNEL_USERNAME=alice", *d,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    assert key.startswith("cl") and SECRET not in made.output
    row = _row(data_dir, instance, key)
    assert row is not None
    assert (row.kind, row.gateway_url, row.gateway_token) == ("gateway", "https://gw.example:8888", SECRET)
    assert row.gateway_ca == ca.read_text() and row.kernel_env == {"KERNEL_USERNAME": "alice"}

    local = run("admin", "create-cluster", "--instance", instance, "--workspace", "default", "--name", "cpu", *d)
    assert local.exit_code == 0, local.output
    listed = run("admin", "list", *d)
    assert listed.exit_code == 0 and SECRET not in listed.output
    assert f"cluster default/{key}  gateway  ACTIVE  https://gw.example:8888" in listed.output
    assert "cluster default/default  local  ACTIVE  this server" in listed.output
    assert local.output.strip() in listed.output


def test_create_cluster_refuses_bad_input(data_dir: Path) -> None:
    d = ["--data-dir", str(data_dir)]
    instance = run("admin", "create-instance", *d).output.strip()
    base = ["admin", "create-cluster", "--instance", instance, "--name", "x", *d]
    assert run(*base, "--workspace", "nope").exit_code != 0
    assert run(*base, "--workspace", "default", "--gateway-token", "t").exit_code != 0  # no URL
    assert run(*base, "--workspace", "default", "--gateway-url", "ftp://x").exit_code != 0
    bad_env = run(*base, "--workspace", "default", "--gateway-url", "http://x", "--kernel-env", "PATH=/")
    assert bad_env.exit_code != 0
    listed = run("admin", "list", *d).output
    assert "cluster default/default" in listed and "cluster default/cl" not in listed  # only the default ones
