"""Gateway kernels are reached directly from any node: two nbplane nodes (two data dirs, so two node ids) on
one database and one real `jupyter kernelgateway`. A session started through node A is seen, attached to and
shut down through node B, which adopts the kernel from its record (cluster key and remote id)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbplane.clusters import GatewayDetails
from nbplane.kernels.base import ExecutionState, KernelAttachment
from nbplane.scope import Scope
from nbplane.services import Services, build_services
from nbplane.sessions.models import CreateSessionRequest
from nbplane.settings import Settings
from tests.gateways import RunningGateway, executable, start_gateway

pytestmark = pytest.mark.skipif(executable("kernelgateway") is None, reason="jupyter-kernel-gateway is not installed")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    running = start_gateway("kernelgateway", tmp_path / "gw")
    yield running
    running.stop()


async def _node(tmp_path: Path, name: str, database_url: str) -> Services:
    settings = Settings(data_dir=tmp_path / name, database_url=database_url, insecure_no_auth=True)
    return await build_services(settings)


async def _execute(att: KernelAttachment, code: str) -> str:
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "session": "t", "username": "t", "version": "5.3"}
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
    await att.send("shell", {"header": header, "parent_header": {}, "metadata": {}, "content": content})
    out = ""

    async def gather() -> None:
        nonlocal out
        async for msg in att:
            if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
                continue
            if msg["header"]["msg_type"] == "stream":
                out += msg["content"]["text"]
            if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return

    await asyncio.wait_for(gather(), 60)
    return out


async def test_a_gateway_kernel_started_on_one_node_is_reached_from_another(
    tmp_path: Path, gateway: RunningGateway
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    a = await _node(tmp_path, "a", url)
    b = await _node(tmp_path, "b", url)
    try:
        scope = Scope(a.bootstrap.instance_id, a.bootstrap.workspace_key)
        cluster = await a.clusters.provision(
            scope.instance_id, scope.workspace_key, "kg", gateway=GatewayDetails(gateway.url, gateway.token)
        )
        made = await a.sessions.create(
            scope, CreateSessionRequest(path="n.ipynb", cluster_id=cluster.key), created_by="t"
        )
        kernel_id = made.session.kernel_id
        assert kernel_id is not None and made.session.cluster_id == cluster.key

        seen = await b.sessions.get(scope, made.session.id)  # node B adopts it from the record
        assert seen.execution_state == "idle"
        view = await b.kernels.get(scope, kernel_id)
        assert view.activity.execution_state is ExecutionState.IDLE
        att = await b.kernels.attach(scope, kernel_id, "b-client")
        try:
            assert (await _execute(att, "print(6 * 7)")).strip() == "42"
        finally:
            att.detach()
        await b.sessions.delete(scope, made.session.id, if_match=None)
        assert gateway.kernels() == []  # shut down on the gateway, through node B
    finally:
        for node in (a, b):
            await node.kernels.close(stop_kernels=True)
            await node.db.dispose()
