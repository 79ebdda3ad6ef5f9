"""KernelChannels against one real ipykernel: multiplexing, routing, live state, replay, no fd leaks.

The python3 kernelspec comes from the venv (ipykernel installs it under sys.prefix/share/jupyter);
the fixture skips with a reason if `KernelSpecManager().find_kernel_specs()` has no python3.
Timeouts below only guard against hangs; nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import psutil
import pytest
import pytest_asyncio
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.session import Session

from nbplane.errors import ConflictError, InvalidInputError
from nbplane.kernels import wsproto
from nbplane.kernels.activity import ExecutionState, KernelActivity
from nbplane.kernels.channels import Attachment, KernelChannels

pytestmark = pytest.mark.asyncio(loop_scope="module")

GUARD = 60.0  # seconds; only a hang guard


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def kernel_info() -> AsyncIterator[dict[str, Any]]:
    if "python3" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("no python3 kernelspec: run `python -m ipykernel install --sys-prefix`")
    km = AsyncKernelManager(kernel_name="python3")
    # debugpy's "frozen modules" warning would otherwise arrive as stderr output of the first cell
    await km.start_kernel(env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    try:
        yield km.get_connection_info()
    finally:
        await km.shutdown_kernel(now=True)


@pytest_asyncio.fixture(loop_scope="module")
async def channels(kernel_info: dict[str, Any]) -> AsyncIterator[KernelChannels]:
    ch = KernelChannels(kernel_info)
    await ch.start()
    try:
        yield ch
    finally:
        await ch.close()


_client_session = Session()


def execute_request(code: str, *, allow_stdin: bool = False) -> dict[str, Any]:
    content = {"code": code, "silent": False, "store_history": False, "allow_stdin": allow_stdin}
    return {"channel": "shell", **_client_session.msg("execute_request", content=content), "buffers": []}


def over_the_wire(msg: dict[str, Any], proto: str | None) -> dict[str, Any]:
    """What the other end of a websocket gets: every message must survive the framing."""
    return wsproto.decode(wsproto.encode(msg, proto), proto)


async def collect(att: Attachment, done: Callable[[list[dict[str, Any]]], bool], proto: str | None = None):
    """Read `att` until `done(received)`; the guard turns a hang into a failure."""
    received: list[dict[str, Any]] = []

    async def run() -> None:
        async for msg in att:
            received.append(over_the_wire(msg, proto))
            if done(received):
                return
        raise AssertionError(f"attachment closed early ({att.close_reason}): {received}")

    await asyncio.wait_for(run(), GUARD)
    return received


def idle_for(parent_id: str, *, with_reply: bool = False) -> Callable[[list[dict[str, Any]]], bool]:
    def done(msgs: list[dict[str, Any]]) -> bool:
        idle = any(
            m["header"]["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
            and m["parent_header"].get("msg_id") == parent_id
            for m in msgs
        )
        reply = any(m["channel"] == "shell" and m["parent_header"].get("msg_id") == parent_id for m in msgs)
        return idle and (reply or not with_reply)

    return done


def of_type(msgs: list[dict[str, Any]], msg_type: str) -> list[dict[str, Any]]:
    return [m for m in msgs if m["header"]["msg_type"] == msg_type]


def stdout(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["content"]["text"] for m in of_type(msgs, "stream") if m["content"]["name"] == "stdout"]


async def wait_until(predicate: Callable[[], bool]) -> None:
    async def poll() -> None:
        while True:
            if predicate():
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), GUARD)


async def test_two_clients_get_iopub_and_only_the_sender_gets_the_reply(channels: KernelChannels) -> None:
    assert channels.execution_state is ExecutionState.IDLE  # the start-up probe's status ended starting
    a, b = channels.attach("a"), channels.attach("b")
    assert channels.connections == 2
    req = over_the_wire(execute_request("print('hi'); 1+1"), None)
    await a.send(req["channel"], req)
    msg_id = req["header"]["msg_id"]

    got_a = await collect(a, idle_for(msg_id, with_reply=True), None)
    got_b = await collect(b, idle_for(msg_id), wsproto.V1_SUBPROTOCOL)
    for got in (got_a, got_b):
        assert stdout(got) == ["hi\n"]
        assert of_type(got, "execute_result")[0]["content"]["data"]["text/plain"] == "2"
        mine = [m for m in of_type(got, "status") if m["parent_header"].get("msg_id") == msg_id]
        states = [m["content"]["execution_state"] for m in mine]
        assert states[0] == "busy" and states[-1] == "idle"
    assert of_type(got_a, "execute_reply")[0]["content"]["status"] == "ok"
    assert not of_type(got_b, "execute_reply")
    a.detach()
    b.detach()
    assert channels.connections == 0


async def test_error_output(channels: KernelChannels) -> None:
    a = channels.attach("a")
    req = execute_request("1/0")
    await a.send("shell", req)
    got = await collect(a, idle_for(req["header"]["msg_id"], with_reply=True))
    assert of_type(got, "error")[0]["content"]["ename"] == "ZeroDivisionError"
    assert of_type(got, "execute_reply")[0]["content"]["status"] == "error"


async def test_execution_state_follows_the_kernel(channels: KernelChannels) -> None:
    seen: list[KernelActivity] = []
    channels._tracker._on_state_change = seen.append
    before = channels.last_activity
    a = channels.attach("a")
    await a.send("shell", execute_request("import time; time.sleep(2)"))
    await wait_until(lambda: channels.execution_state is ExecutionState.BUSY)
    await wait_until(lambda: channels.execution_state is ExecutionState.IDLE)
    assert channels.last_activity > before
    assert channels.last_activity.tzinfo is not None
    states = [s.execution_state for s in seen]
    assert ExecutionState.BUSY in states and states[-1] is ExecutionState.IDLE
    assert seen[0].connections == 1


async def test_server_probe_never_flips_a_users_busy(channels: KernelChannels) -> None:
    """Deterministic: the kernel stays busy inside input() until this test answers it."""
    processed: list[dict[str, Any]] = []
    track = channels._tracker.kernel_message

    def spy(msg: dict[str, Any], *, parent_from_server: bool) -> None:
        track(msg, parent_from_server=parent_from_server)
        processed.append(msg)

    channels._tracker.kernel_message = spy  # type: ignore[method-assign]
    a, b = channels.attach("a"), channels.attach("b")
    req = execute_request("x = input('? ')", allow_stdin=True)
    await a.send("shell", req)
    got = await collect(a, lambda ms: bool(of_type(ms, "input_request")))
    assert channels.execution_state is ExecutionState.BUSY
    activity = channels.last_activity

    reply = await channels.probe("control")
    assert reply["header"]["msg_type"] == "kernel_info_reply"
    probe_id = reply["parent_header"]["msg_id"]

    def probe_idle_processed() -> bool:
        return any(
            m["header"]["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
            and m["parent_header"].get("msg_id") == probe_id
            for m in processed
        )

    await wait_until(probe_idle_processed)
    assert channels.execution_state is ExecutionState.BUSY
    assert channels.last_activity == activity

    input_request = of_type(got, "input_request")[0]
    answer = _client_session.msg("input_reply", content={"value": "42"}, parent=input_request["header"])
    await a.send("stdin", {**answer, "buffers": []})
    await wait_until(lambda: channels.execution_state is ExecutionState.IDLE)
    got_b = await collect(b, idle_for(req["header"]["msg_id"]))
    assert not of_type(got_b, "input_request")  # stdin goes to the requester only
    assert all(m["parent_header"].get("msg_id") != probe_id for m in got + got_b)


async def test_output_while_detached_is_replayed_to_any_client(channels: KernelChannels) -> None:
    a = channels.attach("tab-1")
    req = execute_request("import time; time.sleep(1); print('late')")
    await a.send("shell", req)
    a.detach()
    assert channels.connections == 0
    await wait_until(lambda: channels.execution_state is ExecutionState.IDLE and len(channels._replay) > 0)
    # idle is published after the output, on the same socket, so 'late' is buffered by now
    c = channels.attach("another-tab")
    got = await collect(c, idle_for(req["header"]["msg_id"]))
    assert stdout(got) == ["late\n"]
    assert c.replay_dropped == 0


async def test_replay_says_how_much_was_dropped(kernel_info: dict[str, Any]) -> None:
    async with KernelChannels(kernel_info, replay_max_messages=3) as ch:
        a = ch.attach("a")
        req = execute_request("for i in range(20): print(i, flush=True)")
        await a.send("shell", req)
        a.detach()
        await wait_until(lambda: ch._replay.dropped > 0 and ch.execution_state is ExecutionState.IDLE)
        c = ch.attach("c")
        got = await collect(c, idle_for(req["header"]["msg_id"]))
        assert c.replay_dropped > 0
        notice = of_type(got, "stream")[0]
        assert "dropped" in notice["content"]["text"] and notice["content"]["name"] == "stderr"


async def test_same_client_id_replaces_the_stale_attachment(channels: KernelChannels) -> None:
    old = channels.attach("x")
    new = channels.attach("x")
    assert channels.connections == 1
    assert old.close_reason == "replaced" and not new.closed
    assert [m async for m in old] == []
    with pytest.raises(ConflictError):
        await old.send("shell", execute_request("1"))
    new.detach()
    new.detach()
    assert channels.connections == 0


async def test_rejects_bad_channels_and_stolen_msg_ids(channels: KernelChannels) -> None:
    a, b = channels.attach("a"), channels.attach("b")
    req = execute_request("pass")
    with pytest.raises(InvalidInputError):
        await a.send("iopub", req)
    with pytest.raises(InvalidInputError):
        await a.send("shell", {"header": {}})
    with pytest.raises(InvalidInputError):
        await a.send("shell", {"header": {"msg_id": "", "msg_type": "execute_request"}})
    with pytest.raises(InvalidInputError):
        channels.attach("")
    await a.send("shell", req)
    with pytest.raises(InvalidInputError):
        await b.send("shell", req)
    await collect(a, idle_for(req["header"]["msg_id"], with_reply=True))


async def test_owner_states_reach_clients_and_first_status_ends_restarting(channels: KernelChannels) -> None:
    a = channels.attach("a")
    channels.set_state(ExecutionState.RESTARTING)
    assert channels.execution_state is ExecutionState.RESTARTING
    got = await collect(a, lambda ms: bool(of_type(ms, "status")))
    assert of_type(got, "status")[0]["content"]["execution_state"] == "restarting"
    with pytest.raises(ValueError):
        channels.set_state(ExecutionState.BUSY)
    await channels.probe()
    await wait_until(lambda: channels.execution_state is ExecutionState.IDLE)


def _open_fds() -> int:
    return psutil.Process().num_fds()


async def test_close_releases_every_socket(kernel_info: dict[str, Any]) -> None:
    async with KernelChannels(kernel_info):  # warm the shared zmq context first
        pass
    baseline = _open_fds()
    for _ in range(3):
        ch = KernelChannels(kernel_info)
        await ch.start()
        a = ch.attach("a")
        req = execute_request("print('x')")
        await a.send("shell", req)
        await collect(a, idle_for(req["header"]["msg_id"], with_reply=True))
        await ch.close()
        await ch.close()  # idempotent
        assert a.closed and ch.connections == 0
    await wait_until(lambda: _open_fds() <= baseline)


async def test_a_client_that_falls_behind_is_dropped_and_its_backlog_kept() -> None:
    info = {"ip": "127.0.0.1", "transport": "tcp", "key": "k"}  # never started: no sockets needed
    ch = KernelChannels(info, client_queue_size=2)
    slow = ch.attach("slow")
    for n in range(3):
        ch._broadcast({"channel": "iopub", "header": {"msg_id": str(n)}, "parent_header": {}}, None)
    assert slow.close_reason == "overflow" and ch.connections == 0
    assert [m async for m in slow] == []
    fresh = ch.attach("fresh")
    ids = [(await anext(fresh))["header"]["msg_id"] for _ in range(3)]
    assert ids == ["0", "1", "2"]
    await ch.close()


async def test_a_server_execute_is_seen_by_no_client_and_is_no_activity(channels: KernelChannels) -> None:
    await wait_until(lambda: channels.execution_state is ExecutionState.IDLE)
    channels._replay.drain()
    before = channels.last_activity
    reply = await channels.server_execute("__nbplane_probe__ = 42\nprint('never shown')")
    assert reply["content"]["status"] == "ok" and reply["msg_type"] == "execute_reply"
    failed = await channels.server_execute("raise ValueError('hidden')")
    assert failed["content"]["status"] == "error"
    await asyncio.sleep(0.2)  # let any iopub message of the executes arrive
    assert len(channels._replay) == 0  # nothing kept for the next client
    assert channels.last_activity == before and channels.execution_state is ExecutionState.IDLE
    a = channels.attach("tab-after")
    req = execute_request("print(__nbplane_probe__)")
    await a.send("shell", req)
    got = await collect(a, idle_for(req["header"]["msg_id"]))
    assert stdout(got) == ["42\n"]  # it ran in the user's namespace
    assert all(m["parent_header"].get("msg_id") == req["header"]["msg_id"] for m in got)
    a.detach()
