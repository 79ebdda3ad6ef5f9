"""The Cluster API through Oracle's SDK and `aidp` CLI against a real server, and sessions on clusters:
list/get/get-default/start/stop, paging, etag and 412, unknown and cross-tenant 404s, a session on an unknown
cluster refused; sessions on clusters backed by a real Kernel Gateway and Enterprise Gateway, whose kernels
run there (their pid is no local kernel of nbplane) and are shut down there when the session goes."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import oci
import psutil
import pytest
from aidp_python_client.aidataplatform_dp import ClusterClient, NotebookClient
from aidp_python_client.aidataplatform_dp.models import (
    CreateSessionDetails,
    CreateSparkClusterDetails,
    StartClusterDetails,
    StopClusterDetails,
    UpdateSparkClusterDetails,
)

from tests.e2e.conftest import Server, cli_json, start_server, stop_server, workspace_token
from tests.e2e.test_auth import _second_tenant
from tests.e2e.wsclient import KernelSocket
from tests.gateways import EG_MISSING, RunningGateway, executable, start_gateway

pytestmark = pytest.mark.e2e

NO_RETRY = oci.retry.NoneRetryStrategy()


def _clusters(server: Server) -> ClusterClient:
    config = oci.config.from_file(server.oci_config, server.profile)
    return ClusterClient(config, service_endpoint=server.endpoint, retry_strategy=NO_RETRY)


def _status(call: object) -> tuple[int, str | None, str]:
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call()  # type: ignore[operator]
    return info.value.status, info.value.code, info.value.message


def _make_cluster(server: Server, name: str, *gateway: str) -> str:
    out = server.nbplane(
        "admin", "create-cluster", "--instance", server.instance_id, "--workspace", server.workspace_key,
        "--name", name, *gateway,
    )  # fmt: skip
    return out.splitlines()[-1]


def test_sdk_list_get_default_paging_etag_start_stop(server: Server) -> None:
    client = _clusters(server)
    instance, ws = server.instance_id, server.workspace_key
    keys = [_make_cluster(server, f"pool-{i}") for i in range(3)]
    everything = client.list_clusters(instance, ws, display_name_contains="pool-").data.items
    assert [c.key for c in everything] == keys[::-1]  # newest first
    assert all(c.state == "ACTIVE" and c.type == "USER" for c in everything)
    paged = oci.pagination.list_call_get_all_results(
        client.list_clusters, instance, ws, display_name_contains="pool-", limit=1
    ).data
    assert [c.key for c in paged] == [c.key for c in everything]
    by_name = client.list_clusters(instance, ws, sort_by="displayName", sort_order="ASC").data.items
    assert [c.display_name for c in by_name][:4] == ["Default cluster", "pool-0", "pool-1", "pool-2"]

    default = client.get_default_cluster(instance).data
    assert (default.key, default.workspace_key, default.source_api) == ("default", ws, "DEFAULT_CLUSTER_API")

    got = client.get_cluster(instance, ws, keys[0])
    assert got.data.display_name == "pool-0" and got.headers["etag"]
    stale = _status(lambda: client.stop_cluster(instance, ws, keys[0], StopClusterDetails(), if_match="stale"))
    assert stale[0] == 412
    stopped = client.stop_cluster(instance, ws, keys[0], StopClusterDetails(), if_match=got.headers["etag"])
    assert stopped.data.state == "STOPPED"
    assert [c.key for c in client.list_clusters(instance, ws, state="STOPPED").data.items] == [keys[0]]
    assert _status(lambda: client.get_cluster(instance, ws, "no-such-cluster"))[0] == 404

    started = server.cli("cluster", "start", ws, keys[0], "--body", "{}", check=True)
    assert cli_json(started)["data"]["state"] == "ACTIVE"
    listed = cli_json(server.cli("cluster", "list", ws, "--limit", "2", check=True))
    assert len(listed["data"]["items"]) == 2
    assert cli_json(server.cli("cluster", "get", ws, keys[1], check=True))["data"]["key"] == keys[1]
    assert cli_json(server.cli("cluster", "get-default", check=True))["data"]["key"] == "default"
    cli_stop = server.cli("cluster", "stop", ws, keys[1], "--body", "{}", check=True)
    assert cli_json(cli_stop)["data"]["state"] == "STOPPED"
    missing = server.cli("cluster", "get", ws, "nope")
    assert cli_json(missing)["code"] == "NotAuthorizedOrNotFound"
    unserved = server.cli("cluster", "list-libraries", ws, keys[1])
    assert cli_json(unserved)["message"].startswith("nbplane does not serve list_cluster_libraries of the Cluster API")


def test_another_tenant_sees_no_cluster(server: Server, tmp_path: Path) -> None:
    tenant_b, b_instance = _second_tenant(server, tmp_path)
    b_clusters = ClusterClient(tenant_b.base_client.config, service_endpoint=server.endpoint, retry_strategy=NO_RETRY)
    assert [c.key for c in b_clusters.list_clusters(b_instance, "default").data.items] == ["default"]
    for call in (
        lambda: b_clusters.list_clusters(server.instance_id, server.workspace_key),
        lambda: b_clusters.get_cluster(server.instance_id, server.workspace_key, "default"),
        lambda: b_clusters.get_default_cluster(server.instance_id),
        lambda: b_clusters.stop_cluster(server.instance_id, server.workspace_key, "default", StopClusterDetails()),
    ):
        assert _status(call)[0] == 404
    assert _clusters(server).get_cluster(server.instance_id, server.workspace_key, "default").data.state == "ACTIVE"


def test_a_session_on_an_unknown_cluster_is_refused_and_leaves_nothing(server: Server, cleanup_sessions: None) -> None:
    client = server.sdk(retry_strategy=NO_RETRY)
    instance, ws = server.instance_id, server.workspace_key
    before = client.list_sessions(instance, ws).data.items
    status, code, message = _status(
        lambda: client.create_session(instance, ws, CreateSessionDetails(path="lost.ipynb", cluster_id="nowhere"))
    )
    assert (status, code) == (400, "InvalidParameter") and "nowhere" in message
    assert [s.id for s in client.list_sessions(instance, ws).data.items] == [s.id for s in before]
    made = client.create_session(instance, ws, CreateSessionDetails(path="here.ipynb")).data
    assert made.cluster_id == "default"


# ---- gateway clusters ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["kernelgateway", "enterprisegateway"])
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    if executable(request.param) is None:
        pytest.skip(EG_MISSING if request.param == "enterprisegateway" else "jupyter-kernel-gateway is not installed")
    running = start_gateway(request.param, tmp_path_factory.mktemp(request.param))
    yield running
    running.stop()


async def _run_through_nbplane(server: Server, kernel_id: str, code: str) -> str:
    ws_base = server.endpoint.replace("https://", "wss://") + server.notebook_path
    sock = await KernelSocket.open(
        f"{ws_base}/api/kernels/{kernel_id}/channels?session_id=e2e-gateway",
        headers={"Authorization": f"token {workspace_token(server)}"},
        ssl_context=ssl.create_default_context(cafile=server.ca_bundle),
    )
    try:
        result = await sock.execute(code, wait_s=120)
        assert result.reply["content"]["status"] == "ok", result.reply
        return result.stdout
    finally:
        await sock.close()


def test_a_session_on_a_gateway_cluster_runs_there(server: Server, gateway: RunningGateway) -> None:
    env = ["--kernel-env", "KERNEL_USERNAME=nbplane-e2e"]
    key = _make_cluster(server, gateway.kind, "--gateway-url", gateway.url, "--gateway-token", gateway.token, *env)
    client: NotebookClient = server.sdk(retry_strategy=NO_RETRY)
    instance, ws = server.instance_id, server.workspace_key
    before = {k["id"] for k in gateway.kernels()}
    session = client.create_session(
        instance, ws, CreateSessionDetails(path=f"{gateway.kind}.ipynb", cluster_id=key)
    ).data
    try:
        assert session.cluster_id == key and session.kernel.execution_state == "idle", session
        remote = {k["id"] for k in gateway.kernels()} - before
        assert len(remote) == 1  # its kernel appears in the gateway's /api/kernels
        if gateway.kind == "enterprisegateway":
            assert remote == {session.kernel.id}  # Enterprise Gateway takes KERNEL_ID as its kernel's id

        out = asyncio.run(
            _run_through_nbplane(
                server, session.kernel.id, "import os; print(os.getpid(), os.environ.get('KERNEL_USERNAME'))"
            )
        )
        pid_text, username = out.split()
        pid = int(pid_text)
        assert username == "nbplane-e2e"
        assert pid not in {p.pid for p in server.kernel_processes()}  # no local kernel of nbplane
        assert gateway.process.pid in {p.pid for p in psutil.Process(pid).parents()}  # the gateway's child

        with httpx.Client(
            base_url=server.endpoint + server.notebook_path,
            verify=ssl.create_default_context(cafile=server.ca_bundle),
            headers={"Authorization": f"token {workspace_token(server)}"},
            timeout=60,
        ) as http:
            model = http.get(f"/api/kernels/{session.kernel.id}")
            assert model.status_code == 200 and model.json()["execution_state"] == "idle"
            specs = http.get("/api/kernelspecs").json()
            assert "python3" in specs["kernelspecs"]

        clusters = _clusters(server)
        assert clusters.stop_cluster(instance, ws, key, StopClusterDetails()).data.state == "STOPPED"
        assert {k["id"] for k in gateway.kernels()} == before  # the cluster's kernels are shut down there
        stopped = client.get_session(instance, ws, session.id).data
        assert stopped.kernel.execution_state == "dead" and stopped.lifecycle_state == "ACTIVE"
        clusters.start_cluster(instance, ws, key, StartClusterDetails())
        revived = client.create_session(
            instance, ws, CreateSessionDetails(path=f"{gateway.kind}.ipynb", cluster_id=key)
        ).data
        assert revived.id == session.id and revived.kernel.id != session.kernel.id
        assert len({k["id"] for k in gateway.kernels()} - before) == 1  # revived on the gateway
    finally:
        client.delete_session(instance, ws, session.id)
    assert {k["id"] for k in gateway.kernels()} == before  # shut down on the gateway


def test_gateway_kernels_are_readopted_after_a_restart_and_an_outage_is_unknown(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    if executable("kernelgateway") is None:
        pytest.skip("jupyter-kernel-gateway is not installed")
    gateway = start_gateway("kernelgateway", tmp_path_factory.mktemp("kg-restart"))
    data_dir = tmp_path_factory.mktemp("restart") / "data"
    keep = {"NBPLANE_KERNELS_ON_STOP": "keep", "NBPLANE_GATEWAY_RETRIES": "2", "NBPLANE_GATEWAY_CONNECT_TIMEOUT": "2"}
    server = start_server(data_dir, env=keep)
    try:
        key = _make_cluster(server, "kg", "--gateway-url", gateway.url, "--gateway-token", gateway.token)
        client = server.sdk(retry_strategy=NO_RETRY)
        instance, ws = server.instance_id, server.workspace_key
        session = client.create_session(instance, ws, CreateSessionDetails(path="kept.ipynb", cluster_id=key)).data
        asyncio.run(_run_through_nbplane(server, session.kernel.id, "x = 41"))
        stop_server(server)
        assert len(gateway.kernels()) == 1  # let go of, not shut down

        server = start_server(data_dir, env=keep)
        client = server.sdk(retry_strategy=NO_RETRY)
        again = client.get_session(instance, ws, session.id).data
        assert again.kernel.id == session.kernel.id and again.kernel.execution_state == "idle"
        assert asyncio.run(_run_through_nbplane(server, session.kernel.id, "print(x + 1)")).strip() == "42"

        gateway.crash()
        with _notebook_http(server) as http:
            for _ in range(600):  # generous: a loaded machine
                model = http.get(f"/api/kernels/{session.kernel.id}")
                assert model.status_code == 200, model.text  # never a 5xx
                if model.json()["execution_state"] == "unknown":
                    break
                time.sleep(0.2)
            assert model.json()["execution_state"] == "unknown"
            assert http.get("/api/kernels").status_code == 200
        listed = client.list_sessions(instance, ws).data.items
        assert [s.kernel.execution_state for s in listed if s.id == session.id] == ["unknown"]
    finally:
        stop_server(server)
        gateway.stop()


def _notebook_http(server: Server) -> httpx.Client:
    return httpx.Client(
        base_url=server.endpoint + server.notebook_path,
        verify=ssl.create_default_context(cafile=server.ca_bundle),
        headers={"Authorization": f"token {workspace_token(server)}"},
        timeout=60,
    )


def test_sdk_create_update_delete(server: Server) -> None:
    client = _clusters(server)
    instance, ws = server.instance_id, server.workspace_key
    made = client.create_cluster(
        instance, ws, CreateSparkClusterDetails(display_name="made-by-sdk"), opc_retry_token="cl-tok-1"
    )
    again = client.create_cluster(
        instance, ws, CreateSparkClusterDetails(display_name="made-by-sdk"), opc_retry_token="cl-tok-1"
    )
    assert made.data.key == again.data.key and made.data.state == "ACTIVE"
    updated = client.update_cluster(
        instance, ws, made.data.key, UpdateSparkClusterDetails(description="renamed"), if_match=made.headers["etag"]
    )
    assert updated.data.description == "renamed"
    stale = _status(
        lambda: client.update_cluster(
            instance, ws, made.data.key, UpdateSparkClusterDetails(description="x"), if_match=made.headers["etag"]
        )
    )
    assert stale[:2] == (412, "NoEtagMatch")
    client.delete_cluster(instance, ws, made.data.key, if_match=updated.headers["etag"])
    assert _status(lambda: client.get_cluster(instance, ws, made.data.key))[0] == 404
    assert _status(lambda: client.delete_cluster(instance, ws, "default"))[:2] == (409, "Conflict")
