"""Clean shutdown stops every kernel; after a restart sessions are still there and get a fresh kernel."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails

from tests.e2e.conftest import start_server, stop_server

pytestmark = pytest.mark.e2e


def test_sigterm_stops_kernels_and_sessions_survive_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir)
    try:
        created = (
            first.sdk()
            .create_session(first.instance_id, first.workspace_key, CreateSessionDetails(path="life/a.ipynb"))
            .data
        )
        pids = [p.pid for p in first.kernel_processes()]
        assert len(pids) == 1
    finally:
        stop_server(first)
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert first.process.returncode in (0, -15)
    assert "Application shutdown complete" in first.log.read_text()
    psutil.wait_procs([psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)], timeout=10)
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)

    second = start_server(data_dir)
    try:
        sdk = second.sdk()
        stale = sdk.get_session(second.instance_id, second.workspace_key, created.id).data
        assert stale.kernel.execution_state == "dead"
        revived = sdk.create_session(
            second.instance_id, second.workspace_key, CreateSessionDetails(path="life/a.ipynb")
        ).data
        assert revived.id == created.id
        assert revived.kernel.id != created.kernel.id
        assert revived.kernel.execution_state == "idle"
        assert len(second.kernel_processes()) == 1
    finally:
        stop_server(second)
