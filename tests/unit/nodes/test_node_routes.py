"""The node-only route and forged forwarding headers, in process: only a request signed as a node's own call
reads kernel states; a client's forwarding headers are refused even where authentication is off."""

from __future__ import annotations

import json

from nbplane.bootstrap import session_signing_key
from nbplane.nodes.peers import KERNEL_STATES_PATH
from nbplane.nodes.signing import NODE_SUBJECT, NodeSigner, cluster_secret
from tests.unit.conftest import InProcess


def _signed(
    inproc: InProcess, body: bytes, subject: str = NODE_SUBJECT, *, secret: bytes | None = None
) -> dict[str, str]:
    secret = secret or cluster_secret(session_signing_key(inproc.data_dir))
    signer = NodeSigner(secret, "another-node")
    headers = signer.headers(inproc.services.nodes.node_id, "POST", KERNEL_STATES_PATH, "", body, subject)
    return {**headers, "content-type": "application/json"}


async def test_a_node_reads_the_states_of_the_kernels_this_node_runs(inproc: InProcess) -> None:
    started = await inproc.client.post(f"{inproc.api_url}/kernels", json={})
    assert started.status_code == 201, started.text
    kernel_id = started.json()["id"]
    body = json.dumps({"kernel_ids": [kernel_id, "not-here"]}).encode()
    answer = await inproc.client.post(KERNEL_STATES_PATH, content=body, headers=_signed(inproc, body))
    assert answer.status_code == 200, answer.text
    states = answer.json()["kernels"]
    assert list(states) == [kernel_id] and states[kernel_id]["execution_state"] == "idle"


async def test_nobody_else_does(inproc: InProcess) -> None:
    body = json.dumps({"kernel_ids": []}).encode()
    unsigned = await inproc.client.post(KERNEL_STATES_PATH, content=body)
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "NotAuthenticated"
    as_caller = await inproc.client.post(KERNEL_STATES_PATH, content=body, headers=_signed(inproc, body, "e30"))
    assert as_caller.status_code == 401
    other_key = await inproc.client.post(
        KERNEL_STATES_PATH, content=body, headers=_signed(inproc, body, secret=b"x" * 32)
    )
    assert other_key.status_code == 401
    tampered = await inproc.client.post(
        KERNEL_STATES_PATH, content=b'{"kernel_ids":["a"]}', headers=_signed(inproc, body)
    )
    assert tampered.status_code == 401


async def test_forged_forwarding_headers_are_refused_even_without_authentication(inproc: InProcess) -> None:
    assert (await inproc.client.get(inproc.sessions_url)).status_code == 200  # insecure_no_auth: open
    forged = {"x-nbplane-forwarded-by": "n", "x-nbplane-forwarded-for": "e30", "x-nbplane-forwarded-signature": "1.a"}
    answer = await inproc.client.get(inproc.sessions_url, headers=forged)
    assert answer.status_code == 401 and answer.json()["code"] == "NotAuthenticated"
