"""Culling on a real server: a connected idle kernel is culled (cull_connected), its websocket client is told
why (a dead status, then a close with the reason), the session says so, and a create brings it back."""

from __future__ import annotations

import ssl
from pathlib import Path

import psutil
import pytest
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_kernels_ws import _headers
from tests.e2e.wsclient import KernelSocket, new_session_id

pytestmark = pytest.mark.e2e


async def test_idle_connected_kernel_is_culled_with_notice_and_revived(tmp_path: Path) -> None:
    # The idle timeout must outlast the gap between the create's reply and the websocket's upgrade, which a
    # loaded 2-core CI machine stretched past 2 s once (the kernel was culled before the upgrade: a 404).
    env = {"NBPLANE_CULL_IDLE_TIMEOUT": "5", "NBPLANE_CULL_INTERVAL": "0.5", "NBPLANE_CULL_CONNECTED": "true"}
    server = start_server(tmp_path / "data", env=env)
    try:
        sdk = server.sdk()
        created = sdk.create_session(server.instance_id, server.workspace_key, CreateSessionDetails(path="c.ipynb"))
        session = created.data
        ws_base = server.endpoint.replace("https://", "wss://") + server.notebook_path
        url = f"{ws_base}/api/kernels/{session.kernel.id}/channels?session_id={new_session_id()}"
        context = ssl.create_default_context(cafile=server.ca_bundle)
        sock = await KernelSocket.open(url, headers=_headers(server), ssl_context=context)
        statuses = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                msg = await sock.recv(wait_s=30)
                if msg["msg_type"] == "status":
                    statuses.append(msg["content"])
        assert statuses[-1]["execution_state"] == "dead"
        assert statuses[-1]["reason"].startswith("culled: idle for")
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001 and closed.value.rcvd.reason.startswith("culled: idle for")

        with server.http() as http:
            got = http.get(f"{server.sessions_path}/{session.id}").json()
        assert got["kernel"]["execution_state"] == "dead"
        assert "culled: idle for" in got["lifecycleDetails"]
        _, alive = psutil.wait_procs(server.kernel_processes(), timeout=15)
        assert alive == []  # the culled kernel's process ends

        revived = sdk.create_session(server.instance_id, server.workspace_key, CreateSessionDetails(path="c.ipynb"))
        assert revived.data.id == session.id and revived.data.kernel.id != session.kernel.id
        assert revived.data.kernel.execution_state == "idle"
    finally:
        stop_server(server)
