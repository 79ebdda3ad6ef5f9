"""A session's kernel is a real kernel: reach it with its stored connection info and run code."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails, PatchSessionDetails
from jupyter_client.blocking import BlockingKernelClient

from tests.e2e.conftest import Server

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("cleanup_sessions")]


def _stored_connection_info(server: Server, kernel_id: str) -> dict:
    with sqlite3.connect(server.data_dir / "nbplane.db") as db:
        (raw,) = db.execute("SELECT connection_info FROM kernels WHERE id = ?", (kernel_id,)).fetchone()
    return json.loads(raw)


@contextmanager
def _kernel_client(server: Server, kernel_id: str) -> Iterator[BlockingKernelClient]:
    """A jupyter_client connection to a session's kernel, from the connection info nbplane stored."""
    kernel = BlockingKernelClient()
    kernel.load_connection_info(_stored_connection_info(server, kernel_id))
    kernel.start_channels()
    try:
        kernel.wait_for_ready(timeout=30)
        yield kernel
    finally:
        kernel.stop_channels()


def _wait_for_state(client, server: Server, sid: str, wanted: str, timeout: float = 30) -> list[str]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get_session(server.instance_id, server.workspace_key, sid).data.kernel.execution_state
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == wanted:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"kernel never reached {wanted}; saw {seen}")


def test_session_kernel_runs_code_and_reports_busy_then_idle(server: Server) -> None:
    sdk = server.sdk()
    session = sdk.create_session(
        server.instance_id, server.workspace_key, CreateSessionDetails(path="run/code.ipynb", type="notebook")
    ).data
    before = session.kernel.last_activity
    etag = sdk.get_session(server.instance_id, server.workspace_key, session.id).headers["etag"]
    with _kernel_client(server, session.kernel.id) as kernel:
        msg_id = kernel.execute("import time; time.sleep(2); answer = 6 * 7; answer")
        assert "busy" in _wait_for_state(sdk, server, session.id, "busy")
        reply = kernel.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "ok"
        result = None
        while result is None:
            msg = kernel.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "execute_result" and msg["parent_header"]["msg_id"] == msg_id:
                result = msg["content"]["data"]["text/plain"]
        assert result == "42"
        _wait_for_state(sdk, server, session.id, "idle")
    after = sdk.get_session(server.instance_id, server.workspace_key, session.id).data.kernel.last_activity
    assert after > before
    # the etag covers what a client can change, not kernel activity
    assert sdk.get_session(server.instance_id, server.workspace_key, session.id).headers["etag"] == etag


def test_refresh_context_clears_the_namespace(server: Server) -> None:
    sdk = server.sdk()
    session = sdk.create_session(
        server.instance_id, server.workspace_key, CreateSessionDetails(path="run/ctx.ipynb")
    ).data
    with _kernel_client(server, session.kernel.id) as kernel:
        reply = kernel.execute_interactive("x = 1", timeout=30)
        assert reply["content"]["status"] == "ok"
        patched = sdk.patch_session(
            server.instance_id, server.workspace_key, session.id, PatchSessionDetails(must_refresh_context=True)
        ).data
        assert patched.id == session.id
        kernel.wait_for_ready(timeout=30)
        reply = kernel.execute_interactive("x", timeout=30)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "NameError"
