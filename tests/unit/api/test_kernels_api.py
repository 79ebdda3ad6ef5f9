"""Kernels and kernelspecs routes over the fake backend, in process (the websocket is covered end to end)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from nbplane.app import create_app
from nbplane.kernels.fake import FakeKernelBackend
from nbplane.kernels.pool import PoolKey
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


async def test_the_kernels_api_hands_out_pooled_kernels_and_never_lists_them(tmp_path: Path, database_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, insecure_no_auth=True, kernel_pool_size=1
    )
    backend = FakeKernelBackend()
    app = create_app(settings, kernel_backend=backend)
    async with app.router.lifespan_context(app):
        services = app.state.services
        info = app.state.bootstrap
        url = f"/20260430/aiDataPlatforms/{info.instance_id}/workspaces/{info.workspace_key}/notebook/api/kernels"
        key = PoolKey(info.instance_id, info.workspace_key, "python3")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            first = (await client.post(url, json={})).json()["id"]
            for _ in range(2000):  # the pool fills in the background
                if services.kernels.pool.ready(key):
                    break
                await asyncio.sleep(0.005)
            [pooled] = services.kernels.pool.ready(key)
            assert [k["id"] for k in (await client.get(url)).json()] == [first]
            assert (await client.get(f"{url}/{pooled}")).status_code == 404
            assert (await client.delete(f"{url}/{pooled}")).status_code == 404
            second = (await client.post(url, json={})).json()
            assert second["id"] == pooled and second["connections"] == 0 and second["execution_state"] == "idle"
            assert sorted(k["id"] for k in (await client.get(url)).json()) == sorted([first, pooled])
    assert backend.machine.running == {}  # the server's stop ended the pool with the rest
