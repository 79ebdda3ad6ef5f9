"""A gateway that goes away: its kernels turn `unknown` with the reason (reads never raise), and a gateway
that comes back without them makes them `dead`. Against a real `jupyter kernelgateway` of this test's own."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from nbplane.kernels.base import ExecutionState, LaunchRequest
from nbplane.kernels.gateway import GatewayKernelBackend, GatewayTarget
from tests.gateways import executable, start_gateway

pytestmark = pytest.mark.skipif(executable("kernelgateway") is None, reason="jupyter-kernel-gateway is not installed")


async def _wait_for(backend: GatewayKernelBackend, kernel_id: str, state: ExecutionState) -> str | None:
    for _ in range(600):  # generous: a loaded machine
        activity = await backend.activity(kernel_id)
        assert activity is not None
        if activity.execution_state is state:
            return activity.reason
        await asyncio.sleep(0.1)
    raise AssertionError(f"the kernel never became {state}")


async def test_an_outage_is_unknown_then_a_lost_kernel_is_dead(tmp_path: Path) -> None:
    gateway = start_gateway("kernelgateway", tmp_path / "gw")
    backend = GatewayKernelBackend(
        GatewayTarget(gateway.url, gateway.token), cluster_key="c", retries=2, connect_timeout=2, request_timeout=5
    )
    try:
        kernel_id = str(uuid.uuid4())
        await backend.start(LaunchRequest(kernel_id, "python3", str(tmp_path)))
        gateway.crash()
        reason = await _wait_for(backend, kernel_id, ExecutionState.UNKNOWN)
        assert reason and "gateway" in reason
        assert await backend.is_alive(kernel_id)  # it may still run there: not dead yet
        assert await backend.kernel_ids() == [kernel_id]

        port = gateway.url.rsplit(":", 1)[1]
        back = start_gateway("kernelgateway", tmp_path / "gw2", port=int(port), token=gateway.token)
        try:
            reason = await _wait_for(backend, kernel_id, ExecutionState.DEAD)
            assert reason == "the kernel is gone from the gateway"
            assert not await backend.is_alive(kernel_id)
        finally:
            await backend.close(stop_kernels=True)
            back.stop()
    finally:
        gateway.stop()
