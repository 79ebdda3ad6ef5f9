"""Jupyter's kernels surface of a workspace on a real server: REST, the websocket in both protocols,
live state (connections, busy/idle, restarts, death) and output replay to a reconnecting client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.conftest import Server, start_server, stop_server, workspace_token
from tests.e2e.wsclient import V1, KernelSocket, new_session_id

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """restart_limit 1: one autorestart is allowed, a second death in a row is final."""
    running = start_server(tmp_path_factory.mktemp("ksrv") / "data", env={"NBPLANE_KERNEL_RESTART_LIMIT": "1"})
    yield running
    stop_server(running)


def _headers(server: Server) -> dict[str, str]:
    return {"Authorization": f"token {workspace_token(server)}"}


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    verify = ssl.create_default_context(cafile=server.ca_bundle)
    async with httpx.AsyncClient(
        base_url=server.endpoint + server.notebook_path, verify=verify, timeout=120, headers=_headers(server)
    ) as client:
        yield client


@pytest.fixture(scope="module")
def kernel_id(server: Server) -> Iterator[str]:
    """One kernel shared by the tests that do not kill it, with a session attached to it."""
    with httpx.Client(
        base_url=server.endpoint + server.notebook_path,
        verify=ssl.create_default_context(cafile=server.ca_bundle),
        timeout=120,
        headers=_headers(server),
    ) as client:
        created = client.post("/api/kernels", json={"name": "python3", "env": {"KERNEL_USERNAME": "t", "X": 1}})
        assert created.status_code == 201, created.text
        kid = created.json()["id"]
        session = client.post("/api/sessions", json={"path": "ws/shared.ipynb", "kernel": {"id": kid}})
        assert session.status_code == 201, session.text
        yield kid
        client.delete(f"/api/sessions/{session.json()['id']}")


async def _socket(server: Server, kid: str, protocol: str | None, session_id: str | None = None) -> KernelSocket:
    ws_base = server.endpoint.replace("https://", "wss://") + server.notebook_path
    url = f"{ws_base}/api/kernels/{kid}/channels?session_id={session_id or new_session_id()}"
    context = ssl.create_default_context(cafile=server.ca_bundle)
    return await KernelSocket.open(url, protocol=protocol, headers=_headers(server), ssl_context=context)


async def _model(http: httpx.AsyncClient, kid: str) -> dict[str, Any]:
    response = await http.get(f"/api/kernels/{kid}")
    assert response.status_code == 200, response.text
    return response.json()


async def _wait_state(http: httpx.AsyncClient, kid: str, wanted: str, wait_s: float = 60) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        state = (await _model(http, kid))["execution_state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == wanted:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"kernel never reached {wanted}; saw {seen}")


async def test_kernelspecs(http: httpx.AsyncClient) -> None:
    listing = (await http.get("/api/kernelspecs")).json()
    assert listing["default"] == "python3"
    spec = listing["kernelspecs"]["python3"]
    assert spec["name"] == "python3" and spec["spec"]["language"] == "python"
    assert (await http.get("/api/kernelspecs/python3")).json() == spec
    assert (await http.get("/api/kernelspecs/nope")).status_code == 404
    logo = next((url for key, url in spec["resources"].items() if key.startswith("logo-")), None)
    if logo is not None:
        assert (await http.get(httpx.URL(str(http.base_url)).copy_with(path=logo))).status_code == 200
    assert (await http.get("/kernelspecs/python3/kernel.json")).status_code == 404
    assert (await http.get("/kernelspecs/python3/..%2Fkernel.json")).status_code == 404


async def test_kernel_model_and_unknown_ids(http: httpx.AsyncClient, kernel_id: str) -> None:
    model = await _model(http, kernel_id)
    assert set(model) >= {"id", "name", "last_activity", "execution_state", "connections"}
    time.strptime(model["last_activity"], "%Y-%m-%dT%H:%M:%S.%fZ")  # as Jupyter's gateway client parses it
    assert len(model["last_activity"].split(".")[1]) == 7  # microseconds and Z
    assert kernel_id in [k["id"] for k in (await http.get("/api/kernels")).json()]
    unknown = "00000000-0000-0000-0000-000000000000"
    for method, path in [
        ("GET", f"/api/kernels/{unknown}"),
        ("DELETE", f"/api/kernels/{unknown}"),
        ("POST", f"/api/kernels/{unknown}/interrupt"),
        ("POST", f"/api/kernels/{unknown}/restart"),
    ]:
        assert (await http.request(method, path)).status_code == 404, (method, path)


@pytest.mark.parametrize("protocol", [None, V1], ids=["legacy", "v1"])
async def test_websocket_runs_code(server: Server, kernel_id: str, protocol: str | None) -> None:
    sock = await _socket(server, kernel_id, protocol)
    try:
        out = await sock.execute("print('hello')")
        assert out.reply["content"]["status"] == "ok" and out.stdout == "hello\n"
        result = await sock.execute("1+1")
        assert [m["content"]["data"]["text/plain"] for m in result.of_type("execute_result")] == ["2"]
        failed = await sock.execute("1/0")
        assert failed.reply["content"]["status"] == "error"
        assert [m["content"]["ename"] for m in failed.of_type("error")] == ["ZeroDivisionError"]
        info = await sock.send("control", "kernel_info_request", {})
        assert (await sock.collect(info)).reply["msg_type"] == "kernel_info_reply"
    finally:
        await sock.close()


async def test_connections_count_websockets(server: Server, http: httpx.AsyncClient, kernel_id: str) -> None:
    async def counts() -> tuple[int, int]:
        session = (await http.get("/api/sessions", params={"path": "ws/shared.ipynb"})).json()["items"][0]
        return (await _model(http, kernel_id))["connections"], session["kernel"]["connections"]

    async def settle(expected: tuple[int, int]) -> None:
        # a closed websocket is detached when the server notices the close
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if await counts() == expected:
                return
            await asyncio.sleep(0.05)
        assert await counts() == expected

    await settle((0, 0))
    a = await _socket(server, kernel_id, None)
    b = await _socket(server, kernel_id, V1)
    assert await counts() == (2, 2)
    await a.close()
    await b.close()
    await settle((0, 0))


async def test_busy_while_running_then_idle_and_interrupt(
    server: Server, http: httpx.AsyncClient, kernel_id: str
) -> None:
    sock = await _socket(server, kernel_id, V1)
    try:
        before = (await _model(http, kernel_id))["last_activity"]
        msg_id = await sock.send("shell", "execute_request", {"code": "import time; time.sleep(2)", "silent": False})
        assert "busy" in await _wait_state(http, kernel_id, "busy")
        done = await sock.collect(msg_id)
        assert done.reply["content"]["status"] == "ok"
        await _wait_state(http, kernel_id, "idle")
        assert (await _model(http, kernel_id))["last_activity"] > before

        msg_id = await sock.send("shell", "execute_request", {"code": "import time; time.sleep(60)", "silent": False})
        await _wait_state(http, kernel_id, "busy")
        assert (await http.post(f"/api/kernels/{kernel_id}/interrupt", json={})).status_code == 204
        interrupted = await sock.collect(msg_id, wait_s=20)
        assert interrupted.reply["content"]["status"] == "error"
        assert interrupted.reply["content"]["ename"] == "KeyboardInterrupt"
        await _wait_state(http, kernel_id, "idle")
    finally:
        await sock.close()


async def test_restart_keeps_id_and_clears_namespace(server: Server, http: httpx.AsyncClient, kernel_id: str) -> None:
    """A restart the user asks for is not announced as `restarting` (JupyterLab reads that as a crash and
    shows "The kernel appears to have died"); clients see only what the new kernel itself sends."""
    sock = await _socket(server, kernel_id, None)
    try:
        assert (await sock.execute("x = 41")).reply["content"]["status"] == "ok"
        before = len(sock.seen)
        restarted = await http.post(f"/api/kernels/{kernel_id}/restart", json={})
        assert restarted.status_code == 200, restarted.text
        assert restarted.json()["id"] == kernel_id
        assert restarted.json()["execution_state"] == "idle"
        gone = await sock.execute("x")
        assert gone.reply["content"]["ename"] == "NameError"
        with contextlib.suppress(TimeoutError):
            while True:  # whatever else arrives within a second belongs to the sequence too
                await sock.recv(wait_s=1)
        during = sock.seen[before:]
        states = [m["content"]["execution_state"] for m in during if m["msg_type"] == "status"]
        assert "restarting" not in states and "dead" not in states, states
        assert "busy" in states and "idle" in states  # the execute after the restart, seen on the same socket
    finally:
        await sock.close()


async def test_output_while_detached_is_replayed_to_the_next_client(server: Server, kernel_id: str) -> None:
    first = await _socket(server, kernel_id, None)
    msg_id = await first.send(
        "shell", "execute_request", {"code": "import time; time.sleep(1.5); print('while away'); 6*7", "silent": False}
    )
    await first.close()  # before the output exists
    await asyncio.sleep(3)
    second = await _socket(server, kernel_id, V1)  # another client, another websocket session id
    try:
        replayed = await second.collect(msg_id, wait_s=20)
        assert replayed.stdout == "while away\n"
        assert [m["content"]["data"]["text/plain"] for m in replayed.of_type("execute_result")] == ["42"]
    finally:
        await second.close()


def _kernel_process(server: Server, kid: str) -> psutil.Process | None:
    for proc in server.kernel_processes():
        try:
            if any(kid in part for part in proc.cmdline()):
                return proc
        except psutil.NoSuchProcess:
            continue
    return None


async def test_killed_kernel_autorestarts_then_dies_when_restarts_are_exhausted(
    server: Server, http: httpx.AsyncClient
) -> None:
    created = await http.post("/api/kernels", json={})
    assert created.status_code == 201, created.text
    kid = created.json()["id"]
    assert created.headers["location"].endswith(f"/notebook/api/kernels/{kid}")
    try:
        sock = await _socket(server, kid, None)
        first = _kernel_process(server, kid)
        assert first is not None
        first.kill()
        seen = await _wait_state(http, kid, "autorestarting")
        seen += await _wait_state(http, kid, "idle")
        assert seen[-2:] == ["autorestarting", "idle"], seen
        # the websocket survived the restart (on new ports if jupyter_client picked them)
        assert (await sock.execute("1+1")).of_type("execute_result")[0]["content"]["data"]["text/plain"] == "2"
        await sock.close()

        # restart_limit is 1: kill every new process until the restarter gives up
        deadline = time.monotonic() + 90
        state = ""
        while state != "dead" and time.monotonic() < deadline:
            proc = _kernel_process(server, kid)
            if proc is not None and proc.pid != first.pid:
                proc.kill()
                first = proc
            state = (await _model(http, kid))["execution_state"]
            await asyncio.sleep(0.1)
        model = await _model(http, kid)
        assert model["execution_state"] == "dead"
        assert "restarts are exhausted" in model["reason"]
    finally:
        assert (await http.delete(f"/api/kernels/{kid}")).status_code == 204
    assert (await http.get(f"/api/kernels/{kid}")).status_code == 404
    assert kid not in [k["id"] for k in (await http.get("/api/kernels")).json()]


async def test_a_kernel_that_dies_closes_its_websocket_and_refuses_new_ones(
    server: Server, http: httpx.AsyncClient
) -> None:
    """No client waits on silence: an open socket gets the dead status and a close (1011, with the reason); a new
    upgrade is refused with 409 and why, before and after the kernel is deleted; an unknown kernel is a 404."""
    created = await http.post("/api/kernels", json={})
    assert created.status_code == 201, created.text
    kid = created.json()["id"]
    try:
        sock = await _socket(server, kid, V1)
        assert (await sock.execute("1+1")).reply["content"]["status"] == "ok"
        killed: set[int] = set()
        deadline = time.monotonic() + 120
        while (await _model(http, kid))["execution_state"] != "dead" and time.monotonic() < deadline:
            proc = _kernel_process(server, kid)
            if proc is not None and proc.pid not in killed:
                killed.add(proc.pid)
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
            await asyncio.sleep(0.1)
        assert (await _model(http, kid))["execution_state"] == "dead"
        states = []
        with contextlib.suppress(ConnectionClosed):
            while True:
                msg = await sock.recv(wait_s=60)
                if msg["msg_type"] == "status":
                    states.append(msg["content"]["execution_state"])
        assert states[-1] == "dead", states
        assert sock.ws.close_code == 1011
        assert "restarts are exhausted" in (sock.ws.close_reason or "")

        for _ in range(2):  # dead, then deleted (stopped)
            with pytest.raises(InvalidStatus) as refused:
                await _socket(server, kid, V1)
            assert refused.value.response.status_code == 409
            body = json.loads(refused.value.response.body or b"{}")
            assert body["code"] == "Conflict" and kid in body["message"], body
            await http.delete(f"/api/kernels/{kid}")
    finally:
        await http.delete(f"/api/kernels/{kid}")
    with pytest.raises(InvalidStatus) as unknown:
        await _socket(server, "00000000-0000-0000-0000-000000000000", V1)
    assert unknown.value.response.status_code == 404
