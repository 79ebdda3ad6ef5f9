"""Kernels and kernelspecs routes and the kernel websocket over the fake backend, in process."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from starlette.websockets import WebSocketDisconnect

with warnings.catch_warnings():  # starlette's TestClient on httpx: deprecated, still the websocket test client
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

from nbplane.app import create_app
from nbplane.kernels.fake import FakeKernelBackend
from nbplane.settings import Settings
from tests.unit.conftest import InProcess


def kernels_url(inproc: InProcess) -> str:
    return inproc.sessions_url.removesuffix("/sessions") + "/kernels"


async def test_kernel_lifecycle(inproc: InProcess) -> None:
    url = kernels_url(inproc)
    assert (await inproc.client.get(url)).json() == []
    created = await inproc.client.post(url)  # no body: the default kernelspec
    assert created.status_code == 201
    model = created.json()
    assert created.headers["location"] == f"{url}/{model['id']}"
    assert model["name"] == "python3" and model["connections"] == 0 and model["execution_state"] == "idle"
    assert model["last_activity"].endswith("Z") and len(model["last_activity"].split(".")[1]) == 7
    assert [k["id"] for k in (await inproc.client.get(url)).json()] == [model["id"]]
    assert (await inproc.client.post(f"{url}/{model['id']}/interrupt", json={})).status_code == 204
    assert (await inproc.client.post(f"{url}/{model['id']}/restart", json={})).json()["id"] == model["id"]
    session = await inproc.client.post(inproc.sessions_url, json={"path": "a.ipynb", "kernel": {"id": model["id"]}})
    assert session.json()["kernel"]["id"] == model["id"]
    assert (await inproc.client.delete(f"{url}/{model['id']}")).status_code == 204
    assert (await inproc.client.get(f"{url}/{model['id']}")).status_code == 404
    assert (await inproc.client.post(url, json={"name": "nope"})).status_code == 400


async def test_kernel_of_another_workspace_is_not_found(inproc: InProcess) -> None:
    url = kernels_url(inproc)
    kid = (await inproc.client.post(url, json={})).json()["id"]
    other = url.replace(f"/workspaces/{inproc.workspace_key}/", "/workspaces/elsewhere/")
    assert (await inproc.client.get(f"{other}/{kid}")).status_code == 404


async def test_kernelspecs(inproc: InProcess) -> None:
    base = inproc.sessions_url.removesuffix("/sessions")
    listing = (await inproc.client.get(f"{base}/kernelspecs")).json()
    assert listing["default"] == "python3" and set(listing["kernelspecs"]) == {"python3", "python3-alt"}
    assert (await inproc.client.get(f"{base}/kernelspecs/nope")).status_code == 404


@pytest.mark.parametrize("subprotocols", [[], ["v1.kernel.websocket.jupyter.org"]])
def test_websocket_bridges_to_the_backend(tmp_path: Path, subprotocols: list[str]) -> None:
    kernels = FakeKernelBackend()
    app = create_app(Settings(data_dir=tmp_path / "data"), kernel_backend=kernels)
    with TestClient(app) as client:
        info = app.state.bootstrap
        url = f"/20260430/aiDataPlatforms/{info.instance_id}/workspaces/{info.workspace_key}/notebook/api/kernels"
        kid = client.post(url).json()["id"]
        with client.websocket_connect(f"{url}/{kid}/channels?session_id=s", subprotocols=subprotocols) as ws:
            assert client.get(f"{url}/{kid}").json()["connections"] == 1
            if subprotocols:
                assert ws.accepted_subprotocol == subprotocols[0]
                return
            header = {"msg_id": "m1", "msg_type": "kernel_info_request", "session": "s", "version": "5.3"}
            ws.send_text(json.dumps({"channel": "shell", "header": header, "content": {}}))
            replies = [json.loads(ws.receive_text()) for _ in range(3)]
            assert [m["header"]["msg_type"] for m in replies] == ["status", "kernel_info_reply", "status"]
            assert all(m["parent_header"]["msg_id"] == "m1" for m in replies)
        with pytest.raises(WebSocketDisconnect):
            with client.websocket_connect(f"{url}/00000000-0000-0000-0000-000000000000/channels"):
                pass
