"""Hostile input against a real server: an oversized request head is refused with 431 before it is buffered
(memory stays flat, others are still served), deep JSON is a 400 (401 unauthenticated), never a 500, and a kernel
quota is a 400 `QuotaExceeded` that the SDK does not retry."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails
from oci.exceptions import ServiceError

from tests.e2e.conftest import Server, start_server, stop_server, workspace_token

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("hostile") / "data")
    yield running
    stop_server(running)


def _tls_socket(server: Server) -> ssl.SSLSocket:
    parts = urlsplit(server.endpoint)
    context = ssl.create_default_context(cafile=server.ca_bundle)
    raw = socket.create_connection((parts.hostname, parts.port), timeout=60)
    return context.wrap_socket(raw, server_hostname=parts.hostname)


def _read_response(sock: ssl.SSLSocket, first: bytes = b"") -> bytes:
    received = first
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _poll(sock: ssl.SSLSocket) -> bytes | None:
    """What the server has sent so far (b"" once it closed), or None: a non-blocking read. (select() is no
    help: TLS 1.3 session tickets make the socket readable with no response to read.)"""
    sock.settimeout(0.0)
    try:
        return sock.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return None
    finally:
        sock.settimeout(60)


def _send_huge_header(server: Server, total: int) -> tuple[bytes, int]:
    """Send one header of `total` bytes in 64 KiB pieces, stopping as soon as the server answers or hangs up;
    returns the response and how many bytes went out."""
    sock = _tls_socket(server)
    sent = 0
    first = b""
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Huge: ")
        piece = b"a" * 65536
        while sent < total:
            answered = _poll(sock)
            if answered is not None:
                first = answered
                break
            try:
                sock.sendall(piece)
            except OSError:
                break
            sent += len(piece)
        return _read_response(sock, first), sent
    finally:
        sock.close()


def test_a_256_mib_header_is_refused_with_431_and_memory_stays_flat(server: Server) -> None:
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    response, sent = _send_huge_header(server, 256 * MiB)
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large", response[:200]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["code"] == "RequestHeaderFieldsTooLarge" and "65536 bytes" in body["message"]
    assert sent < 64 * MiB  # the server answered long before the whole header was sent
    assert process.memory_info().rss - before < 32 * MiB
    with server.http() as client:
        assert client.get("/health").status_code == 200
    log = server.log.read_text()
    assert log.count("request line and headers over 65536 bytes") == 1
    assert "Traceback" not in log


def test_heads_near_the_limit(server: Server) -> None:
    base = server.endpoint
    verify = ssl.create_default_context(cafile=server.ca_bundle)
    with httpx.Client(base_url=base, verify=verify, timeout=60) as client:
        assert client.get("/health", headers={f"x-pad-{i}": "p" * 1000 for i in range(50)}).status_code == 200
        refused = client.get("/health", headers={f"x-pad-{i}": "p" * 1000 for i in range(70)})
        assert refused.status_code == 431
        assert refused.json()["code"] == "RequestHeaderFieldsTooLarge"
        assert client.get("/health").status_code == 200  # a new connection is served as usual


@pytest.mark.parametrize("authorized", [False, True])
def test_deep_json_over_the_wire(server: Server, authorized: bool) -> None:
    headers = {"content-type": "application/json"}
    if authorized:
        headers["authorization"] = f"token {workspace_token(server)}"
    with server.http(signed=False) as client:
        response = client.post(f"{server.sessions_path}", content=b"[" * 960 + b"]" * 960, headers=headers)
    if authorized:
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "InvalidParameter"
    else:
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "NotAuthenticated"
    assert "RecursionError" not in server.log.read_text()


def test_the_sdk_gets_quota_exceeded_once_without_retrying(tmp_path: Path) -> None:
    quota_server = start_server(tmp_path / "data", env={"NBPLANE_MAX_KERNELS_PER_WORKSPACE": "1"})
    try:
        sdk = quota_server.sdk()
        inst, ws = quota_server.instance_id, quota_server.workspace_key
        first = sdk.create_session(inst, ws, CreateSessionDetails(path="one.ipynb"))
        assert first.status == 201
        with pytest.raises(ServiceError) as refused:
            sdk.create_session(inst, ws, CreateSessionDetails(path="two.ipynb"))
        assert (refused.value.status, refused.value.code) == (400, "QuotaExceeded")
        assert "NBPLANE_MAX_KERNELS_PER_WORKSPACE" in refused.value.message
        log_lines = quota_server.log.read_text().splitlines()
        creates = [line for line in log_lines if "POST /20260430/" in line and "/sessions " in line]
        assert len(creates) == 2, creates  # one each: the SDK's default retry strategy did not retry the 400
        assert [s.path for s in sdk.list_sessions(inst, ws).data.items] == ["one.ipynb"]
    finally:
        stop_server(quota_server)
