"""The Cluster API in process (fake kernels): defaults, reads, paging, etags, writes, start/stop, and
sessions on clusters. The happy paths with the SDK and CLI are in tests/e2e/test_clusters.py."""

from __future__ import annotations

from sqlalchemy import func, select

from nbplane.clusters import GatewayDetails
from nbplane.store.tables import KernelRow, SessionRow
from tests.unit.conftest import InProcess


def _clusters(inproc: InProcess, workspace: str | None = None) -> str:
    return f"/20260430/aiDataPlatforms/{inproc.instance_id}/workspaces/{workspace or inproc.workspace_key}/clusters"


async def _counts(inproc: InProcess) -> tuple[int, int]:
    async with inproc.services.db.read() as db:
        sessions = (await db.execute(select(func.count()).select_from(SessionRow))).scalar_one()
        kernels = (await db.execute(select(func.count()).select_from(KernelRow))).scalar_one()
    return sessions, kernels


async def test_every_workspace_has_a_default_local_cluster(inproc: InProcess) -> None:
    listed = await inproc.client.get(_clusters(inproc))
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert (item["key"], item["state"], item["type"]) == ("default", "ACTIVE", "USER")
    assert item["attachedSessions"] == [] and item["attachedNotebooks"] == []
    default = await inproc.client.get(f"/20260430/aiDataPlatforms/{inproc.instance_id}/defaultCluster")
    assert default.status_code == 200
    assert (default.json()["key"], default.json()["workspaceKey"]) == ("default", inproc.workspace_key)
    assert default.json()["sourceApi"] == "DEFAULT_CLUSTER_API"

    ws_url = f"/20260430/aiDataPlatforms/{inproc.instance_id}/workspaces"
    made = (await inproc.client.post(ws_url, json={"displayName": "second"})).json()
    theirs = (await inproc.client.get(_clusters(inproc, made["key"]))).json()["items"]
    assert [c["key"] for c in theirs] == ["default"]


async def test_get_etag_update_412_and_unknown_404(inproc: InProcess) -> None:
    url = f"{_clusters(inproc)}/default"
    got = await inproc.client.get(url)
    etag = got.headers["etag"]
    updated = await inproc.client.put(url, json={"displayName": "Main"}, headers={"if-match": etag})
    assert updated.status_code == 200 and updated.json()["displayName"] == "Main"
    assert updated.headers["etag"] != etag
    stale = await inproc.client.put(url, json={"displayName": "Again"}, headers={"if-match": etag})
    assert stale.status_code == 412 and stale.json()["code"] == "NoEtagMatch"
    assert (await inproc.client.get(url)).json()["displayName"] == "Main"
    missing = await inproc.client.get(f"{_clusters(inproc)}/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "NotAuthorizedOrNotFound"
    bad_state = await inproc.client.get(_clusters(inproc), params={"state": "SLEEPING"})
    assert bad_state.status_code == 400


async def test_create_pages_filters_and_retry_tokens(inproc: InProcess) -> None:
    headers = {"opc-retry-token": "tok-1"}
    first = await inproc.client.post(_clusters(inproc), json={"type": "USER", "displayName": "alpha"}, headers=headers)
    again = await inproc.client.post(_clusters(inproc), json={"type": "USER", "displayName": "alpha"}, headers=headers)
    assert first.status_code == 200 and again.json()["key"] == first.json()["key"]
    for name in ("beta", "gamma"):
        assert (await inproc.client.post(_clusters(inproc), json={"displayName": name})).status_code == 200
    keys, page = [], None
    while True:
        params = {"limit": 2, "sortBy": "displayName", **({"page": page} if page else {})}
        response = await inproc.client.get(_clusters(inproc), params=params)
        keys += [c["displayName"] for c in response.json()["items"]]
        page = response.headers.get("opc-next-page")
        if page is None:
            break
    assert keys == ["Default cluster", "alpha", "beta", "gamma"]
    contains = (await inproc.client.get(_clusters(inproc), params={"displayNameContains": "MM"})).json()["items"]
    assert [c["displayName"] for c in contains] == ["gamma"]
    refused = await inproc.client.post(_clusters(inproc), json={"type": "AI_COMPUTE", "displayName": "x"})
    assert refused.status_code == 400


async def test_a_session_on_an_unknown_cluster_is_refused_and_leaves_nothing(inproc: InProcess) -> None:
    before = await _counts(inproc)
    response = await inproc.client.post(inproc.sessions_url, json={"path": "a.ipynb", "cluster_id": "nope"})
    assert response.status_code == 400 and response.json()["code"] == "InvalidParameter", response.text
    assert "nope" in response.json()["message"]
    assert await _counts(inproc) == before
    assert await inproc.kernels.kernel_ids() == []

    made = (await inproc.client.post(inproc.sessions_url, json={"path": "a.ipynb"})).json()
    assert made["cluster_id"] == "default"
    url = f"{inproc.sessions_url}/{made['id']}"
    patched = await inproc.client.patch(url, json={"cluster_id": "nope", "name": "x"})
    assert patched.status_code == 400
    after = (await inproc.client.get(url)).json()
    assert (after["cluster_id"], after["name"], after["kernel"]["id"]) == (
        "default",
        made["name"],
        made["kernel"]["id"],
    )
    cluster = (await inproc.client.get(f"{_clusters(inproc)}/default")).json()
    listed = (await inproc.client.get(_clusters(inproc))).json()["items"][0]
    assert cluster["key"] == "default"
    assert listed["attachedNotebooks"] == ["a.ipynb"]
    assert listed["attachedSessions"] == [
        {"type": "NOTEBOOK", "path": "a.ipynb", "state": "ACTIVE", "lastCommandRun": None}
    ]


async def test_moving_a_session_to_another_cluster_gives_it_a_kernel_there(inproc: InProcess) -> None:
    other = (await inproc.client.post(_clusters(inproc), json={"displayName": "other"})).json()["key"]
    made = (await inproc.client.post(inproc.sessions_url, json={"path": "m.ipynb"})).json()
    url = f"{inproc.sessions_url}/{made['id']}"
    moved = (await inproc.client.patch(url, json={"cluster_id": other})).json()
    assert moved["cluster_id"] == other and moved["kernel"]["id"] != made["kernel"]["id"]
    async with inproc.services.db.read() as db:
        row = await db.get(KernelRow, moved["kernel"]["id"])
        assert row is not None and row.cluster_key == other
    deleting = await inproc.client.delete(f"{_clusters(inproc)}/{other}")
    assert deleting.status_code == 409  # a session runs on it
    assert (await inproc.client.delete(f"{_clusters(inproc)}/default")).status_code == 409


async def test_stopping_a_cluster_stops_its_kernels_and_starting_lets_sessions_revive(inproc: InProcess) -> None:
    made = (await inproc.client.post(inproc.sessions_url, json={"path": "s.ipynb"})).json()
    old_kernel = made["kernel"]["id"]
    stopped = await inproc.client.post(f"{_clusters(inproc)}/default/actions/stop", json={})
    assert stopped.status_code == 200 and stopped.json()["state"] == "STOPPED", stopped.text
    assert not await inproc.kernels.is_alive(old_kernel)
    session = (await inproc.client.get(f"{inproc.sessions_url}/{made['id']}")).json()
    assert session["kernel"]["execution_state"] == "dead"
    async with inproc.services.db.read() as db:
        row = await db.get(KernelRow, old_kernel)
        assert row is not None and (row.status, row.reason) == ("dead", "cluster stopped")
    refused = await inproc.client.post(inproc.sessions_url, json={"path": "s.ipynb"})
    assert refused.status_code == 409, refused.text
    fresh = await inproc.client.post(inproc.sessions_url, json={"path": "new.ipynb"})
    assert fresh.status_code == 409
    assert await _counts(inproc) == (1, 1)

    started = await inproc.client.post(f"{_clusters(inproc)}/default/actions/start")
    assert started.status_code == 200 and started.json()["state"] == "ACTIVE"
    revived = (await inproc.client.post(inproc.sessions_url, json={"path": "s.ipynb"})).json()
    assert revived["id"] == made["id"] and revived["kernel"]["id"] != old_kernel
    assert await inproc.kernels.is_alive(revived["kernel"]["id"])

    restarted = await inproc.client.post(f"{_clusters(inproc)}/default/actions/restart", json={})
    assert restarted.status_code == 200 and restarted.json()["state"] == "ACTIVE"
    assert not await inproc.kernels.is_alive(revived["kernel"]["id"])


async def test_stale_if_match_on_an_action_is_412_and_changes_nothing(inproc: InProcess) -> None:
    url = f"{_clusters(inproc)}/default"
    response = await inproc.client.post(f"{url}/actions/stop", json={}, headers={"if-match": "stale"})
    assert response.status_code == 412
    assert (await inproc.client.get(url)).json()["state"] == "ACTIVE"


async def test_cluster_operations_nbplane_does_not_serve_say_so(inproc: InProcess) -> None:
    for method, tail, op in (
        ("POST", "default/actions/searchLogs", "search_cluster_logs"),
        ("GET", "default/libraries", "list_cluster_libraries"),
        ("GET", "default/permissions", "list_cluster_permissions"),
        ("POST", "default/actions/cloneCompute", "clone_compute"),
    ):
        response = await inproc.client.request(method, f"{_clusters(inproc)}/{tail}")
        assert response.status_code == 404, (tail, response.text)
        assert response.json()["message"].startswith(f"nbplane does not serve {op} of the Cluster API"), tail


async def test_an_unreachable_gateway_fails_the_session_not_the_request(inproc: InProcess) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = GatewayDetails(f"http://127.0.0.1:{port}", "token")
    cluster = await inproc.services.clusters.provision(inproc.instance_id, inproc.workspace_key, "gw", gateway=gateway)
    made = await inproc.client.post(inproc.sessions_url, json={"path": "g.ipynb", "cluster_id": cluster.key})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["lifecycleState"] == "FAILED" and "unreachable" in body["lifecycleDetails"]
    specs = await inproc.client.get(f"{inproc.api_url}/kernelspecs")
    assert specs.status_code == 200 and "python3" in specs.json()["kernelspecs"]  # the default cluster's
    assert (await inproc.client.get(_clusters(inproc))).status_code == 200
    assert (await inproc.client.get(inproc.sessions_url)).status_code == 200
