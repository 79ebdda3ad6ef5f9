"""GatewayKernelBackend's requests without a gateway (httpx's MockTransport): the token header, retries with
backoff for reads and deletes, a start retried only when nothing reached the gateway, the start body's env."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from nbplane.errors import BackendError, InvalidInputError
from nbplane.kernels.base import LaunchRequest
from nbplane.kernels.gateway import GatewayKernelBackend, GatewayTarget

SPECS = {
    "default": "python3",
    "kernelspecs": {"python3": {"name": "python3", "spec": {"display_name": "P", "language": "python"}}},
}


def _backend(handler: httpx.MockTransport, **env: str) -> GatewayKernelBackend:
    backend = GatewayKernelBackend(GatewayTarget("http://gw.test", "sekret", kernel_env=env), cluster_key="c")
    backend._http = httpx.AsyncClient(base_url="http://gw.test", headers=backend._headers, transport=handler)
    return backend


async def test_reads_are_retried_on_503_and_carry_the_token() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503) if len(seen) < 3 else httpx.Response(200, json=SPECS)

    backend = _backend(httpx.MockTransport(handle))
    specs = await backend.kernelspecs()
    assert list(specs) == ["python3"] and len(seen) == 3
    assert {r.headers["authorization"] for r in seen} == {"token sekret"}
    await backend.close(stop_kernels=False)


async def test_a_start_is_not_retried_once_the_gateway_may_have_it() -> None:
    posts: list[dict[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/kernelspecs":
            return httpx.Response(200, json=SPECS)
        posts.append(json.loads(request.content))
        raise httpx.ReadTimeout("slow", request=request)

    backend = _backend(httpx.MockTransport(handle), KERNEL_USERNAME="alice", KERNEL_WORKING_DIR="/home/alice")
    kernel_id = str(uuid.uuid4())
    request = LaunchRequest(kernel_id, "python3", "/local/dir", {"KERNEL_X": "1", "JPY_SESSION_NAME": "a.ipynb"})
    with pytest.raises(BackendError, match="unreachable"):
        await backend.start(request)
    assert len(posts) == 1  # a retried POST could start a second kernel
    assert posts[0] == {
        "name": "python3",
        "env": {
            "KERNEL_USERNAME": "alice",
            "KERNEL_WORKING_DIR": "/home/alice",
            "KERNEL_X": "1",
            "JPY_SESSION_NAME": "a.ipynb",
            "KERNEL_ID": kernel_id,
        },
    }
    with pytest.raises(InvalidInputError):
        await backend.start(LaunchRequest(kernel_id, "nope", "/"))
    await backend.close(stop_kernels=False)


async def test_a_start_is_retried_when_the_connection_was_refused() -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        if request.url.path == "/api/kernelspecs":
            return httpx.Response(200, json=SPECS)
        calls += 1
        if calls < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(500, json={"message": "no room"})

    backend = _backend(httpx.MockTransport(handle))
    with pytest.raises(BackendError, match="no room"):
        await backend.start(LaunchRequest(str(uuid.uuid4()), "python3", "/"))
    assert calls == 3
    await backend.close(stop_kernels=False)


async def test_adopting_a_kernel_the_gateway_lost_says_so() -> None:
    backend = _backend(httpx.MockTransport(lambda request: httpx.Response(404, json={"message": "gone"})))
    from nbplane.kernels.base import KernelRecord

    record = KernelRecord("k", "python3", "gateway", {"cluster_key": "c", "gateway_url": "x", "remote_id": "r"})
    outcome = await backend.adopt(record)
    assert not outcome.alive and outcome.reason == "the kernel is gone from the gateway"
    assert "sekret" not in repr(backend._target)
    await backend.close(stop_kernels=False)
