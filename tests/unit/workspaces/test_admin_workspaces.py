"""`nbplane admin` workspace commands: create-instance, create-workspace, grant, revoke, create-token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nbplane.store import workspaces_repo
from nbplane.store.db import Database
from tests.unit.auth.test_admin_cli import data_dir, run

__all__ = ["data_dir"]  # the fixture, shared with the other admin command tests


def _permissions(data: Path, instance: str, key: str, user: str) -> set[str]:
    async def go() -> set[str]:
        db = Database(f"sqlite+aiosqlite:///{data / 'nbplane.db'}")
        try:
            async with db.read() as session:
                return await workspaces_repo.permissions_of(session, instance, key, user)
        finally:
            await db.dispose()

    return asyncio.run(go())


@pytest.fixture
def tenancy(data_dir: Path) -> tuple[str, str, str]:
    """A tenancy with one user and an instance (created after the user, who becomes its administrator)."""
    d = ["--data-dir", str(data_dir)]
    tenancy = run("admin", "create-tenancy", *d).output.strip()
    first = run("admin", "create-user", "--tenancy", tenancy, *d).output.strip()
    instance = run("admin", "create-instance", "--tenancy", tenancy, *d).output.strip()
    return tenancy, first, instance


def test_operator_made_workspaces_open_to_the_tenancys_users(data_dir: Path, tenancy: tuple[str, str, str]) -> None:
    d = ["--data-dir", str(data_dir)]
    tenancy_id, first, instance = tenancy
    assert _permissions(data_dir, instance, "default", first) == {"ADMINISTRATOR"}
    assert (data_dir / "workspaces" / instance / "default").is_dir()

    later = run("admin", "create-user", "--tenancy", tenancy_id, *d).output.strip()
    assert _permissions(data_dir, instance, "default", later) == set()  # users added later need a grant
    made = run("admin", "create-workspace", "--instance", instance, "--key", "team", "--admin", later, *d)
    assert made.exit_code == 0, made.output
    assert _permissions(data_dir, instance, "team", later) == {"ADMINISTRATOR"}
    assert _permissions(data_dir, instance, "team", first) == set()

    assert run("admin", "grant", "--instance", instance, "--workspace", "team", "--user", first, *d).exit_code == 0
    assert _permissions(data_dir, instance, "team", first) == {"USER"}
    assert run("admin", "revoke", "--instance", instance, "--workspace", "team", "--user", first, *d).exit_code == 0
    assert _permissions(data_dir, instance, "team", first) == set()


def test_admin_commands_refuse_what_would_not_work(data_dir: Path, tenancy: tuple[str, str, str]) -> None:
    d = ["--data-dir", str(data_dir)]
    tenancy_id, _, instance = tenancy
    for key in ("1abc", "null", "a/b", "..", "x" * 65):
        assert run("admin", "create-workspace", "--instance", instance, "--key", key, *d).exit_code == 2, key
    assert run("admin", "create-workspace", "--instance", instance, "--key", "default", *d).exit_code == 1
    outsider_tenancy = run("admin", "create-tenancy", *d).output.strip()
    outsider = run("admin", "create-user", "--tenancy", outsider_tenancy, *d).output.strip()
    refused = run("admin", "create-workspace", "--instance", instance, "--key", "t2", "--admin", outsider, *d)
    assert refused.exit_code == 1 and "tenancy" in refused.output
    grant = run("admin", "grant", "--instance", instance, "--workspace", "default", "--user", outsider, *d)
    assert grant.exit_code == 1
    later = run("admin", "create-user", "--tenancy", tenancy_id, *d).output.strip()
    token = run("admin", "create-token", "--instance", instance, "--workspace", "default", "--user", later, *d)
    assert token.exit_code == 1 and "admin grant" in token.output
