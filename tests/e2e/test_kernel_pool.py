"""The warm kernel pool on a real server (NBPLANE_KERNEL_POOL_SIZE=1), driven with Oracle's SDK: a session
gets the pooled kernel (in its own workspace folder, with its own session name), the pool refills, a pooled
kernel that died is not handed out, and two workspaces never share a pooled kernel."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import oci
import psutil
import pytest
from aidp_python_client.aidataplatform_dp import WorkspaceClient
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails, CreateWorkspaceDetails

from tests.e2e.conftest import Server, start_server, stop_server, workspace_token
from tests.e2e.wsclient import V1, KernelSocket, new_session_id

pytestmark = pytest.mark.e2e

NO_RETRY = oci.retry.NoneRetryStrategy()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("pool") / "data", env={"NBPLANE_KERNEL_POOL_SIZE": "1"})
    yield running
    stop_server(running)


def _rows(server: Server) -> list[tuple[str, str, str, int | None]]:
    """(id, status, workspace_key, pid) of every kernel row, read from the server's SQLite database."""
    with sqlite3.connect(server.data_dir / "nbplane.db", timeout=30) as db:
        return list(db.execute("SELECT id, status, workspace_key, pid FROM kernels"))


def _pooled(server: Server, workspace_key: str, *, besides: frozenset[str] = frozenset()) -> tuple[str, int]:
    """Wait (generously, nothing is timed) for a pooled kernel of the workspace other than `besides`."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for kid, status, key, pid in _rows(server):
            if status == "pooled" and key == workspace_key and kid not in besides and pid is not None:
                return kid, pid
        time.sleep(0.1)
    raise AssertionError(f"no pooled kernel for {workspace_key}: {_rows(server)}")


def _run(server: Server, workspace_key: str, kernel_id: str, code: str) -> str:
    """Run `code` in the kernel over its websocket; its stdout."""

    async def go() -> str:
        base = server.endpoint.replace("https://", "wss://")
        path = f"/20260430/aiDataPlatforms/{server.instance_id}/workspaces/{workspace_key}/notebook"
        url = f"{base}{path}/api/kernels/{kernel_id}/channels?session_id={new_session_id()}"
        headers = {"Authorization": f"token {_token(server, workspace_key)}"}
        context = ssl.create_default_context(cafile=server.ca_bundle)
        sock = await KernelSocket.open(url, protocol=V1, headers=headers, ssl_context=context)
        try:
            result = await sock.execute(code)
            assert result.reply["content"]["status"] == "ok", result.reply["content"]
            return result.stdout
        finally:
            await sock.close()

    return asyncio.run(go())


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} is still running")


def _uid(server: Server, kernel_id: str) -> int:
    """The uid the kernel's ipykernel process runs as (the workspace's own under kernel isolation)."""
    for proc in server.kernel_processes():
        if any(f"kernel-{kernel_id}.json" in part for part in proc.cmdline()):
            return int(proc.uids().real)
    raise AssertionError(f"no process for kernel {kernel_id}")


_TOKENS: dict[str, str] = {}


def _token(server: Server, workspace_key: str) -> str:
    if workspace_key == server.workspace_key:
        return workspace_token(server)
    if workspace_key not in _TOKENS:
        _TOKENS[workspace_key] = server.nbplane(
            "admin", "create-token", "--instance", server.instance_id, "--workspace", workspace_key
        )
    return _TOKENS[workspace_key]


def _create(server: Server, workspace_key: str, path: str) -> str:
    client = server.sdk(retry_strategy=NO_RETRY)
    session = client.create_session(server.instance_id, workspace_key, CreateSessionDetails(path=path)).data
    assert session.lifecycle_state == "ACTIVE" and session.kernel.execution_state == "idle"
    return str(session.kernel.id)


def _listed(server: Server, workspace_key: str) -> set[str]:
    path = f"/20260430/aiDataPlatforms/{server.instance_id}/workspaces/{workspace_key}/notebook/api/kernels"
    with server.http() as client:
        response = client.get(path)
        assert response.status_code == 200, response.text
        return {k["id"] for k in response.json()}


WHERE = "import os; print(__session__, os.getcwd(), sep='|')"


def test_a_session_gets_the_pooled_kernel_and_the_pool_refills(server: Server) -> None:
    key = server.workspace_key
    first = _create(server, key, "pool/first.ipynb")  # the workspace's first start is cold and makes its pool
    pooled, _ = _pooled(server, key)
    assert pooled != first
    assert _listed(server, key) == {first}  # a pooled kernel is nobody's kernel

    second = _create(server, key, "pool/second.ipynb")
    assert second == pooled
    session_name, cwd = _run(server, key, second, WHERE).strip().split("|")
    assert session_name == "pool/second.ipynb"  # the session's name reached the warm kernel
    assert Path(cwd) == server.data_dir / "workspaces" / server.instance_id / key
    assert _uid(server, second) == _uid(server, first)  # the workspace's user, as a cold start's

    refill, _ = _pooled(server, key, besides=frozenset({pooled}))
    assert refill not in (first, second)
    assert _listed(server, key) == {first, second}


def test_a_pooled_kernel_that_died_is_not_handed_out(server: Server) -> None:
    key = server.workspace_key
    pooled, pid = _pooled(server, key)
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    fresh = _create(server, key, "pool/after-death.ipynb")
    assert fresh != pooled
    assert _run(server, key, fresh, "print(6 * 7)").strip() == "42"
    assert dict((kid, status) for kid, status, _, _ in _rows(server))[pooled] == "dead"


def test_pooled_kernels_never_cross_workspaces(server: Server) -> None:
    config = oci.config.from_file(server.oci_config, server.profile)
    workspaces = WorkspaceClient(config, service_endpoint=server.endpoint, retry_strategy=NO_RETRY)
    other = workspaces.create_workspace(server.instance_id, CreateWorkspaceDetails(display_name="pool-2")).data.key
    _pooled(server, server.workspace_key)  # the first workspace has its pool (from the tests above)
    cold = _create(server, other, "elsewhere/first.ipynb")
    theirs, _ = _pooled(server, other)
    assert _uid(server, theirs) == _uid(server, cold)
    mine = {kid for kid, status, k, _ in _rows(server) if status == "pooled" and k == server.workspace_key}
    assert theirs not in mine

    got = _create(server, other, "elsewhere/second.ipynb")
    assert got == theirs
    _, cwd = _run(server, other, got, WHERE).strip().split("|")
    assert Path(cwd) == server.data_dir / "workspaces" / server.instance_id / other
    assert got not in _listed(server, server.workspace_key)
    [first_workspace_kernel, *_] = _listed(server, server.workspace_key)
    if _uid(server, first_workspace_kernel) != os.getuid():  # kernels run as per-workspace users
        assert _uid(server, got) != _uid(server, first_workspace_kernel)

    _, refill_pid = _pooled(server, other, besides=frozenset({theirs}))
    workspaces.delete_workspace(server.instance_id, other)  # its pool goes with it
    _wait_gone(refill_pid)


def test_restarts_keep_user_kernels_and_never_take_over_a_pool(tmp_path: Path) -> None:
    """A SIGTERM in the keep mode keeps the session's kernel and stops the pool; after a crash (kill -9) the next
    server stops the old pool's kernels as orphans; the re-adopted session kernel is the same either way."""
    data_dir = tmp_path / "data"
    pool = {"NBPLANE_KERNEL_POOL_SIZE": "1", "NBPLANE_KERNELS_ON_STOP": "keep"}
    first = start_server(data_dir, env=pool)
    try:
        kept = _create(first, first.workspace_key, "restart/a.ipynb")
        pooled, pooled_pid = _pooled(first, first.workspace_key)
    finally:
        stop_server(first)  # SIGTERM, keep mode
    _wait_gone(pooled_pid)
    rows = {kid: status for kid, status, _, _ in _rows(first)}
    assert rows[kept] == "running" and rows[pooled] == "stopped"

    second = start_server(data_dir, env=pool)
    try:
        assert _create(second, second.workspace_key, "restart/a.ipynb") == kept  # re-adopted, not replaced
        assert _run(second, second.workspace_key, kept, "print('still here')").strip() == "still here"
        assert not any(status == "pooled" for _, status, _, _ in _rows(second))  # no pool before a start
        fresh = _create(second, second.workspace_key, "restart/b.ipynb")  # a start: the pool comes back
        left, left_pid = _pooled(second, second.workspace_key)
    finally:
        second.process.kill()  # a crash: nothing is stopped
        second.process.wait()
    assert psutil.pid_exists(left_pid)

    third = start_server(data_dir)  # stop mode: this test leaves nothing behind
    try:
        _wait_gone(left_pid)  # the crashed server's pooled kernel was an orphan to this one
        rows = {kid: status for kid, status, _, _ in _rows(third)}
        assert rows[left] == "stopped" and rows[kept] == "running" and rows[fresh] == "running"
        assert _listed(third, third.workspace_key) == {kept, fresh}
    finally:
        stop_server(third)
