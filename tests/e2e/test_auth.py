"""Authentication end to end: the official SDK and CLI with api_key and security_token against a verifying
server, workspace API tokens over raw HTTP, tenant isolation, and 429s the SDK's default retry recovers from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import oci
import pytest
from aidp_python_client.aidataplatform_dp import NotebookClient
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails, PatchSessionDetails
from oci.auth.signers import SecurityTokenSigner
from oci.signer import load_private_key_from_file

from nbplane.auth.keys import generate_rsa_keypair
from nbplane.bootstrap import write_oci_profile
from tests.e2e.conftest import Server, cli_json, start_server, stop_server

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("cleanup_sessions")]


def session_token_client(server: Server, **kwargs: object) -> NotebookClient:
    profile = server.session_profile()
    config = oci.config.from_file(server.oci_config, profile)
    token = Path(config["security_token_file"]).read_text().strip()
    signer = SecurityTokenSigner(token, load_private_key_from_file(config["key_file"]))
    return NotebookClient(config, signer=signer, service_endpoint=server.endpoint, **kwargs)


def test_sdk_with_api_key_and_security_token(server: Server) -> None:
    by_token = session_token_client(server)
    created = by_token.create_session(server.instance_id, server.workspace_key, CreateSessionDetails(path="st.ipynb"))
    assert created.status == 201
    by_key = server.sdk()
    got = by_key.get_session(server.instance_id, server.workspace_key, created.data.id)
    assert got.data.path == "st.ipynb"
    listed = by_token.list_sessions(server.instance_id, server.workspace_key)
    assert [s.id for s in listed.data.items] == [created.data.id]
    by_token.delete_session(server.instance_id, server.workspace_key, created.data.id)


def test_cli_with_security_token(server: Server) -> None:
    ws = server.workspace_key
    listed = cli_json(server.cli("notebook", "list-sessions", ws, auth="security_token", check=True))
    assert listed["status"] == 200
    missing = server.cli("notebook", "get-session", ws, "no-such-session", auth="security_token")
    assert missing.returncode == 148
    assert cli_json(missing)["code"] == "NotAuthorizedOrNotFound"


def test_unsigned_and_badly_signed_requests_are_401(server: Server, tmp_path: Path) -> None:
    with server.http(signed=False) as client:
        response = client.get(server.sessions_path)
    assert response.status_code == 401
    assert response.json()["code"] == "NotAuthenticated"

    # A session profile whose token was tampered with: the CLI exits with 401 & 0xFF.
    server.session_profile("BROKEN")
    config = oci.config.from_file(server.oci_config, "BROKEN")
    token_file = Path(config["security_token_file"])
    token = token_file.read_text()
    token_file.write_text(token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB"))
    broken = server.cli("--profile", "BROKEN", "notebook", "list-sessions", server.workspace_key, auth="security_token")
    assert broken.returncode == 401 & 0xFF
    assert cli_json(broken)["code"] == "NotAuthenticated"


def test_workspace_token_over_raw_http(server: Server) -> None:
    server.nbplane("admin", "create-workspace", "--instance", server.instance_id, "--key", "tokenws")
    token = server.nbplane(
        "admin", "create-token", "--instance", server.instance_id, "--workspace", server.workspace_key
    ).splitlines()[-1]
    other_path = server.sessions_path.replace(f"/workspaces/{server.workspace_key}/", "/workspaces/tokenws/")
    with server.http(signed=False) as client:
        for scheme in ("token", "Bearer"):
            headers = {"authorization": f"{scheme} {token}"}
            assert client.get(server.sessions_path, headers=headers).status_code == 200
            missing = client.get(f"{server.sessions_path}/nope", headers=headers)
            assert missing.status_code == 404 and missing.json()["code"] == "NotAuthorizedOrNotFound"
            elsewhere = client.get(other_path, headers=headers)
            nowhere = client.get(other_path.replace("/tokenws/", "/nowhere/"), headers=headers)
            assert elsewhere.status_code == nowhere.status_code == 404
        server.nbplane("admin", "revoke-token", token)
        revoked = client.get(server.sessions_path, headers={"authorization": f"token {token}"})
        assert revoked.status_code == 401
    with server.http() as signed:  # the signing user reaches the other workspace of its tenancy
        assert signed.get(other_path).status_code == 200


def _second_tenant(server: Server, tmp_path: Path) -> tuple[NotebookClient, str]:
    tenancy = server.nbplane("admin", "create-tenancy", "--name", "tenant-b")
    user = server.nbplane("admin", "create-user", "--tenancy", tenancy)
    pair = generate_rsa_keypair()
    (tmp_path / "b.pem").write_text(pair.private_pem)
    (tmp_path / "b_public.pem").write_text(pair.public_pem)
    assert (
        server.nbplane("admin", "add-key", "--user", user, "--public-key", str(tmp_path / "b_public.pem"))
        == pair.fingerprint
    )
    instance = server.nbplane("admin", "create-instance", "--tenancy", tenancy, "--name", "b")
    config_file = tmp_path / "b-config"
    values = {
        "user": user,
        "fingerprint": pair.fingerprint,
        "tenancy": tenancy,
        "region": "us-ashburn-1",
        "key_file": str(tmp_path / "b.pem"),
    }
    write_oci_profile(config_file, "DEFAULT", values)
    return NotebookClient(oci.config.from_file(str(config_file)), service_endpoint=server.endpoint), instance


def _error(call: object) -> tuple[int, str | None, str]:
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call()  # type: ignore[operator]
    return info.value.status, info.value.code, info.value.message


def test_tenant_isolation_with_the_sdk(server: Server, tmp_path: Path) -> None:
    tenant_b, b_instance = _second_tenant(server, tmp_path)
    b_session = tenant_b.create_session(b_instance, "default", CreateSessionDetails(path="b.ipynb")).data
    tenant_a = server.sdk(retry_strategy=oci.retry.NoneRetryStrategy())
    a_instance = server.instance_id
    ghost_instance = "ocid1.aidataplatform.oc1..aaaaghost"
    ghost_session = "00000000-0000-4000-8000-000000000000"

    def ops(instance: str, workspace: str, session_id: str) -> list[object]:
        return [
            lambda: tenant_a.list_sessions(instance, workspace),
            lambda: tenant_a.create_session(instance, workspace, CreateSessionDetails(path="intruder.ipynb")),
            lambda: tenant_a.get_session(instance, workspace, session_id),
            lambda: tenant_a.patch_session(instance, workspace, session_id, PatchSessionDetails(name="pwned")),
            lambda: tenant_a.delete_session(instance, workspace, session_id),
        ]

    # B's instance (and so its workspace and session) through every operation, against ids that do not exist.
    for theirs, nothing in zip(
        ops(b_instance, "default", b_session.id), ops(ghost_instance, "default", ghost_session), strict=True
    ):
        status, code, message = _error(theirs)
        assert (status, code) == (404, "NotAuthorizedOrNotFound")
        ghost_status, ghost_code, ghost_message = _error(nothing)
        assert (ghost_status, ghost_code, ghost_message.replace(ghost_instance, b_instance)) == (status, code, message)
    # B's session id inside A's own workspace.
    for theirs, nothing in zip(
        ops(a_instance, "default", b_session.id)[2:], ops(a_instance, "default", ghost_session)[2:], strict=True
    ):
        status, code, message = _error(theirs)
        assert (status, code) == (404, "NotAuthorizedOrNotFound")
        ghost_status, ghost_code, ghost_message = _error(nothing)
        assert (ghost_status, ghost_code, ghost_message.replace(ghost_session, b_session.id)) == (status, code, message)

    still = tenant_b.get_session(b_instance, "default", b_session.id).data
    assert still.name == b_session.name
    tenant_b.delete_session(b_instance, "default", b_session.id)


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("limited") / "data", None, "--rate-limit-per-second", "0.5", "--rate-limit-burst", "2"
    )
    yield running
    stop_server(running)


def test_burst_gets_429_and_the_sdk_default_retry_completes(limited_server: Server) -> None:
    server = limited_server
    with server.http() as client:
        statuses = [client.get(server.sessions_path) for _ in range(5)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert limited[0].json()["code"] == "TooManyRequests"
    assert int(limited[0].headers["retry-after"]) >= 1
    assert {r.status_code for r in statuses} <= {200, 429}

    with pytest.raises(oci.exceptions.ServiceError) as info:
        server.sdk(retry_strategy=oci.retry.NoneRetryStrategy()).list_sessions(server.instance_id, server.workspace_key)
    assert (info.value.status, info.value.code) == (429, "TooManyRequests")
    # The bucket is empty now; the default strategy backs off and succeeds.
    response = server.sdk().list_sessions(server.instance_id, server.workspace_key)
    assert response.status == 200
    assert response.data.items == []


def test_no_secret_reaches_the_server_log(server: Server) -> None:
    """Runs after the tests above: failed and successful logins left no key, token or signature in the log."""
    with server.http(signed=False) as client:
        client.get(server.sessions_path, headers={"authorization": "Bearer nbp_0123456789abcdef_" + "s" * 43})
        client.get(
            server.sessions_path, headers={"authorization": 'Signature keyId="ST$secret-token",signature="c2ln"'}
        )
    log = server.log.read_text()
    for secret in ("PRIVATE KEY", "signature=", "ST$", "nbp_", "s" * 43, "secret-token"):
        assert secret not in log, secret
