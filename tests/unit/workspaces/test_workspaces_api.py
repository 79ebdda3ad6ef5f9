"""The Workspace API in process (no auth): create, list with filters, sort and paging, get, update, delete."""

from __future__ import annotations

from nbplane.workspaces.models import PageCursor, SortBy, SortOrder
from tests.unit.conftest import InProcess


def base(inproc: InProcess) -> str:
    return f"/20260430/aiDataPlatforms/{inproc.instance_id}/workspaces"


async def _create(inproc: InProcess, name: str, **extra: object) -> dict[str, object]:
    created = await inproc.client.post(base(inproc), json={"displayName": name, **extra})
    assert created.status_code == 200, created.text
    return created.json()


async def test_create_get_update_and_the_models_required_fields(inproc: InProcess) -> None:
    created = await inproc.client.post(
        base(inproc), json={"displayName": "Team A", "description": "d", "defaultCatalogKey": "cat1"}
    )
    assert created.status_code == 200, created.text
    body = created.json()
    key = body["key"]
    assert key.startswith("ws") and key.islower() and key.isalnum()
    for field in ("key", "displayName", "timeCreated", "lifecycleState", "type"):  # required in the SDK
        assert body[field] is not None, field
    assert body["lifecycleState"] == "ACTIVE" and body["type"] == "USER" and body["isPrivateNetworkEnabled"] is False
    assert body["description"] == "d" and body["defaultCatalogKey"] == "cat1"
    assert body["timeCreated"].endswith("Z")
    etag = created.headers["etag"]

    got = await inproc.client.get(f"{base(inproc)}/{key}")
    assert got.status_code == 200 and got.json() == body and got.headers["etag"] == etag

    stale = await inproc.client.put(f"{base(inproc)}/{key}", json={"displayName": "x"}, headers={"if-match": "nope"})
    assert stale.status_code == 412 and stale.json()["code"] == "NoEtagMatch"
    updated = await inproc.client.put(
        f"{base(inproc)}/{key}", json={"displayName": "Team B"}, headers={"if-match": etag}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["displayName"] == "Team B" and updated.json()["description"] == "d"
    assert updated.json()["timeUpdated"] is not None and updated.headers["etag"] != etag


async def test_a_new_workspace_serves_sessions_and_contents_at_once(inproc: InProcess) -> None:
    key = (await _create(inproc, "fresh"))["key"]
    api = f"{base(inproc)}/{key}/notebook/api"
    assert (
        await inproc.client.put(f"{api}/contents/a.txt", json={"type": "file", "format": "text", "content": "hi"})
    ).status_code == 200
    session = await inproc.client.post(f"{api}/sessions", json={"path": "a.ipynb"})
    assert session.status_code == 201 and session.json()["lifecycleState"] == "ACTIVE"
    assert (inproc.data_dir / "workspaces" / inproc.instance_id / key / "a.txt").read_text() == "hi"


async def test_list_filters_sorts_and_pages(inproc: InProcess) -> None:
    names = ["beta", "Alpha", "gamma", "alphabet"]
    keys = [(await _create(inproc, n))["key"] for n in names]
    everything = (await inproc.client.get(base(inproc))).json()["items"]
    # newest first by default; the bootstrap DEFAULT workspace is the oldest
    assert [w["key"] for w in everything] == [*reversed(keys), "default"]
    assert everything[-1]["type"] == "DEFAULT"

    by_name = (await inproc.client.get(base(inproc), params={"sortBy": "displayName"})).json()["items"]
    # the database's collation decides between cases; these four sort alike in all of them
    assert [w["displayName"] for w in by_name if w["displayName"] in names] == ["Alpha", "alphabet", "beta", "gamma"]
    contains = await inproc.client.get(base(inproc), params={"displayNameContains": "ALPHA", "sortBy": "displayName"})
    assert [w["displayName"] for w in contains.json()["items"]] == ["Alpha", "alphabet"]
    exact = await inproc.client.get(base(inproc), params={"displayName": "gamma"})
    assert [w["key"] for w in exact.json()["items"]] == [keys[2]]
    typed = await inproc.client.get(base(inproc), params={"type": "DEFAULT"})
    assert [w["key"] for w in typed.json()["items"]] == ["default"]
    state = await inproc.client.get(base(inproc), params={"lifecycleState": "active"})  # case-insensitive
    assert len(state.json()["items"]) == 5
    assert (await inproc.client.get(base(inproc), params={"lifecycleState": "FAILED"})).json()["items"] == []
    private = await inproc.client.get(base(inproc), params={"isPrivateNetworkEnabled": "true"})
    assert private.json()["items"] == []

    for sort in ({}, {"sortBy": "displayName"}, {"sortBy": "displayName", "sortOrder": "DESC"}, {"sortOrder": "ASC"}):
        full = [w["key"] for w in (await inproc.client.get(base(inproc), params=sort)).json()["items"]]
        paged: list[str] = []
        page = None
        while True:
            params = {**sort, "limit": 2, **({"page": page} if page else {})}
            response = await inproc.client.get(base(inproc), params=params)
            assert response.status_code == 200, response.text
            paged += [w["key"] for w in response.json()["items"]]
            page = response.headers.get("opc-next-page")
            if page is None:
                break
            assert page[0].isalpha() and page
        assert paged == full, sort

    forged = PageCursor(SortBy.TIME_CREATED, SortOrder.DESC, "not a time", "k").encode()
    bad = await inproc.client.get(base(inproc), params={"page": forged})
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidParameter"
    token = (await inproc.client.get(base(inproc), params={"limit": 1})).headers["opc-next-page"]
    other_sort = await inproc.client.get(base(inproc), params={"limit": 1, "page": token, "sortBy": "displayName"})
    assert other_sort.status_code == 400 and other_sort.json()["code"] == "InvalidParameter"


async def test_bad_input_is_400_and_creates_nothing(inproc: InProcess) -> None:
    before = (await inproc.client.get(base(inproc))).json()["items"]
    cases = [
        ({}, "MissingParameter"),
        ({"displayName": ""}, "InvalidParameter"),
        ({"displayName": 5}, "InvalidParameter"),
        ({"displayName": "x" * 256}, "InvalidParameter"),
        ({"displayName": "n", "networkConfigurationDetails": {"subnetId": "s"}}, "InvalidParameter"),
    ]
    for body, code in cases:
        response = await inproc.client.post(base(inproc), json=body)
        assert response.status_code == 400 and response.json()["code"] == code, (body, response.text)
    assert (await inproc.client.post(base(inproc), content=b"{nope")).json()["code"] == "CannotParseRequest"
    for params in ({"lifecycleState": "SLEEPING"}, {"type": "OTHER"}, {"limit": 0}, {"limit": 1001}, {"page": "x"}):
        response = await inproc.client.get(base(inproc), params=params)
        assert response.status_code == 400, (params, response.text)
    assert (await inproc.client.get(base(inproc))).json()["items"] == before
    missing = await inproc.client.get(f"{base(inproc)}/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "NotAuthorizedOrNotFound"


async def test_retry_token_replays_the_create(inproc: InProcess) -> None:
    headers = {"opc-retry-token": "tok-1"}
    first = await inproc.client.post(base(inproc), json={"displayName": "once"}, headers=headers)
    again = await inproc.client.post(base(inproc), json={"displayName": "once"}, headers=headers)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    other = await inproc.client.post(base(inproc), json={"displayName": "twice"}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "Conflict"
    key = first.json()["key"]
    assert (await inproc.client.delete(f"{base(inproc)}/{key}")).status_code == 204
    gone = await inproc.client.post(base(inproc), json={"displayName": "once"}, headers=headers)
    assert gone.status_code == 409 and gone.json()["code"] == "InvalidatedRetryToken"


async def test_delete_stops_kernels_deletes_sessions_and_keeps_the_files(inproc: InProcess) -> None:
    key = (await _create(inproc, "doomed"))["key"]
    api = f"{base(inproc)}/{key}/notebook/api"
    session = (await inproc.client.post(f"{api}/sessions", json={"path": "a.ipynb"})).json()
    lone_kernel = (await inproc.client.post(f"{api}/kernels")).json()["id"]
    content = {"type": "file", "format": "text", "content": "keep me"}
    assert (await inproc.client.put(f"{api}/contents/f.txt", json=content)).status_code == 200
    default_session = await inproc.client.post(f"{inproc.sessions_url}", json={"path": "other.ipynb"})
    etag = (await inproc.client.get(f"{base(inproc)}/{key}")).headers["etag"]

    refused = await inproc.client.delete(f"{base(inproc)}/{key}", headers={"if-match": "stale"})
    assert refused.status_code == 412
    assert (await inproc.client.delete(f"{base(inproc)}/{key}", headers={"if-match": etag})).status_code == 204

    assert not await inproc.kernels.is_alive(session["kernel"]["id"])
    assert not await inproc.kernels.is_alive(lone_kernel)
    assert await inproc.kernels.is_alive(default_session.json()["kernel"]["id"])  # other workspaces untouched
    assert (await inproc.client.get(f"{base(inproc)}/{key}")).status_code == 404
    assert (await inproc.client.get(f"{api}/sessions")).status_code == 404
    assert not (inproc.data_dir / "workspaces" / inproc.instance_id / key).exists()
    kept = list((inproc.data_dir / "deleted-workspaces" / inproc.instance_id).glob(f"{key}.*/f.txt"))
    assert [p.read_text() for p in kept] == ["keep me"]
    assert (await inproc.client.delete(f"{base(inproc)}/{key}")).status_code == 404


async def test_the_default_workspace_cannot_be_deleted(inproc: InProcess) -> None:
    refused = await inproc.client.delete(f"{base(inproc)}/default")
    assert refused.status_code == 409 and refused.json()["code"] == "Conflict"
    assert (await inproc.client.get(f"{base(inproc)}/default")).json()["lifecycleState"] == "ACTIVE"
    assert (await inproc.client.get(inproc.sessions_url)).status_code == 200


async def test_list_permissions_of_the_default_workspace(inproc: InProcess) -> None:
    listed = await inproc.client.get(f"{base(inproc)}/default/permissions")
    assert listed.status_code == 200, listed.text
    [grantee] = listed.json()["items"]
    assert grantee["granteeType"] == "USER" and grantee["granteePermissions"] == ["ADMINISTRATOR"]
    assert grantee["granteeName"] == "local-admin"
