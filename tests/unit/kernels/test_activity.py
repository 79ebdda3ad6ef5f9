"""ActivityTracker: execution_state per parent request, last_activity only for user activity."""

from __future__ import annotations

from typing import Any

import pytest

from nbplane.kernels.activity import ActivityTracker, ExecutionState, KernelActivity


def request(msg_id: str, msg_type: str = "execute_request") -> dict[str, Any]:
    return {"msg_id": msg_id, "msg_type": msg_type}


def status(state: str, parent: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "header": {"msg_type": "status"},
        "parent_header": parent or {},
        "content": {"execution_state": state},
    }


def output(parent: dict[str, Any]) -> dict[str, Any]:
    return {"header": {"msg_type": "stream"}, "parent_header": parent, "content": {"text": "x"}}


def test_first_status_ends_starting_even_from_a_probe() -> None:
    t = ActivityTracker()
    assert t.execution_state is ExecutionState.STARTING
    t.kernel_message(status("busy", request("p", "kernel_info_request")), parent_from_server=True)
    assert t.execution_state is ExecutionState.IDLE


def test_busy_until_every_user_request_is_idle() -> None:
    t = ActivityTracker()
    t.kernel_message(status("busy", request("e1")), parent_from_server=False)
    t.kernel_message(status("busy", request("c1", "comm_msg")), parent_from_server=False)
    t.kernel_message(status("idle", request("c1", "comm_msg")), parent_from_server=False)
    assert t.execution_state is ExecutionState.BUSY
    t.kernel_message(status("idle", request("e1")), parent_from_server=False)
    assert t.execution_state is ExecutionState.IDLE


@pytest.mark.parametrize(
    ("parent", "from_server"),
    [
        (request("probe", "execute_request"), True),  # anything the server sent itself
        (request("k", "kernel_info_request"), False),  # a frontend's reconnect nudge
        ({}, False),  # no parent at all
    ],
)
def test_probes_and_nudges_never_flip_busy_or_count_as_activity(parent: dict, from_server: bool) -> None:
    t = ActivityTracker()
    t.kernel_message(status("busy", request("e1")), parent_from_server=False)
    before = t.last_activity
    t.kernel_message(status("busy", parent), parent_from_server=from_server)
    t.kernel_message(status("idle", parent), parent_from_server=from_server)
    assert t.execution_state is ExecutionState.BUSY
    assert t.last_activity == before


def test_last_activity_moves_for_user_messages_and_their_output_only() -> None:
    t = ActivityTracker()
    start = t.last_activity
    t.client_message(request("k", "kernel_info_request"))
    assert t.last_activity == start
    t.client_message(request("e1"))
    after_client = t.last_activity
    assert after_client >= start and after_client.tzinfo is not None
    t.kernel_message(output(request("e1")), parent_from_server=False)
    assert t.last_activity >= after_client


def test_kernel_starting_status_forgets_busy_requests() -> None:
    t = ActivityTracker()
    t.kernel_message(status("busy", request("e1")), parent_from_server=False)
    t.kernel_message(status("starting"), parent_from_server=False)  # a new process: e1 is gone
    t.kernel_message(status("idle", request("p", "kernel_info_request")), parent_from_server=True)
    assert t.execution_state is ExecutionState.IDLE


def test_owner_states() -> None:
    t = ActivityTracker()
    t.kernel_message(status("busy", request("e1")), parent_from_server=False)
    t.set_state(ExecutionState.RESTARTING)
    assert t.execution_state is ExecutionState.RESTARTING
    t.kernel_message(status("idle", request("p", "kernel_info_request")), parent_from_server=True)
    assert t.execution_state is ExecutionState.IDLE  # the restart forgot e1
    t.set_state(ExecutionState.DEAD)
    t.kernel_message(status("idle", request("e2")), parent_from_server=False)
    assert t.execution_state is ExecutionState.DEAD
    with pytest.raises(ValueError):
        t.set_state(ExecutionState.BUSY)


def test_on_state_change_always_for_state_and_connections_throttled_for_activity() -> None:
    seen: list[KernelActivity] = []
    t = ActivityTracker(on_state_change=seen.append, notify_interval=3600)
    t.set_connections(1)
    t.client_message(request("e1"))  # within the interval: not reported on its own
    t.kernel_message(status("busy", request("e1")), parent_from_server=False)
    t.kernel_message(output(request("e1")), parent_from_server=False)
    t.kernel_message(status("idle", request("e1")), parent_from_server=False)
    assert [(s.execution_state, s.connections) for s in seen] == [
        (ExecutionState.STARTING, 1),
        (ExecutionState.BUSY, 1),
        (ExecutionState.IDLE, 1),
    ]
    assert seen[-1].last_activity == t.last_activity


def test_a_failing_callback_does_not_break_tracking() -> None:
    def boom(_: KernelActivity) -> None:
        raise RuntimeError("boom")

    t = ActivityTracker(on_state_change=boom)
    t.kernel_message(status("busy", request("e1")), parent_from_server=False)
    assert t.execution_state is ExecutionState.BUSY
