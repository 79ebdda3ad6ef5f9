"""The KernelBackend contract, for every backend (see conftest.py)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from nbplane.errors import BackendError, InvalidInputError, NotFoundError
from nbplane.kernels.base import ExecutionState, KernelAttachment, KernelRecord, LaunchRequest, WireMessage
from tests.contract.conftest import MakeBackend


def _launch(workdir: str, name: str = "python3", **env: str) -> LaunchRequest:
    return LaunchRequest(kernel_id=str(uuid.uuid4()), kernel_name=name, cwd=workdir, env=env)


def _request(msg_type: str, content: dict[str, object] | None = None) -> WireMessage:
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "session": "contract",
        "username": "t",
        "version": "5.3",
    }
    return {"header": header, "parent_header": {}, "metadata": {}, "content": content or {}, "buffers": []}


async def _reply(att: KernelAttachment, msg_type: str, channel: str = "shell") -> tuple[WireMessage, list[WireMessage]]:
    """Send a request and gather what comes back up to its reply and the idle status that ends it."""
    request = _request(msg_type)
    await att.send(channel, request)
    seen: list[WireMessage] = []
    reply = None
    idle = False

    async def gather() -> None:
        nonlocal reply, idle
        async for msg in att:
            if (msg.get("parent_header") or {}).get("msg_id") != request["header"]["msg_id"]:
                seen.append(msg)
                continue
            seen.append(msg)
            if msg["channel"] == channel and msg["header"]["msg_type"].endswith("_reply"):
                reply = msg
            if msg["header"]["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                idle = True
            if reply is not None and idle:
                return

    await asyncio.wait_for(gather(), 30)
    assert reply is not None
    return reply, seen


async def test_start_reports_idle_and_a_record(make_backend: MakeBackend, workdir: str) -> None:
    backend = make_backend()
    record = await backend.start(_launch(workdir))
    assert record.runtime == backend.runtime and record.kernel_name == "python3"
    assert await backend.is_alive(record.kernel_id)
    assert record.kernel_id in await backend.kernel_ids()
    activity = await backend.activity(record.kernel_id)
    assert activity is not None and activity.execution_state is ExecutionState.IDLE and activity.connections == 0
    assert activity.state_since is not None


async def test_unknown_kernelspec_is_invalid_input(make_backend: MakeBackend, workdir: str) -> None:
    backend = make_backend()
    with pytest.raises(InvalidInputError):
        await backend.start(_launch(workdir, name="no-such-kernel"))
    assert await backend.kernel_ids() == []


async def test_unknown_kernel_ids(make_backend: MakeBackend) -> None:
    backend = make_backend()
    missing = str(uuid.uuid4())
    assert not await backend.is_alive(missing)
    assert await backend.activity(missing) is None
    await backend.shutdown(missing)  # idempotent
    for call in (backend.restart(missing), backend.interrupt(missing), backend.attach(missing, "c")):
        with pytest.raises(NotFoundError):
            await call


async def test_attach_counts_connections_and_answers_requests(make_backend: MakeBackend, workdir: str) -> None:
    backend = make_backend()
    record = await backend.start(_launch(workdir))
    att = await backend.attach(record.kernel_id, "client-1")
    assert (await backend.activity(record.kernel_id)).connections == 1  # type: ignore[union-attr]
    reply, _ = await _reply(att, "kernel_info_request")
    assert reply["content"]["status"] == "ok"
    att.detach()
    att.detach()  # idempotent
    assert (await backend.activity(record.kernel_id)).connections == 0  # type: ignore[union-attr]


async def test_requested_restart_keeps_the_id_and_is_not_announced(make_backend: MakeBackend, workdir: str) -> None:
    backend = make_backend()
    record = await backend.start(_launch(workdir))
    att = await backend.attach(record.kernel_id, "client-1")
    await backend.restart(record.kernel_id)
    assert await backend.is_alive(record.kernel_id)
    assert (await backend.activity(record.kernel_id)).execution_state is ExecutionState.IDLE  # type: ignore[union-attr]
    _, seen = await _reply(att, "kernel_info_request")
    states = [m["content"].get("execution_state") for m in seen if m["header"]["msg_type"] == "status"]
    assert "restarting" not in states and "dead" not in states
    att.detach()


async def test_shutdown_with_a_reason_tells_attached_clients(make_backend: MakeBackend, workdir: str) -> None:
    backend = make_backend()
    record = await backend.start(_launch(workdir))
    att = await backend.attach(record.kernel_id, "client-1")
    await backend.shutdown(record.kernel_id, reason="culled: idle for 600 s")
    received = [msg async for msg in att]
    dead = [m for m in received if m["header"]["msg_type"] == "status"]
    assert dead and dead[-1]["content"] == {"execution_state": "dead", "reason": "culled: idle for 600 s"}
    assert att.close_detail == "culled: idle for 600 s"
    assert not await backend.is_alive(record.kernel_id)
    assert record.kernel_id not in await backend.kernel_ids()


async def test_a_new_backend_adopts_kernels_that_were_let_go(make_backend: MakeBackend, workdir: str) -> None:
    first = make_backend()
    record = await first.start(_launch(workdir))
    await first.close(stop_kernels=False)
    assert await first.kernel_ids() == []

    second = make_backend()
    outcome = await second.adopt(record)
    assert outcome.alive, outcome.reason
    assert await second.is_alive(record.kernel_id)
    att = await second.attach(record.kernel_id, "client-2")
    reply, _ = await _reply(att, "kernel_info_request")
    assert reply["content"]["status"] == "ok"
    att.detach()
    assert await second.stop_orphans([record.kernel_id]) == []  # adopted, so not an orphan


async def test_adopting_a_stopped_kernel_says_why(make_backend: MakeBackend, workdir: str) -> None:
    first = make_backend()
    record = await first.start(_launch(workdir))
    await first.shutdown(record.kernel_id)
    outcome = await make_backend().adopt(record)
    assert not outcome.alive and outcome.reason


async def test_adopting_another_runtimes_record_is_refused(make_backend: MakeBackend, workdir: str) -> None:
    backend = make_backend()
    record = await backend.start(_launch(workdir))
    from dataclasses import replace

    with pytest.raises(InvalidInputError):
        await make_backend().adopt(replace(record, runtime="elsewhere"))


async def test_orphans_are_stopped(make_backend: MakeBackend, workdir: str) -> None:
    first = make_backend()
    kept = await first.start(_launch(workdir))
    orphan = await first.start(_launch(workdir))
    await first.close(stop_kernels=False)

    second = make_backend()
    assert (await second.adopt(kept)).alive
    assert await second.stop_orphans([kept.kernel_id]) == [orphan.kernel_id]
    assert not (await make_backend().adopt(orphan)).alive
    assert await second.is_alive(kept.kernel_id)


async def test_close_with_stop_ends_every_kernel(make_backend: MakeBackend, workdir: str) -> None:
    first = make_backend()
    record = await first.start(_launch(workdir))
    await first.close(stop_kernels=True)
    assert not (await make_backend().adopt(record)).alive


async def test_attach_to_a_dead_kernel_is_refused(make_backend: MakeBackend, workdir: str) -> None:
    backend = make_backend()
    record = await backend.start(_launch(workdir))
    await backend.shutdown(record.kernel_id)
    with pytest.raises((NotFoundError, BackendError)):
        await backend.attach(record.kernel_id, "late")


async def test_the_record_follows_a_restart(make_backend: MakeBackend, workdir: str) -> None:
    """A restart relaunches the kernel (a new pid): the backend announces the new record, and only that one
    lets a later server adopt the kernel."""
    first = make_backend()
    announced: list[KernelRecord] = []

    async def listen(record: KernelRecord) -> None:
        announced.append(record)

    first.record_listener = listen
    record = await first.start(_launch(workdir))
    await first.restart(record.kernel_id)
    assert [r.kernel_id for r in announced] == [record.kernel_id]
    assert announced[0].details != record.details
    await first.close(stop_kernels=False)
    assert not (await make_backend().adopt(record)).alive  # the record from before the restart is stale
    assert (await make_backend().adopt(announced[0])).alive
