"""Kernels outlive the server: after `kill -9` or a SIGTERM (in the mode that keeps kernels) the next server
on the same data dir re-adopts them with their state; orphans are stopped; kernels that died meanwhile are
reported dead with a reason."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psutil
import pytest
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails

from tests.conftest import SKIP_NO_POSTGRES, PostgresDatabases
from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.test_kernels_ws import _socket

pytestmark = pytest.mark.e2e

KEEP = {"NBPLANE_KERNELS_ON_STOP": "auto"}  # what users run: SIGTERM keeps kernels, Ctrl-C stops them


async def _evaluate(server: Server, kernel_id: str, code: str) -> str:
    sock = await _socket(server, kernel_id, None)
    try:
        run = await sock.execute(code)
        results = run.of_type("execute_result")
        return str(results[0]["content"]["data"]["text/plain"]) if results else ""
    finally:
        await sock.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_database(request: pytest.FixtureRequest, postgres_databases: PostgresDatabases | None) -> str | None:
    """None: the server's embedded SQLite; else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    if postgres_databases is None:
        pytest.skip(SKIP_NO_POSTGRES)
    return postgres_databases.new()


def _pids(server: Server) -> list[int]:
    return sorted(p.pid for p in server.kernel_processes())


@pytest.mark.parametrize("stop", ["kill -9", "SIGTERM"])
async def test_kernels_survive_the_server_with_their_state(
    tmp_path: Path, stop: str, server_database: str | None
) -> None:
    data_dir = tmp_path / "data"
    database_url = server_database
    first = start_server(data_dir, database_url, env=KEEP)
    try:
        sdk = first.sdk()
        sessions = [
            sdk.create_session(first.instance_id, first.workspace_key, CreateSessionDetails(path=f"s/{n}.ipynb")).data
            for n in range(3)
        ]
        for s in sessions:
            assert await _evaluate(first, s.kernel.id, "x = 42; x") == "42"
        pids = _pids(first)
        assert len(pids) == 3
    finally:
        if stop == "kill -9":
            first.process.kill()
            first.process.wait()
        else:
            stop_server(first)
    if stop == "SIGTERM":
        assert "Leaving 3 kernel(s) running" in first.log.read_text()
    assert _pids(first) == pids  # the kernel processes outlived the server

    second = start_server(data_dir, database_url, env={"NBPLANE_KERNELS_ON_STOP": "stop"})
    try:
        assert "3 re-adopted, 0 dead" in second.log.read_text()
        listed = {
            s.id: s for s in second.sdk().list_sessions(second.instance_id, second.workspace_key, limit=10).data.items
        }
        assert set(listed) == {s.id for s in sessions}
        for s in sessions:
            again = listed[s.id]
            assert again.lifecycle_state == "ACTIVE"
            assert again.kernel.id == s.kernel.id
            assert again.kernel.execution_state == "idle"
            assert await _evaluate(second, s.kernel.id, "x") == "42"
        assert _pids(second) == pids  # no kernel was started or lost
    finally:
        stop_server(second)
    assert _pids(second) == []  # the stop mode ends them


def _process_of(server: Server, kernel_id: str) -> psutil.Process:
    return next(p for p in server.kernel_processes() if any(kernel_id in part for part in p.cmdline()))


async def test_orphans_are_stopped_and_kernels_that_died_are_reported(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, env=KEEP)
    try:
        sdk = first.sdk()
        dies, lives = (
            sdk.create_session(first.instance_id, first.workspace_key, CreateSessionDetails(path=p)).data
            for p in ("dies.ipynb", "lives.ipynb")
        )
        with first.http() as http:
            started = http.post(f"{first.notebook_path}/api/kernels", json={})
            assert started.status_code == 201, started.text
            orphan = started.json()["id"]
        dying, orphaned = _process_of(first, dies.kernel.id), _process_of(first, orphan)
    finally:
        stop_server(first)  # SIGTERM in the keep mode: all three keep running
    dying.kill()  # dies while no server runs
    dying.wait(10)
    with sqlite3.connect(data_dir / "nbplane.db") as db:  # its row is lost (e.g. a database restored from backup)
        assert db.execute("DELETE FROM kernels WHERE id = ?", (orphan,)).rowcount == 1

    second = start_server(data_dir, env={"NBPLANE_KERNELS_ON_STOP": "stop"})
    try:
        assert "1 re-adopted, 1 dead, 1 unrecorded kernel process(es) stopped" in second.log.read_text()
        assert not orphaned.is_running() or orphaned.status() == psutil.STATUS_ZOMBIE
        sdk = second.sdk()
        got = sdk.get_session(second.instance_id, second.workspace_key, dies.id).data
        assert got.lifecycle_state == "ACTIVE"
        assert got.kernel.execution_state == "dead"
        with second.http() as http:  # lifecycleDetails is an nbplane addition the SDK model does not read
            details = http.get(f"{second.sessions_path}/{dies.id}").json()["lifecycleDetails"]
            assert "ended while no server was running" in details and "Create the session again" in details
            assert http.get(f"{second.sessions_path}/{lives.id}").json().get("lifecycleDetails") is None
        alive = sdk.get_session(second.instance_id, second.workspace_key, lives.id).data
        assert (alive.kernel.id, alive.kernel.execution_state) == (lives.kernel.id, "idle")
        revived = sdk.create_session(
            second.instance_id, second.workspace_key, CreateSessionDetails(path="dies.ipynb")
        ).data
        assert revived.id == dies.id and revived.kernel.id != dies.kernel.id
        assert revived.kernel.execution_state == "idle"
    finally:
        stop_server(second)


def test_kernels_stop_ends_the_kernels_a_stopped_server_left_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, env=KEEP)
    try:
        sdk = server.sdk()
        for name in ("a.ipynb", "b.ipynb"):
            sdk.create_session(server.instance_id, server.workspace_key, CreateSessionDetails(path=name))
        kept = server.kernel_processes()
        assert len(kept) == 2
        with pytest.raises(AssertionError, match="is running on"):  # never behind a live server's back
            server.nbplane("kernels", "stop")
    finally:
        stop_server(server)  # SIGTERM: kept
    assert all(p.is_running() for p in kept)
    assert server.nbplane("kernels", "stop") == "Stopped 2 kernel(s); 0 were already gone."
    _, alive = psutil.wait_procs(kept, timeout=15)
    assert alive == []


async def test_a_restarted_kernel_survives_the_server_too(tmp_path: Path) -> None:
    """A restart relaunches the kernel under a new pid; the stored record follows, so a later server adopts it
    instead of finding it gone (and stopping it as an orphan)."""
    data_dir = tmp_path / "data"
    first = start_server(data_dir, env=KEEP)
    try:
        session = (
            first.sdk()
            .create_session(first.instance_id, first.workspace_key, CreateSessionDetails(path="r.ipynb"))
            .data
        )
        before = _pids(first)
        with first.http() as http:
            restarted = http.post(f"{first.notebook_path}/api/kernels/{session.kernel.id}/restart", json={})
            assert restarted.status_code == 200, restarted.text
        assert _pids(first) != before  # a new process
        assert await _evaluate(first, session.kernel.id, "y = 7; y") == "7"
        pids = _pids(first)
    finally:
        first.process.kill()
        first.process.wait()
    second = start_server(data_dir, env={"NBPLANE_KERNELS_ON_STOP": "stop"})
    try:
        assert "1 re-adopted, 0 dead, 0 unrecorded" in second.log.read_text()
        assert await _evaluate(second, session.kernel.id, "y") == "7"
        assert _pids(second) == pids
    finally:
        stop_server(second)
