"""Two nbplane servers on one PostgreSQL database, as one service: a session created through A runs code
through B's websocket (B proxies to A, which runs the kernel); after `kill -9` of A (and of its kernels: the
machine is gone), B reports A's kernel `unknown`, then `dead`, and a create through B revives the session."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import oci
import pytest
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails, Kernel, PatchSessionDetails
from websockets.exceptions import ConnectionClosed

from tests.conftest import SKIP_NO_POSTGRES, PostgresDatabases
from tests.e2e.conftest import Server, start_server, stop_server, workspace_token
from tests.e2e.wsclient import V1, KernelSocket, new_session_id

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# Short leases so the test sees a node go, yet generous against a loaded machine (a beat each second, a lease
# of fifteen): A must not look gone while it runs. The grace period is long enough to be seen by polling.
NODE_ENV = {"NBPLANE_NODE_LEASE": "15", "NBPLANE_NODE_HEARTBEAT": "1", "NBPLANE_NODE_DEAD_AFTER": "10"}


def second_node_data_dir(first: Server, data_dir: Path) -> Path:
    """A data dir for another server of the same service: the shared signing key (session tokens and the
    node-to-node forwarding secret), the same TLS CA and certificate (one name behind a load balancer, and
    each node verifies the others against it) and the same first-run records; its own node id, runtime and
    kernels."""
    data_dir.mkdir(parents=True)
    for folder in ("keys", "tls", "oci"):
        shutil.copytree(first.data_dir / folder, data_dir / folder)
    shutil.copy2(first.data_dir / "bootstrap.json", data_dir / "bootstrap.json")
    return data_dir


@pytest.fixture
def nodes(tmp_path: Path, postgres_databases: PostgresDatabases | None) -> Iterator[tuple[Server, Server]]:
    if postgres_databases is None:
        pytest.skip(SKIP_NO_POSTGRES)
    url = postgres_databases.new()
    (tmp_path / "a").mkdir()
    a = start_server(tmp_path / "a" / "data", url, env=NODE_ENV)
    b: Server | None = None
    try:
        b = start_server(second_node_data_dir(a, tmp_path / "b" / "data"), url, env=NODE_ENV)
        yield a, b
    finally:
        for server in (b, a):
            if server is not None:
                stop_server(server)
                for proc in server.kernel_processes():
                    with contextlib.suppress(Exception):
                        proc.kill()


def _headers(server: Server) -> dict[str, str]:
    return {"Authorization": f"token {workspace_token(server)}"}


async def _socket(server: Server, kernel_id: str) -> KernelSocket:
    url = server.endpoint.replace("https://", "wss://") + server.notebook_path
    url += f"/api/kernels/{kernel_id}/channels?session_id={new_session_id()}"
    context = ssl.create_default_context(cafile=server.ca_bundle)
    return await KernelSocket.open(url, protocol=V1, headers=_headers(server), ssl_context=context)


def _http(server: Server) -> httpx.Client:
    verify = ssl.create_default_context(cafile=server.ca_bundle)
    return httpx.Client(
        base_url=server.endpoint + server.notebook_path, verify=verify, timeout=120, headers=_headers(server)
    )


async def test_two_servers_one_service(nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    assert a.endpoint != b.endpoint
    details = CreateSessionDetails(path="nodes/n.ipynb", type="notebook", kernel=Kernel(name="python3"))
    created = a.sdk().create_session(a.instance_id, a.workspace_key, details).data
    kernel_id = created.kernel.id
    a_pids = {p.pid for p in a.kernel_processes()}
    assert len(a_pids) == 1 and not b.kernel_processes()

    # through B: the websocket runs code on A's kernel; the kernels API answers with A's live model
    socket = await _socket(b, kernel_id)
    ran = await socket.execute("import os; print(os.getpid())")
    assert ran.reply["content"]["status"] == "ok"
    assert int(ran.stdout.strip()) in a_pids
    # B answers a get and a list with A's live state of the kernel (asked of A)
    seen_by_b = b.sdk().get_session(b.instance_id, b.workspace_key, created.id).data
    assert (seen_by_b.kernel.id, seen_by_b.kernel.execution_state, seen_by_b.kernel.connections) == (
        kernel_id,
        "idle",
        1,
    )
    listed = b.sdk().list_sessions(b.instance_id, b.workspace_key).data.items
    assert [(s.id, s.kernel.execution_state) for s in listed] == [(created.id, "idle")]
    with _http(b) as client:
        kernels = client.get("/api/kernels").json()
        assert [(k["id"], k["execution_state"]) for k in kernels] == [(kernel_id, "idle")]
        model = client.get(f"/api/kernels/{kernel_id}")
        assert model.status_code == 200, model.text
        assert model.json()["execution_state"] == "idle" and model.json()["connections"] == 1
        assert client.post(f"/api/kernels/{kernel_id}/interrupt").status_code == 204
        # a client cannot pose as a node: a forged forwarding header is refused
        forged = client.get(
            f"/api/kernels/{kernel_id}",
            headers={
                "x-nbplane-forwarded-by": "x",
                "x-nbplane-forwarded-for": "e30",
                "x-nbplane-forwarded-signature": "1.0",
            },
        )
        assert forged.status_code == 401, forged.text
        restarted = client.post(f"/api/kernels/{kernel_id}/restart")
        assert restarted.status_code == 200 and restarted.json()["id"] == kernel_id, restarted.text

    # a refresh through B (the SDK's patch) restarts A's kernel in place: same id, a fresh namespace
    await socket.execute("marker = 1")
    patch = PatchSessionDetails(must_refresh_context=True)
    refreshed = b.sdk().patch_session(b.instance_id, b.workspace_key, created.id, patch).data
    assert refreshed.kernel.id == kernel_id
    fresh = await _socket(b, kernel_id)
    ran = await fresh.execute("print('marker' in globals())")
    assert ran.stdout.strip() == "False"
    assert {p.pid for p in a.kernel_processes()} != a_pids  # a new process, on A
    assert not b.kernel_processes()
    await fresh.close()

    # A's machine dies: the server and its kernels, at once
    for proc in a.kernel_processes():
        proc.kill()
    os.kill(a.process.pid, signal.SIGKILL)
    a.process.wait(timeout=30)
    with pytest.raises(ConnectionClosed):  # B's proxy loses A, and closes the client's websocket
        while True:
            await socket.recv(wait_s=60)

    # B reports the kernel unknown (A's lease ran out), then dead; the SDK's Session has no lifecycleDetails,
    # so the reasons are read from the raw answer
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + 180
    with b.http() as raw:
        while time.monotonic() < deadline:
            body = raw.get(f"{b.sessions_path}/{created.id}").json()
            state = (body["kernel"]["execution_state"], body.get("lifecycleDetails") or "")
            if not seen or seen[-1] != state:
                seen.append(state)
            if state[0] == "dead":
                break
            await asyncio.sleep(0.2)
    assert seen[-1][0] == "dead", seen
    assert "stopped renewing its lease" in seen[-1][1], seen
    assert any(s == "unknown" and "stopped renewing its lease" in d for s, d in seen), seen
    client_b = b.sdk()
    assert client_b.get_session(b.instance_id, b.workspace_key, created.id).data.kernel.execution_state == "dead"

    # a create through B revives the session under the same id, on B
    revived = client_b.create_session(b.instance_id, b.workspace_key, CreateSessionDetails(path="nodes/n.ipynb")).data
    assert revived.id == created.id
    assert revived.kernel.id != kernel_id
    assert revived.kernel.execution_state == "idle"
    b_pids = {p.pid for p in b.kernel_processes()}
    socket = await _socket(b, revived.kernel.id)
    ran = await socket.execute("import os; print(os.getpid())")
    assert int(ran.stdout.strip()) in b_pids
    await socket.close()

    # A comes back on its data dir: the kernel it lost is no longer its own, so it adopts nothing, and it
    # answers for the session with B's kernel (asking B for its state)
    (a.data_dir / "server.json").unlink(missing_ok=True)
    a_again = start_server(a.data_dir, a.database_url, env=NODE_ENV)
    try:
        assert not re.search(r"[1-9]\d* re-adopted", a_again.log.read_text())
        assert not a_again.kernel_processes()
        seen_by_a = a_again.sdk().get_session(a_again.instance_id, a_again.workspace_key, created.id).data
        assert (seen_by_a.kernel.id, seen_by_a.kernel.execution_state) == (revived.kernel.id, "idle")
        client_b.delete_session(b.instance_id, b.workspace_key, created.id)
    finally:
        stop_server(a_again)


def test_sdk_config_of_one_node_works_on_the_other(nodes: tuple[Server, Server]) -> None:
    """The shared first-run records: one OCI config reaches both servers (the load balancer's promise)."""
    a, b = nodes
    config = oci.config.from_file(a.oci_config, a.profile)
    assert config == oci.config.from_file(b.oci_config, b.profile)
    assert b.sdk().list_sessions(b.instance_id, b.workspace_key).data.items == []
