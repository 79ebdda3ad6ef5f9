"""Kernels and kernelspecs routes over the fake backend, in process (the websocket is covered end to end)."""

from __future__ import annotations

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
