"""The five session operations through Oracle's SDK against a real server over HTTPS."""

from __future__ import annotations

import oci
import pytest
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails, Kernel, PatchSessionDetails

from tests.e2e.conftest import Server


def _cluster(server: Server, name: str) -> str:
    """A local cluster of the server's workspace (a session's cluster_id must name one)."""
    return server.nbplane(
        "admin", "create-cluster", "--instance", server.instance_id, "--workspace", server.workspace_key, "--name", name
    ).splitlines()[-1]


pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("cleanup_sessions")]


def test_create_get_and_create_or_return(server: Server) -> None:
    client = server.sdk()
    details = CreateSessionDetails(path="sdk/a.ipynb", name="A", type="notebook", kernel=Kernel(name="python3"))
    created = client.create_session(server.instance_id, server.workspace_key, details)
    assert created.status == 201
    session = created.data
    assert session.lifecycle_state == "ACTIVE"
    assert session.kernel.execution_state == "idle"
    assert session.kernel.name == "python3"
    assert created.headers["etag"]

    again = client.create_session(server.instance_id, server.workspace_key, CreateSessionDetails(path="sdk/a.ipynb"))
    assert again.status == 201
    assert again.data.id == session.id

    fetched = client.get_session(server.instance_id, server.workspace_key, session.id)
    assert fetched.data.id == session.id
    assert fetched.data.path == "sdk/a.ipynb"
    assert fetched.headers["etag"] == created.headers["etag"]
    assert fetched.headers["opc-request-id"]


def test_retry_token_replay_and_conflict(server: Server) -> None:
    client = server.sdk()
    details = CreateSessionDetails(name="tokened", type="file")
    first = client.create_session(server.instance_id, server.workspace_key, details, opc_retry_token="sdk-token-1")
    replay = client.create_session(server.instance_id, server.workspace_key, details, opc_retry_token="sdk-token-1")
    assert replay.data.id == first.data.id
    with pytest.raises(oci.exceptions.ServiceError) as conflict:
        client.create_session(
            server.instance_id,
            server.workspace_key,
            CreateSessionDetails(name="something else"),
            opc_retry_token="sdk-token-1",
        )
    assert conflict.value.status == 409
    assert conflict.value.code == "Conflict"


def test_list_filters_sort_and_paging(server: Server) -> None:
    client = server.sdk()
    ids = []
    gpu_key, cpu_key = _cluster(server, "gpu"), _cluster(server, "cpu")
    for i in range(5):
        details = CreateSessionDetails(
            path=f"list/{i}.ipynb", cluster_id=gpu_key if i % 2 else cpu_key, agent_flow_key=f"flow{i}", type="notebook"
        )
        ids.append(client.create_session(server.instance_id, server.workspace_key, details).data.id)

    desc = client.list_sessions(server.instance_id, server.workspace_key)
    assert [s.id for s in desc.data.items] == ids[::-1]
    assert desc.headers["etag"]
    asc = client.list_sessions(server.instance_id, server.workspace_key, sort_order="ASC", sort_by="timeCreated")
    assert [s.id for s in asc.data.items] == ids

    gpu = client.list_sessions(server.instance_id, server.workspace_key, cluster_id=gpu_key)
    assert sorted(s.path for s in gpu.data.items) == ["list/1.ipynb", "list/3.ipynb"]
    by_path = client.list_sessions(server.instance_id, server.workspace_key, path="list/2.ipynb")
    assert [s.id for s in by_path.data.items] == [ids[2]]
    by_flow = client.list_sessions(server.instance_id, server.workspace_key, agent_flow_key="flow4")
    assert [s.id for s in by_flow.data.items] == [ids[4]]

    first_page = client.list_sessions(server.instance_id, server.workspace_key, limit=2)
    assert first_page.has_next_page
    everything = oci.pagination.list_call_get_all_results(
        client.list_sessions, server.instance_id, server.workspace_key, limit=2, sort_order="ASC"
    )
    assert [s.id for s in everything.data] == ids
    last = client.list_sessions(server.instance_id, server.workspace_key, limit=10)
    assert not last.has_next_page


def test_patch_each_field_stale_etag_and_delete(server: Server) -> None:
    client = server.sdk()
    created = client.create_session(
        server.instance_id, server.workspace_key, CreateSessionDetails(path="p/one.ipynb", type="notebook")
    )
    sid, etag = created.data.id, created.headers["etag"]
    old_kernel = created.data.kernel.id
    c1 = _cluster(server, "c-1")

    patched = client.patch_session(
        server.instance_id,
        server.workspace_key,
        sid,
        PatchSessionDetails(name="renamed", path="p/two.ipynb", type="file", cluster_id=c1),
        if_match=etag,
    )
    assert (patched.data.name, patched.data.path, patched.data.type, patched.data.cluster_id) == (
        "renamed",
        "p/two.ipynb",
        "file",
        c1,
    )
    with pytest.raises(oci.exceptions.ServiceError) as stale:
        client.patch_session(
            server.instance_id, server.workspace_key, sid, PatchSessionDetails(name="x"), if_match=etag
        )
    assert (stale.value.status, stale.value.code) == (412, "NoEtagMatch")

    swapped = client.patch_session(
        server.instance_id, server.workspace_key, sid, PatchSessionDetails(kernel=Kernel(name="python3"))
    )
    assert swapped.data.kernel.id != old_kernel
    refreshed = client.patch_session(
        server.instance_id, server.workspace_key, sid, PatchSessionDetails(must_refresh_context=True)
    )
    assert refreshed.data.id == sid
    assert refreshed.data.kernel.id == swapped.data.kernel.id

    other = client.create_session(server.instance_id, server.workspace_key, CreateSessionDetails(path="p/three.ipynb"))
    attached = client.patch_session(
        server.instance_id,
        server.workspace_key,
        other.data.id,
        PatchSessionDetails(kernel=Kernel(id=swapped.data.kernel.id)),
    )
    assert attached.data.kernel.id == swapped.data.kernel.id

    deleted = client.delete_session(server.instance_id, server.workspace_key, sid)
    assert deleted.status == 204
    with pytest.raises(oci.exceptions.ServiceError) as missing:
        client.get_session(server.instance_id, server.workspace_key, sid)
    assert (missing.value.status, missing.value.code) == (404, "NotAuthorizedOrNotFound")
    ids = [s.id for s in client.list_sessions(server.instance_id, server.workspace_key).data.items]
    assert sid not in ids
