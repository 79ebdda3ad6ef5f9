"""Kernel isolation on a server running as root: a kernel runs as its workspace's own unprivileged user (and,
in the sandbox mode, inside bubblewrap) and can read none of the server's secrets, its database, another
workspace's files, another kernel's connection file or socket, or the server's environment; it reads and writes
its own workspace, including files the server saved there. Re-adoption works for such kernels too."""

from __future__ import annotations

import ast
import json
import os
import shutil
import sqlite3
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aidp_python_client.aidataplatform_dp.models import CreateSessionDetails

from nbplane.kernels.isolation import unreachable_by_others
from tests.e2e.conftest import Server, kernel_processes_under, start_server, stop_server
from tests.e2e.test_kernels_survive import _evaluate

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="kernels switch users only under a server running as root"),
]

SECRET = "do-not-leak-4711"
MODES = [
    pytest.param("user", id="user"),
    pytest.param(
        "sandbox",
        id="sandbox",
        marks=pytest.mark.skipif(
            not (shutil.which("bwrap") and shutil.which("setpriv")),
            reason="bubblewrap or setpriv is not installed (apt-get install bubblewrap)",
        ),
    ),
]


def _reachable_python3(folder: Path) -> Path:
    """A `python3` kernelspec an unprivileged user can run: this machine's test interpreter may live under a
    0700 home (pyenv under /root), so the user mode gets the system interpreter with the test environment's
    packages. (The sandbox mode mounts the interpreter back itself and needs none of this.)"""
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system is None:
        pytest.skip("no system python3 outside the server's home for the user mode")
    packages = sysconfig.get_paths()["purelib"]
    if unreachable_by_others(packages) is not None:
        pytest.skip(f"the test environment's packages ({packages}) are closed to other users")
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [system, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    env = {"PYTHONPATH": sysconfig.get_paths()["purelib"]}
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python 3", "language": "python", "env": env})
    )
    return folder


PROBE = """
import json, os, socket
def attempt(path):
    try:
        with open(path, "rb") as handle:
            handle.read(16)
        return "READ"
    except OSError as exc:
        return type(exc).__name__
def connect(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return "CONNECTED"
    except OSError as exc:
        return type(exc).__name__
    finally:
        s.close()
results = {name: attempt(path) for name, path in PATHS.items()}
results["other kernel's socket"] = connect(SOCKET)
results["server environment"] = os.environ.get("NBPLANE_TEST_SECRET") or "absent"
results["uid"] = os.getuid()
with open("mine.txt", "w") as handle:
    handle.write("mine")
results["own workspace"] = open("mine.txt").read()
with open("saved.txt", "a") as handle:
    handle.write(" and changed")
results["file the server saved"] = open("saved.txt").read()
json.dumps(results)
"""


def _kernel_row(server: Server, kernel_id: str) -> dict[str, object]:
    with sqlite3.connect(server.data_dir / "nbplane.db") as db:
        (info,) = db.execute("SELECT connection_info FROM kernels WHERE id = ?", (kernel_id,)).fetchone()
    return json.loads(info)


@pytest.fixture
def data_dir(tmp_path: Path, mode: str) -> Iterator[Path]:
    """The sandbox mounts what a kernel needs; without it (user mode) every folder on the way to the data dir
    must be passable by other users, which pytest's 0700 temp folders are not."""
    if mode == "sandbox":
        yield tmp_path / "data"
        return
    base = Path(tempfile.mkdtemp(prefix="nbplane-isolation-"))
    base.chmod(0o711)
    yield base / "data"
    for proc in kernel_processes_under(base):
        proc.kill()
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("mode", MODES)
async def test_a_kernel_reads_nothing_but_its_own_workspace(tmp_path: Path, mode: str, data_dir: Path) -> None:
    data = data_dir
    env = {"NBPLANE_KERNEL_ISOLATION": mode, "NBPLANE_TEST_SECRET": SECRET, "NBPLANE_KERNELS_ON_STOP": "auto"}
    if mode == "user":
        env["JUPYTER_PATH"] = str(_reachable_python3(tmp_path / "jupyter"))
    server = start_server(data, env=env)
    restarted: Server | None = None
    try:
        assert f"Kernel isolation: {mode}" in server.log.read_text()
        server.nbplane("admin", "create-workspace", "--instance", server.instance_id, "--key", "other")
        sdk = server.sdk()
        mine = sdk.create_session(server.instance_id, server.workspace_key, CreateSessionDetails(path="a.ipynb")).data
        theirs = sdk.create_session(server.instance_id, "other", CreateSessionDetails(path="b.ipynb")).data
        other = Server(**{**server.__dict__, "workspace_key": "other"})
        assert await _evaluate(other, theirs.kernel.id, "open('private.txt', 'w').write('theirs')") == "6"
        with server.http() as http:
            saved = http.put(
                f"{server.notebook_path}/api/contents/saved.txt",
                json={"type": "file", "format": "text", "content": "saved by the server"},
            )
            assert saved.status_code in (200, 201), saved.text
        their_info = _kernel_row(server, theirs.kernel.id)
        paths = {
            "API key": data / "keys" / "api_key.pem",
            "session signing key": data / "keys" / "session_signing_key.pem",
            "TLS key": data / "tls" / "server-key.pem",
            "OCI config": data / "oci" / "config",
            "database": data / "nbplane.db",
            "another workspace's file": data / "workspaces" / server.instance_id / "other" / "private.txt",
            "another kernel's connection file": data / "runtime" / f"kernel-{theirs.kernel.id}.json",
        }
        socket_path = f"{their_info['ip']}-{their_info['iopub_port']}"
        assert their_info["transport"] == "ipc" and Path(socket_path).exists()
        code = f"PATHS = {json.dumps({k: str(v) for k, v in paths.items()})}\nSOCKET = {socket_path!r}\n{PROBE}"
        result = json.loads(ast.literal_eval(await _evaluate(server, mine.kernel.id, code)))
        assert result["uid"] >= 200_000 and result["uid"] != 0
        for name in [*paths, "other kernel's socket"]:
            assert result[name] in ("PermissionError", "FileNotFoundError"), (name, result[name])
        assert result["server environment"] == "absent"
        assert result["own workspace"] == "mine"
        assert result["file the server saved"] == "saved by the server and changed"
        mine_owner = (data / "workspaces" / server.instance_id / server.workspace_key).stat().st_uid
        theirs_owner = (data / "workspaces" / server.instance_id / "other").stat().st_uid
        assert mine_owner == result["uid"] and theirs_owner not in (0, mine_owner)

        assert await _evaluate(server, mine.kernel.id, "kept = 42") == ""
        stop_server(server)  # SIGTERM in the auto mode keeps the kernels
        restarted = start_server(data, env={**env, "NBPLANE_KERNELS_ON_STOP": "stop"})
        assert "2 re-adopted, 0 dead" in restarted.log.read_text()
        assert await _evaluate(restarted, mine.kernel.id, "kept, __import__('os').getuid()") == f"(42, {result['uid']})"
    finally:
        stop_server(restarted or server)
