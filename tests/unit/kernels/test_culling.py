"""Culling with a controllable clock: the policy, and the culler over the kernels service (fake kernels)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nbplane.kernels.base import ExecutionState, KernelActivity
from nbplane.kernels.culling import Culler, CullPolicy, cull_reason
from tests.unit.conftest import InProcess

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
IDLE_10_MIN = CullPolicy(idle_timeout=600)


def _activity(state: ExecutionState, *, last: float, since: float, connections: int = 0) -> KernelActivity:
    """`last` and `since`: seconds before NOW of the last activity and of the current state's start."""
    return KernelActivity(state, NOW - timedelta(seconds=last), connections, state_since=NOW - timedelta(seconds=since))


def test_idle_kernels_are_culled_after_the_idle_timeout() -> None:
    assert cull_reason(_activity(ExecutionState.IDLE, last=599, since=900), NOW, IDLE_10_MIN) is None
    reason = cull_reason(_activity(ExecutionState.IDLE, last=601, since=900), NOW, IDLE_10_MIN)
    assert reason == "culled: idle for 601 s (the idle timeout is 600 s)"


def test_a_busy_to_idle_transition_resets_the_idle_clock() -> None:
    """A cell that ran longer than the idle timeout is not culled the moment it finishes (notebook #3896)."""
    just_finished = _activity(ExecutionState.IDLE, last=5000, since=10)
    assert cull_reason(just_finished, NOW, IDLE_10_MIN) is None
    assert cull_reason(_activity(ExecutionState.IDLE, last=5000, since=601), NOW, IDLE_10_MIN) is not None


def test_busy_kernels_have_their_own_timeout() -> None:
    long_cell = _activity(ExecutionState.BUSY, last=30, since=7 * 3600)
    assert cull_reason(long_cell, NOW, IDLE_10_MIN) is None  # no busy timeout: a running cell is never culled
    six_hours = CullPolicy(idle_timeout=600, busy_timeout=6 * 3600)
    assert cull_reason(_activity(ExecutionState.BUSY, last=30, since=5 * 3600), NOW, six_hours) is None
    reason = cull_reason(long_cell, NOW, six_hours)
    assert reason == "culled: busy for 25200 s (the busy timeout is 21600 s)"


def test_connected_kernels_are_culled_only_when_asked() -> None:
    connected = _activity(ExecutionState.IDLE, last=3600, since=3600, connections=1)
    assert cull_reason(connected, NOW, IDLE_10_MIN) is None
    assert cull_reason(connected, NOW, CullPolicy(idle_timeout=600, cull_connected=True)) is not None


@pytest.mark.parametrize("state", [ExecutionState.STARTING, ExecutionState.RESTARTING, ExecutionState.DEAD])
def test_kernels_in_transition_are_left_to_the_runtime(state: ExecutionState) -> None:
    assert cull_reason(_activity(state, last=9999, since=9999), NOW, CullPolicy(600, 600)) is None


def test_off_by_default() -> None:
    assert not CullPolicy().enabled
    assert cull_reason(_activity(ExecutionState.IDLE, last=10**6, since=10**6), NOW, CullPolicy()) is None


async def test_culled_sessions_say_so_and_come_back_on_create(inproc: InProcess) -> None:
    created = (await inproc.client.post(inproc.sessions_url, json={"path": "c.ipynb"})).json()
    busy = (await inproc.client.post(inproc.sessions_url, json={"path": "busy.ipynb"})).json()
    kid, busy_kid = created["kernel"]["id"], busy["kernel"]["id"]
    inproc.kernels.set_activity(kid, last_activity=NOW - timedelta(hours=1), state_since=NOW - timedelta(hours=1))
    inproc.kernels.set_activity(
        busy_kid, execution_state=ExecutionState.BUSY, state_since=NOW - timedelta(hours=1), last_activity=NOW
    )
    attachment = await inproc.kernels.attach(busy_kid, "viewer")  # a busy kernel with a client stays too
    culler = Culler(inproc.services.kernels, IDLE_10_MIN, clock=lambda: NOW)

    assert list(await culler.run_once()) == [kid]
    assert not await inproc.kernels.is_alive(kid)
    assert await inproc.kernels.is_alive(busy_kid)
    got = (await inproc.client.get(f"{inproc.sessions_url}/{created['id']}")).json()
    assert got["lifecycleState"] == "ACTIVE"
    assert got["kernel"]["execution_state"] == "dead"
    assert "culled: idle for 3600 s" in got["lifecycleDetails"]
    assert "Create the session again" in got["lifecycleDetails"]
    listed = (await inproc.client.get(inproc.sessions_url, params={"path": "c.ipynb"})).json()["items"]
    assert listed[0]["kernel"]["execution_state"] == "dead"
    assert "culled" in listed[0]["lifecycleDetails"]
    kernels = (await inproc.client.get(f"{inproc.api_url}/kernels")).json()
    assert [k["id"] for k in kernels] == [busy_kid]

    revived = await inproc.client.post(inproc.sessions_url, json={"path": "c.ipynb"})
    assert revived.status_code == 201
    body = revived.json()
    assert body["id"] == created["id"] and body["kernel"]["id"] != kid
    assert body["kernel"]["execution_state"] == "idle" and body.get("lifecycleDetails") is None
    attachment.detach()


async def test_a_patch_revives_a_culled_session(inproc: InProcess) -> None:
    created = (await inproc.client.post(inproc.sessions_url, json={"path": "p.ipynb"})).json()
    kid = created["kernel"]["id"]
    inproc.kernels.set_activity(kid, last_activity=NOW - timedelta(hours=1), state_since=NOW - timedelta(hours=1))
    await Culler(inproc.services.kernels, IDLE_10_MIN, clock=lambda: NOW).run_once()
    patched = await inproc.client.patch(f"{inproc.sessions_url}/{created['id']}", json={"name": "again"})
    assert patched.status_code == 200
    body = patched.json()
    assert body["name"] == "again" and body["kernel"]["id"] != kid and body["kernel"]["execution_state"] == "idle"
