"""Clean edges of a real server: refused websocket upgrades complete the ASGI exchange, a stop does not wait on
idle keep-alive clients, and Ctrl-C in the default mode stops the kernels (SIGTERM keeps them)."""

from __future__ import annotations

import signal
import ssl
from pathlib import Path

import httpx
import psutil
import pytest
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_kernels_ws import _headers

pytestmark = pytest.mark.e2e


async def test_refused_upgrades_and_idle_keepalive_clients(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    context = ssl.create_default_context(cafile=server.ca_bundle)
    ws_base = server.endpoint.replace("https://", "wss://") + server.notebook_path
    idle = [httpx.Client(base_url=server.endpoint, verify=context) for _ in range(3)]
    try:
        for headers, status in ((None, 401), (_headers(server), 404)):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(
                    f"{ws_base}/api/kernels/no-such-kernel/channels", ssl=context, additional_headers=headers
                ):
                    pass
            assert refused.value.response.status_code == status
        for client in idle:  # keep-alive connections, left open and idle
            assert client.get("/health").status_code == 200
    finally:
        stop_server(server)
        for client in idle:
            client.close()
    log = server.log.read_text()
    assert "without completing handshake" not in log
    assert "Waiting for connections to close" not in log  # idle connections no longer hold the stop
    assert "timeout graceful shutdown exceeded" not in log


def test_ctrl_c_stops_kernels_in_the_default_mode(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", env={"NBPLANE_KERNELS_ON_STOP": "auto"})
    try:
        sdk = server.sdk()
        sdk.create_session(server.instance_id, server.workspace_key, CreateSessionDetails(path="a.ipynb"))
        kernels = server.kernel_processes()
        assert len(kernels) == 1
    finally:
        server.process.send_signal(signal.SIGINT)
        server.process.wait(30)
    assert "Stopping 1 kernel(s)." in server.log.read_text()
    _, alive = psutil.wait_procs(kernels, timeout=15)
    assert alive == []
