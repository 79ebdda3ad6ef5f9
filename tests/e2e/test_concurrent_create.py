"""50 simultaneous creates for one path give one session and one kernel process (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

CONCURRENCY = 50


def _race(server: Server, path: str) -> None:
    clients = [server.sdk() for _ in range(CONCURRENCY)]
    kernels_before = {p.pid for p in server.kernel_processes()}

    def create(i: int):
        return clients[i].create_session(
            server.instance_id, server.workspace_key, CreateSessionDetails(path=path, type="notebook")
        )

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        responses = list(pool.map(create, range(CONCURRENCY)))

    assert {r.status for r in responses} == {201}
    assert len({r.data.id for r in responses}) == 1
    assert {r.data.lifecycle_state for r in responses} == {"ACTIVE"}
    assert len({r.data.kernel.id for r in responses}) == 1
    listed = server.sdk().list_sessions(server.instance_id, server.workspace_key, path=path).data.items
    assert len(listed) == 1
    new_kernels = {p.pid for p in server.kernel_processes()} - kernels_before
    assert len(new_kernels) == 1, f"expected one new kernel process, found {len(new_kernels)}"
    server.sdk().delete_session(server.instance_id, server.workspace_key, responses[0].data.id)


def test_concurrent_creates_sqlite(server: Server) -> None:
    _race(server, "race/sqlite.ipynb")


@pytest.mark.postgres
def test_concurrent_creates_postgres(pg_server: Server) -> None:
    _race(pg_server, "race/postgres.ipynb")
