"""The five session operations through Oracle's `aidp` CLI (which insists on https)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Server, cli_json

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("cleanup_sessions")]


def test_cli_round_trip(server: Server) -> None:
    ws = server.workspace_key
    body = json.dumps({"path": "cli/a.ipynb", "type": "notebook", "kernel": {"name": "python3"}})
    created = cli_json(server.cli("notebook", "create-session", ws, "--body", body, check=True))
    assert created["status"] == 201
    session = created["data"]
    assert session["lifecycleState"] == "ACTIVE"
    etag = created["headers"]["etag"]

    again = cli_json(
        server.cli("notebook", "create-session", ws, "--body", body, "--opc-retry-token", "cli-tok", check=True)
    )
    assert again["data"]["id"] == session["id"]
    replay = cli_json(
        server.cli("notebook", "create-session", ws, "--body", body, "--opc-retry-token", "cli-tok", check=True)
    )
    assert replay["data"] == again["data"]
    conflict = server.cli(
        "notebook", "create-session", ws, "--body", '{"path":"cli/other.ipynb"}', "--opc-retry-token", "cli-tok"
    )
    assert conflict.returncode == 409 & 0xFF
    assert cli_json(conflict)["code"] == "Conflict"

    k1 = server.nbplane(
        "admin", "create-cluster", "--instance", server.instance_id, "--workspace", ws, "--name", "k1"
    ).splitlines()[-1]
    second = cli_json(
        server.cli(
            "notebook", "create-session", ws, "--body", f'{{"path":"cli/b.ipynb","cluster_id":"{k1}"}}', check=True
        )
    )["data"]

    listed = cli_json(server.cli("notebook", "list-sessions", ws, "--limit", "1", check=True))
    assert [s["id"] for s in listed["data"]["items"]] == [second["id"]]
    token = listed["headers"]["opc-next-page"]
    page2 = cli_json(server.cli("notebook", "list-sessions", ws, "--limit", "1", "--page", token, check=True))
    assert [s["id"] for s in page2["data"]["items"]] == [session["id"]]
    assert "opc-next-page" not in page2["headers"]
    ascending = cli_json(
        server.cli("notebook", "list-sessions", ws, "--sort-order", "ASC", "--sort-by", "timeCreated", check=True)
    )
    assert [s["id"] for s in ascending["data"]["items"]] == [session["id"], second["id"]]
    filtered = cli_json(server.cli("notebook", "list-sessions", ws, "--cluster-id", k1, check=True))
    assert [s["id"] for s in filtered["data"]["items"]] == [second["id"]]
    by_path = cli_json(server.cli("notebook", "list-sessions", ws, "--path", "cli/a.ipynb", check=True))
    assert [s["id"] for s in by_path["data"]["items"]] == [session["id"]]

    got = cli_json(server.cli("notebook", "get-session", ws, session["id"], check=True))
    assert got["data"]["path"] == "cli/a.ipynb"

    patched = cli_json(
        server.cli(
            "notebook",
            "patch-session",
            ws,
            session["id"],
            "--body",
            '{"name":"cli-renamed"}',
            "--if-match",
            etag,
            check=True,
        )
    )
    assert patched["data"]["name"] == "cli-renamed"
    stale = server.cli("notebook", "patch-session", ws, session["id"], "--body", '{"name":"x"}', "--if-match", etag)
    assert stale.returncode == 412 & 0xFF
    assert cli_json(stale)["code"] == "NoEtagMatch"

    bad = server.cli("notebook", "create-session", ws, "--body", '{"path":"cli/c.ipynb","kernel":{"name":"nope"}}')
    assert bad.returncode == 400 & 0xFF
    assert "python3" in cli_json(bad)["message"]

    deleted = cli_json(server.cli("notebook", "delete-session", ws, session["id"], check=True))
    assert deleted["status"] == 204
    assert deleted["data"] is None
    missing = server.cli("notebook", "get-session", ws, session["id"])
    assert missing.returncode == 148
    assert cli_json(missing)["code"] == "NotAuthorizedOrNotFound"


def test_cli_refuses_plain_http(server: Server) -> None:
    result = server.cli("--endpoint", server.endpoint.replace("https://", "http://"), "notebook", "list-sessions", "x")
    assert result.returncode == 2
