"""The Workspace API through Oracle's SDK and `aidp` CLI against a real server: create, list with paging,
get, update, delete; a second user of the tenancy without a grant; AIDP groups nbplane does not serve."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import oci
import pytest
from aidp_python_client.aidataplatform_dp import NotebookClient, WorkspaceClient
from aidp_python_client.aidataplatform_dp.models import (
    AssignWorkspacePermissionDetails,
    CreateSessionDetails,
    CreateWorkspaceDetails,
    ManageWorkspacePermissionDetails,
    PermissionAssignees,
    UpdateContentDetails,
    UpdateWorkspaceDetails,
)
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from nbplane.auth.keys import generate_rsa_keypair
from nbplane.bootstrap import write_oci_profile
from tests.e2e.conftest import Server, cli_json
from tests.signing import sign

pytestmark = pytest.mark.e2e

NO_RETRY = oci.retry.NoneRetryStrategy()


def _workspaces(server: Server, config: dict[str, str] | None = None) -> WorkspaceClient:
    config = config or oci.config.from_file(server.oci_config, server.profile)
    return WorkspaceClient(config, service_endpoint=server.endpoint, retry_strategy=NO_RETRY)


def _status(call: object) -> tuple[int, str | None, str]:
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call()  # type: ignore[operator]
    return info.value.status, info.value.code, info.value.message


def test_sdk_create_list_get_update_delete(server: Server) -> None:
    client = _workspaces(server)
    instance = server.instance_id
    made = [client.create_workspace(instance, CreateWorkspaceDetails(display_name=f"sdk-{i}")).data for i in range(3)]
    assert all(w.lifecycle_state == "ACTIVE" and w.type == "USER" for w in made)

    everything = client.list_workspaces(instance, display_name_contains="sdk-").data.items
    assert [w.key for w in everything] == [w.key for w in reversed(made)]  # newest first
    paged = oci.pagination.list_call_get_all_results(
        client.list_workspaces, instance, display_name_contains="sdk-", limit=1
    ).data
    assert [w.key for w in paged] == [w.key for w in everything]
    by_name = oci.pagination.list_call_get_all_results(
        client.list_workspaces, instance, sort_by="displayName", limit=2
    ).data
    assert [w.display_name for w in by_name] == sorted(w.display_name for w in by_name)
    assert {"default", *(w.key for w in made)} <= {w.key for w in by_name}

    got = client.get_workspace(instance, made[0].key)
    assert got.data.display_name == "sdk-0" and got.headers["etag"]
    stale = _status(
        lambda: client.update_workspace(
            instance, made[0].key, UpdateWorkspaceDetails(display_name="x"), if_match="stale"
        )
    )
    assert stale[:2] == (412, "NoEtagMatch")
    updated = client.update_workspace(
        instance, made[0].key, UpdateWorkspaceDetails(description="renamed"), if_match=got.headers["etag"]
    )
    assert updated.data.description == "renamed" and updated.data.display_name == "sdk-0"

    for workspace in made:
        client.delete_workspace(instance, workspace.key)
    assert _status(lambda: client.get_workspace(instance, made[0].key))[:2] == (404, "NotAuthorizedOrNotFound")
    assert _status(lambda: client.delete_workspace(instance, "default"))[:2] == (409, "Conflict")


def test_a_new_workspace_serves_sessions_and_contents_and_delete_stops_them(server: Server) -> None:
    instance = server.instance_id
    key = _workspaces(server).create_workspace(instance, CreateWorkspaceDetails(display_name="fresh")).data.key
    notebooks = server.sdk(retry_strategy=NO_RETRY)
    session = notebooks.create_session(instance, key, CreateSessionDetails(path="a.ipynb")).data
    assert session.lifecycle_state == "ACTIVE" and session.kernel.execution_state == "idle"
    saved = notebooks.update_content(
        instance, key, "notes.txt", UpdateContentDetails(type="file", format="text", content="kept")
    )
    assert saved.data.path == "notes.txt"
    kernels_before = len(server.kernel_processes())

    _workspaces(server).delete_workspace(instance, key)
    assert _status(lambda: notebooks.get_session(instance, key, session.id))[0] == 404
    assert len(server.kernel_processes()) == kernels_before - 1
    kept = list((server.data_dir / "deleted-workspaces" / instance).glob(f"{key}.*/notes.txt"))
    assert [p.read_text() for p in kept] == ["kept"]


def test_cli_workspace_commands(server: Server) -> None:
    created = cli_json(server.cli("workspace", "create", "--body", '{"displayName":"cli-a"}', check=True))
    key = created["data"]["key"]
    second = cli_json(server.cli("workspace", "create", "--body", '{"displayName":"cli-b"}', check=True))["data"]

    listed = cli_json(server.cli("workspace", "list", "--display-name-contains", "cli-", "--limit", "1", check=True))
    assert [w["key"] for w in listed["data"]["items"]] == [second["key"]]
    token = listed["headers"]["opc-next-page"]
    page2 = cli_json(
        server.cli("workspace", "list", "--display-name-contains", "cli-", "--limit", "1", "--page", token, check=True)
    )
    assert [w["key"] for w in page2["data"]["items"]] == [key]
    assert "opc-next-page" not in page2["headers"]
    typed = cli_json(server.cli("workspace", "list", "--type", "DEFAULT", check=True))
    assert [w["key"] for w in typed["data"]["items"]] == ["default"]
    # the CLI's default auth, a session token, reaches the same workspaces
    by_token = cli_json(server.cli("workspace", "list", "--sort-by", "displayName", auth="security_token", check=True))
    assert {key, second["key"], "default"} <= {w["key"] for w in by_token["data"]["items"]}

    got = cli_json(server.cli("workspace", "get", key, check=True))
    assert got["data"]["displayName"] == "cli-a"
    body = '{"displayName":"cli-a2"}'
    refused = server.cli("workspace", "update", key, "--body", body, "--if-match", "stale")
    assert refused.returncode == 412 & 0xFF and cli_json(refused)["code"] == "NoEtagMatch"
    updated = cli_json(
        server.cli("workspace", "update", key, "--body", body, "--if-match", got["headers"]["etag"], check=True)
    )
    assert updated["data"]["displayName"] == "cli-a2"

    session = server.cli("notebook", "create-session", key, "--body", '{"path":"x.ipynb"}', check=True)
    assert cli_json(session)["data"]["lifecycleState"] == "ACTIVE"
    for workspace in (key, second["key"]):
        assert cli_json(server.cli("workspace", "delete", workspace, check=True))["status"] == 204
    gone = server.cli("workspace", "get", key)
    assert gone.returncode == 404 & 0xFF and cli_json(gone)["code"] == "NotAuthorizedOrNotFound"


def _second_user(server: Server, tmp_path: Path) -> tuple[dict[str, str], str]:
    """A user of the bootstrap tenancy with its own API key (and no workspace grant): its OCI config."""
    tenancy = oci.config.from_file(server.oci_config, server.profile)["tenancy"]
    user = server.nbplane("admin", "create-user", "--tenancy", tenancy, "--name", "carol")
    pair = generate_rsa_keypair()
    (tmp_path / "carol.pem").write_text(pair.private_pem)
    (tmp_path / "carol_public.pem").write_text(pair.public_pem)
    server.nbplane("admin", "add-key", "--user", user, "--public-key", str(tmp_path / "carol_public.pem"))
    config_file = tmp_path / "carol-config"
    values = {
        "user": user,
        "fingerprint": pair.fingerprint,
        "tenancy": tenancy,
        "region": "us-ashburn-1",
        "key_file": str(tmp_path / "carol.pem"),
    }
    write_oci_profile(config_file, "DEFAULT", values)
    return oci.config.from_file(str(config_file)), user


async def _websocket_status(server: Server, config: dict[str, str], path: str) -> int:
    signer = oci.signer.Signer(
        config["tenancy"], config["user"], config["fingerprint"], private_key_file_location=config["key_file"]
    )
    wire = sign(signer, "GET", server.endpoint + path)
    headers = {k: v for k, v in wire.headers.items() if k in ("date", "authorization")}
    url = server.endpoint.replace("https://", "wss://") + path
    try:
        async with connect(url, additional_headers=headers, ssl=ssl.create_default_context(cafile=server.ca_bundle)):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_a_second_user_without_access_gets_404(server: Server, tmp_path: Path) -> None:
    instance = server.instance_id
    owner = _workspaces(server)
    key = owner.create_workspace(instance, CreateWorkspaceDetails(display_name="owned")).data.key
    notebooks = server.sdk(retry_strategy=NO_RETRY)
    session = notebooks.create_session(instance, key, CreateSessionDetails(path="o.ipynb")).data
    config, carol = _second_user(server, tmp_path)
    theirs = _workspaces(server, config)
    carol_notebooks = NotebookClient(config, service_endpoint=server.endpoint, retry_strategy=NO_RETRY)

    assert key not in {w.key for w in theirs.list_workspaces(instance).data.items}
    for call in (
        lambda: theirs.get_workspace(instance, key),
        lambda: theirs.update_workspace(instance, key, UpdateWorkspaceDetails(display_name="x")),
        lambda: theirs.delete_workspace(instance, key),
        lambda: theirs.list_workspace_permissions(instance, key),
        lambda: carol_notebooks.list_sessions(instance, key),
        lambda: carol_notebooks.get_session(instance, key, session.id),
        lambda: carol_notebooks.create_session(instance, key, CreateSessionDetails(path="c.ipynb")),
        lambda: carol_notebooks.get_content(instance, key, "o.ipynb"),
    ):
        status, code, _ = _status(call)
        assert (status, code) == (404, "NotAuthorizedOrNotFound")
    channels = (
        f"/20260430/aiDataPlatforms/{instance}/workspaces/{key}/notebook/api/kernels/{session.kernel.id}/channels"
    )
    assert asyncio.run(_websocket_status(server, config, channels)) == 404
    owner_config = oci.config.from_file(server.oci_config, server.profile)
    assert asyncio.run(_websocket_status(server, owner_config, channels)) == 101

    grant = ManageWorkspacePermissionDetails(
        assign_workspace_permission_details=AssignWorkspacePermissionDetails(
            assignees=PermissionAssignees(type="USER", targets=[carol]), permissions=["USER"]
        )
    )
    assert owner.manage_workspace_permission(instance, key, grant).status == 204
    assert [s.id for s in carol_notebooks.list_sessions(instance, key).data.items] == [session.id]
    assert asyncio.run(_websocket_status(server, config, channels)) == 101
    grants = {p.grantee: p.grantee_permissions for p in owner.list_workspace_permissions(instance, key).data.items}
    assert grants[carol] == ["USER"]
    listed = cli_json(server.cli("workspace", "list-permissions", key, check=True))
    assert {p["grantee"] for p in listed["data"]["items"]} == set(grants)
    assert _status(lambda: theirs.delete_workspace(instance, key))[0] == 404  # a USER does not administer
    owner.delete_workspace(instance, key)


@pytest.mark.parametrize(
    ("args", "group"),
    [
        (["catalog", "list"], "Catalog"),
        (["workflow", "list-jobs", "default"], "Workflow"),
    ],
)
def test_unserved_groups_answer_a_clear_404(server: Server, args: list[str], group: str) -> None:
    result = server.cli(*args)
    assert result.returncode == 404 & 0xFF, result.stderr
    error = cli_json(result)
    assert error["code"] == "NotFound"
    assert error["message"].startswith(f"nbplane does not serve the {group} API; it serves "), error["message"]
    assert "Notebook" in error["message"] and "Workspace" in error["message"]
