"""Session semantics through the HTTP layer, on a fake kernel backend (no processes)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from nbplane.store.tables import SessionRow
from tests.unit.conftest import InProcess


async def test_create_or_return_by_path(inproc: InProcess) -> None:
    first = await inproc.client.post(inproc.sessions_url, json={"path": "a.ipynb", "type": "notebook"})
    second = await inproc.client.post(inproc.sessions_url, json={"path": "a.ipynb", "kernel": {"name": "python3-alt"}})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.json()["kernel"]["name"] == "python3"  # the existing session wins, as in Jupyter
    assert len(inproc.kernels.started) == 1


async def test_concurrent_creates_make_one_session_and_one_kernel(inproc: InProcess) -> None:
    inproc.kernels.start_delay = 0.3
    responses = await asyncio.gather(
        *(inproc.client.post(inproc.sessions_url, json={"path": "race.ipynb"}) for _ in range(30))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert {r.json()["lifecycleState"] for r in responses} == {"ACTIVE"}
    assert len(inproc.kernels.started) == 1
    async with inproc.services.db.read() as db:
        assert (await db.execute(select(func.count()).select_from(SessionRow))).scalar_one() == 1


async def test_creating_is_visible_to_a_concurrent_list(inproc: InProcess) -> None:
    inproc.kernels.start_delay = 2.0  # a wide window, so a loaded machine still lists it while CREATING
    create = asyncio.create_task(inproc.client.post(inproc.sessions_url, json={"path": "slow.ipynb"}))
    states: set[str] = set()
    for _ in range(100):
        items = (await inproc.client.get(inproc.sessions_url)).json()["items"]
        states.update(i["lifecycleState"] for i in items)
        if "CREATING" in states:
            break
        await asyncio.sleep(0.01)
    assert "CREATING" in states
    creating = next(i for i in items if i["lifecycleState"] == "CREATING")
    assert creating["kernel"]["execution_state"] == "starting"
    assert (await create).json()["lifecycleState"] == "ACTIVE"


async def test_failed_kernel_start_is_reported_and_retried(inproc: InProcess) -> None:
    inproc.kernels.fail_kernels.add("python3-alt")
    failed = await inproc.client.post(inproc.sessions_url, json={"path": "f.ipynb", "kernel": {"name": "python3-alt"}})
    assert failed.status_code == 201
    body = failed.json()
    assert body["lifecycleState"] == "FAILED"
    assert "failed to start" in body["lifecycleDetails"]
    assert body["kernel"]["execution_state"] == "dead"
    inproc.kernels.fail_kernels.clear()
    retried = await inproc.client.post(inproc.sessions_url, json={"path": "f.ipynb", "kernel": {"name": "python3-alt"}})
    assert retried.json()["lifecycleState"] == "ACTIVE"
    assert retried.json()["id"] != body["id"]


async def test_retry_token_replays_conflicts_and_invalidates(inproc: InProcess) -> None:
    headers = {"opc-retry-token": "tok-1"}
    first = await inproc.client.post(inproc.sessions_url, json={"name": "no path"}, headers=headers)
    replay = await inproc.client.post(inproc.sessions_url, json={"name": "no path"}, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["etag"] == first.headers["etag"]
    assert len(inproc.kernels.started) == 1  # sessions without a path are not deduplicated: the token did it

    other = await inproc.client.post(inproc.sessions_url, json={"name": "different"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["code"] == "Conflict"

    await inproc.client.delete(f"{inproc.sessions_url}/{first.json()['id']}")
    gone = await inproc.client.post(inproc.sessions_url, json={"name": "no path"}, headers=headers)
    assert gone.status_code == 409
    assert gone.json()["code"] == "InvalidatedRetryToken"


async def test_rejected_create_does_not_burn_the_retry_token(inproc: InProcess) -> None:
    headers = {"opc-retry-token": "tok-2"}
    bad = await inproc.client.post(
        inproc.sessions_url, json={"path": "x.ipynb", "kernel": {"name": "nope"}}, headers=headers
    )
    assert bad.status_code == 400
    good = await inproc.client.post(
        inproc.sessions_url, json={"path": "x.ipynb", "kernel": {"name": "nope"}}, headers=headers
    )
    assert good.status_code == 400  # same request, still rejected, never a conflict


async def _cluster(inproc: InProcess, name: str) -> str:
    return (await inproc.services.clusters.provision(inproc.instance_id, inproc.workspace_key, name)).key


async def test_list_filters_sorts_and_pages(inproc: InProcess) -> None:
    ids = []
    c1, c2 = await _cluster(inproc, "c1"), await _cluster(inproc, "c2")
    for i in range(5):
        body = {"path": f"n{i}.ipynb", "cluster_id": c1 if i % 2 else c2, "agentFlowKey": f"f{i}"}
        ids.append((await inproc.client.post(inproc.sessions_url, json=body)).json()["id"])
    desc = (await inproc.client.get(inproc.sessions_url)).json()["items"]
    assert [s["id"] for s in desc] == ids[::-1]
    asc = (await inproc.client.get(inproc.sessions_url, params={"sortOrder": "ASC", "sortBy": "timeCreated"})).json()
    assert [s["id"] for s in asc["items"]] == ids
    assert [
        s["path"] for s in (await inproc.client.get(inproc.sessions_url, params={"cluster_id": c1})).json()["items"]
    ] == [
        "n3.ipynb",
        "n1.ipynb",
    ]
    only = (await inproc.client.get(inproc.sessions_url, params={"path": "n2.ipynb"})).json()["items"]
    assert [s["id"] for s in only] == [ids[2]]
    flow = (await inproc.client.get(inproc.sessions_url, params={"agentFlowKey": "f4"})).json()["items"]
    assert [s["id"] for s in flow] == [ids[4]]

    seen, page, pages = [], None, 0
    while True:
        params = {"limit": 2, "sortOrder": "ASC", **({"page": page} if page else {})}
        response = await inproc.client.get(inproc.sessions_url, params=params)
        pages += 1
        seen += [s["id"] for s in response.json()["items"]]
        page = response.headers.get("opc-next-page")
        if page is None:
            break
        assert page[0].isalpha()
    assert seen == ids
    assert pages == 3
    last = await inproc.client.get(inproc.sessions_url, params={"limit": 5})
    assert "opc-next-page" not in last.headers


async def test_list_has_no_side_effects_and_a_stable_etag(inproc: InProcess) -> None:
    await inproc.client.post(inproc.sessions_url, json={"path": "a.ipynb"})
    first = await inproc.client.get(inproc.sessions_url)
    second = await inproc.client.get(inproc.sessions_url)
    assert first.headers["etag"] == second.headers["etag"]
    assert first.json() == second.json()


async def test_patch_each_field_and_etags(inproc: InProcess) -> None:
    created = (await inproc.client.post(inproc.sessions_url, json={"path": "p.ipynb", "type": "notebook"})).json()
    url = f"{inproc.sessions_url}/{created['id']}"
    etag = (await inproc.client.get(url)).headers["etag"]
    c9 = await _cluster(inproc, "c9")
    patched = await inproc.client.patch(
        url,
        json={"name": "renamed", "path": "q.ipynb", "type": "file", "cluster_id": c9},
        headers={"if-match": etag},
    )
    assert patched.status_code == 200
    body = patched.json()
    assert (body["name"], body["path"], body["type"], body["cluster_id"]) == ("renamed", "q.ipynb", "file", c9)
    assert patched.headers["etag"] != etag
    stale = await inproc.client.patch(url, json={"name": "again"}, headers={"if-match": etag})
    assert stale.status_code == 412

    old_kernel = body["kernel"]["id"]
    swapped = (await inproc.client.patch(url, json={"kernel": {"name": "python3-alt"}})).json()
    assert swapped["kernel"]["name"] == "python3-alt"
    assert swapped["kernel"]["id"] != old_kernel
    assert not await inproc.kernels.is_alive(old_kernel)

    refreshed = (await inproc.client.patch(url, json={"must_refresh_context": True})).json()
    assert refreshed["id"] == created["id"]
    assert inproc.kernels.restarts[swapped["kernel"]["id"]] == 1


async def test_patch_to_a_taken_path_is_a_conflict(inproc: InProcess) -> None:
    await inproc.client.post(inproc.sessions_url, json={"path": "one.ipynb"})
    two = (await inproc.client.post(inproc.sessions_url, json={"path": "two.ipynb"})).json()
    response = await inproc.client.patch(f"{inproc.sessions_url}/{two['id']}", json={"path": "one.ipynb"})
    assert response.status_code == 409
    assert response.json()["code"] == "Conflict"


async def test_shared_kernel_lives_until_its_last_session(inproc: InProcess) -> None:
    a = (await inproc.client.post(inproc.sessions_url, json={"path": "a.ipynb"})).json()
    kernel_id = a["kernel"]["id"]
    b = (await inproc.client.post(inproc.sessions_url, json={"path": "b.ipynb", "kernel": {"id": kernel_id}})).json()
    assert b["kernel"]["id"] == kernel_id
    assert (await inproc.client.delete(f"{inproc.sessions_url}/{a['id']}")).status_code == 204
    assert await inproc.kernels.is_alive(kernel_id)
    assert (await inproc.client.delete(f"{inproc.sessions_url}/{b['id']}")).status_code == 204
    assert not await inproc.kernels.is_alive(kernel_id)
    assert (await inproc.client.get(f"{inproc.sessions_url}/{a['id']}")).status_code == 404
    assert (await inproc.client.get(inproc.sessions_url)).json()["items"] == []


async def test_patch_attach_to_other_kernel_releases_the_old_one(inproc: InProcess) -> None:
    a = (await inproc.client.post(inproc.sessions_url, json={"path": "a.ipynb"})).json()
    b = (await inproc.client.post(inproc.sessions_url, json={"path": "b.ipynb"})).json()
    moved = (
        await inproc.client.patch(f"{inproc.sessions_url}/{b['id']}", json={"kernel": {"id": a["kernel"]["id"]}})
    ).json()
    assert moved["kernel"]["id"] == a["kernel"]["id"]
    assert not await inproc.kernels.is_alive(b["kernel"]["id"])


async def test_delete_with_matching_etag(inproc: InProcess) -> None:
    created = await inproc.client.post(inproc.sessions_url, json={"path": "d.ipynb"})
    url = f"{inproc.sessions_url}/{created.json()['id']}"
    assert (await inproc.client.delete(url, headers={"if-match": created.headers["etag"]})).status_code == 204
    assert (await inproc.client.delete(url)).status_code == 404


async def test_session_model_has_required_fields_and_formats(inproc: InProcess) -> None:
    body = (await inproc.client.post(inproc.sessions_url, json={"path": "m.ipynb"})).json()
    assert set(body) >= {"id", "name", "path", "type", "cluster_id", "kernel", "agentFlowKey", "lifecycleState"}
    assert body["name"] == "m.ipynb"
    stamp = body["kernel"]["last_activity"]
    assert stamp.endswith("Z") and len(stamp.split(".")[1]) == 7  # microseconds + Z
    assert body["timeCreated"].endswith("Z") and len(body["timeCreated"].split(".")[1]) == 4
