"""An unmodified `jupyter server --gateway-url=<a workspace's notebook base URL>` uses nbplane as its
kernel provider: kernelspecs, kernel start and code over its own websocket all go through nbplane."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, workspace_token
from tests.e2e.jupyterserver import JupyterServer, start_jupyter_server
from tests.e2e.wsclient import KernelSocket

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway_jupyter(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    running = start_jupyter_server(
        Path(tmp_path_factory.mktemp("jupyter")) / "root",
        f"--gateway-url={server.endpoint}{server.notebook_path}",
        f"--GatewayClient.auth_token={workspace_token(server)}",
        "--GatewayClient.request_timeout=120",
        # GatewayClient.ca_certs is only honoured together with client_cert (gateway_client.py), so the
        # CA reaches tornado's default SSL context through SSL_CERT_FILE.
        env={"SSL_CERT_FILE": server.ca_bundle},
    )
    yield running
    running.stop()


async def test_stock_jupyter_server_runs_code_on_nbplane(server: Server, gateway_jupyter: JupyterServer) -> None:
    async with httpx.AsyncClient(base_url=gateway_jupyter.url, headers=gateway_jupyter.headers, timeout=120) as js:
        specs = (await js.get("/api/kernelspecs")).json()
        assert specs["default"] == "python3" and "python3" in specs["kernelspecs"]
        started = await js.post("/api/kernels", json={"name": "python3"})
        assert started.status_code == 201, started.text
        kid = started.json()["id"]
        try:
            nbplane = httpx.AsyncClient(
                base_url=server.endpoint + server.notebook_path,
                verify=ssl.create_default_context(cafile=server.ca_bundle),
                headers={"Authorization": f"token {workspace_token(server)}"},
            )
            async with nbplane:
                assert (await nbplane.get(f"/api/kernels/{kid}")).status_code == 200
                ws_base = gateway_jupyter.url.replace("http", "ws")
                sock = await KernelSocket.open(f"{ws_base}/api/kernels/{kid}/channels?token={gateway_jupyter.token}")
                try:
                    result = await sock.execute("1+1")
                    assert result.reply["content"]["status"] == "ok"
                    assert [m["content"]["data"]["text/plain"] for m in result.of_type("execute_result")] == ["2"]
                    # jupyter server's websocket is one client of nbplane's kernel
                    assert (await nbplane.get(f"/api/kernels/{kid}")).json()["connections"] == 1
                    model = (await js.get(f"/api/kernels/{kid}")).json()
                    assert model["id"] == kid
                finally:
                    await sock.close()
        finally:
            assert (await js.delete(f"/api/kernels/{kid}")).status_code == 204
        async with httpx.AsyncClient(
            base_url=server.endpoint + server.notebook_path,
            verify=ssl.create_default_context(cafile=server.ca_bundle),
            headers={"Authorization": f"token {workspace_token(server)}"},
        ) as nb:
            assert (await nb.get(f"/api/kernels/{kid}")).status_code == 404
