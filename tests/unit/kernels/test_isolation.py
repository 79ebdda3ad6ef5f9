"""Kernel isolation pieces in process: the environment allow-list, the sandbox command, data dir modes,
ownership of files the server writes, reachability checks and per-workspace identities."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from nbplane.bootstrap import ensure_bootstrap
from nbplane.contents.storage import give_to_folder_owner
from nbplane.files import secure_data_dir
from nbplane.kernels import isolation
from nbplane.kernels.environment import kernel_environment
from nbplane.kernels.isolation import (
    Isolation,
    IsolationMode,
    resolve_isolation,
    sandbox_command,
    unreachable_by_others,
)
from nbplane.kernels.service import KernelService
from nbplane.scope import Scope
from nbplane.store import identities_repo
from nbplane.store.db import Database

ROOT = os.geteuid() == 0


def test_kernels_get_an_allow_list_of_the_servers_environment() -> None:
    server = {"PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "NBPLANE_DATABASE_URL": "postgresql://u:pw@db/x"}
    server |= {"AWS_SECRET_ACCESS_KEY": "k", "MY_TOOL": "1"}
    env = kernel_environment({"KERNEL_USERNAME": "ann"}, passthrough=["MY_TOOL"], source=server)
    assert env == {"PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "MY_TOOL": "1", "KERNEL_USERNAME": "ann"}


def test_the_sandbox_hides_the_data_dir_and_mounts_back_only_the_kernels_own_paths(tmp_path: Path) -> None:
    data = tmp_path / "data"
    isolation = Isolation(IsolationMode.SANDBOX, bwrap="/usr/bin/bwrap", setpriv="/usr/bin/setpriv", hidden=(data,))
    ws = str(data / "workspaces" / "i" / "w")
    cmd = sandbox_command(
        ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", str(data / "runtime" / "k.json")],
        isolation=isolation,
        cwd=ws,
        home=str(data / "homes" / "200001"),
        connection_file=str(data / "runtime" / "k.json"),
        ipc_dir=str(data / "runtime" / "ipc-1"),
        run_as=(200001, 200001),
    )
    line = " ".join(cmd)
    assert cmd[:5] == ["/usr/bin/bwrap", "--ro-bind", "/", "/", "--dev"]
    assert f"--perms 0711 --tmpfs {data}" in line
    hidden_at = cmd.index(str(data))
    for kind, path in (
        ("--bind", ws),
        ("--bind", str(data / "homes" / "200001")),
        ("--ro-bind", str(data / "runtime" / "k.json")),
    ):
        at = cmd.index(path)
        assert cmd[at - 1] == kind and cmd[at + 1] == path and at > hidden_at  # mounted after the data dir is emptied
    assert f"--perms 0711 --dir {data / 'workspaces'}" in line  # passable folders on the way, not bwrap's 0700
    assert "--reuid=200001" in line and "--clear-groups" in line and "--inh-caps=-all" in line
    shell = cmd.index("/bin/sh")  # the umask is set inside the sandbox, right before the kernel
    kernel = ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", str(data / "runtime" / "k.json")]
    assert cmd[shell:] == ["/bin/sh", "-c", 'umask 077 && exec "$0" "$@"', *kernel]


def test_resolving_the_isolation(tmp_path: Path) -> None:
    mode, warning = resolve_isolation("none", data_dir=tmp_path)
    assert mode.mode is IsolationMode.NONE and warning is not None and "can read everything" in warning
    with pytest.raises(ValueError, match="unknown kernel isolation"):
        resolve_isolation("jail", data_dir=tmp_path)
    if not ROOT:
        with pytest.raises(ValueError, match="needs a server running as root"):
            resolve_isolation("user", data_dir=tmp_path)
    else:
        auto, _ = resolve_isolation("auto", data_dir=tmp_path)
        assert auto.mode in (IsolationMode.USER, IsolationMode.SANDBOX) or unreachable_by_others(sys.executable)
        assert auto.switches_user or auto.mode is IsolationMode.NONE


def test_auto_does_not_pick_users_that_cannot_reach_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = tmp_path / "home"
    (closed / "bin").mkdir(parents=True)
    (closed / "bin" / "python3").touch()
    closed.chmod(0o700)
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 0)
    monkeypatch.setattr(isolation.shutil, "which", lambda name: None)  # no bubblewrap
    monkeypatch.setattr(isolation.sys, "executable", str(closed / "bin" / "python3"))
    auto, warning = resolve_isolation("auto", data_dir=tmp_path / "data")
    assert auto.mode is IsolationMode.NONE
    assert warning is not None and f"lies under {unreachable_by_others(str(closed / 'bin' / 'python3'))}" in warning
    monkeypatch.setattr(isolation.sys, "executable", "/usr/bin/python3")
    auto, warning = resolve_isolation("auto", data_dir=tmp_path / "data")
    assert (auto.mode, warning) == (IsolationMode.USER, None)


async def test_the_data_dir_is_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite+aiosqlite:///{data / 'nbplane.db'}")
    data.mkdir()
    await db.migrate()
    try:
        await ensure_bootstrap(data, db)
    finally:
        await db.dispose()
    (data / "runtime").mkdir()
    (data / "tls").mkdir()
    secure_data_dir(data)
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}
    assert mode["keys"] == mode["tls"] == mode["oci"] == mode["uploads"] == 0o700
    assert mode["nbplane.db"] == 0o600 and mode["bootstrap.json"] == 0o600
    assert mode["runtime"] == mode["workspaces"] == 0o711
    assert stat.S_IMODE(data.stat().st_mode) == 0o711


@pytest.mark.skipif(not ROOT, reason="only root can give a file to another user")
def test_files_the_server_writes_belong_to_the_workspace_folders_owner(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    os.chown(folder, 200123, 200123)
    target = folder / "a.txt"
    target.write_text("x")
    give_to_folder_owner(target, folder)
    assert (target.stat().st_uid, target.stat().st_gid) == (200123, 200123)


def test_a_folder_closed_to_others_is_named(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    (closed / "bin").mkdir(parents=True)
    tool = closed / "bin" / "python"
    tool.write_text("")
    closed.chmod(0o700)
    assert unreachable_by_others(str(tool)) in (closed, *closed.parents)
    closed.chmod(0o755)
    assert unreachable_by_others("/bin/sh") is None


async def test_each_workspace_gets_its_own_stable_identity(tmp_path: Path, database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    try:
        info = await ensure_bootstrap(tmp_path / "data", db)
        async with db.write() as session:
            from nbplane.store.tables import WorkspaceRow

            session.add(WorkspaceRow(instance_id=info.instance_id, key="other", display_name="other"))
        from nbplane.kernels.fake import FakeKernelBackend

        kernels = KernelService(db, FakeKernelBackend(), workspace_dir=lambda s: tmp_path / "w", identity_base=300_000)
        first = await kernels._identity(Scope(info.instance_id, info.workspace_key))
        other = await kernels._identity(Scope(info.instance_id, "other"))
        again = await kernels._identity(Scope(info.instance_id, info.workspace_key))
        assert first == again == (300_000, 300_000) and other == (300_001, 300_001)
        async with db.read() as session:
            assert await identities_repo.find_uid(session, info.instance_id, "other") == 300_001
        started = await kernels.start(Scope(info.instance_id, "other"), None, path=None, created_by="u")
        assert started.activity.execution_state == "idle"
    finally:
        await db.dispose()


def test_an_interpreter_under_tmp_is_mounted_back(tmp_path: Path) -> None:
    """The sandbox's /tmp is private: a venv there (a CI checkout) must be mounted back, read-only."""
    venv = Path("/tmp") / "nbplane-venv-probe"
    isolation = Isolation(IsolationMode.SANDBOX, bwrap="/usr/bin/bwrap", setpriv="/usr/bin/setpriv", hidden=())
    cmd = sandbox_command(
        [str(venv / "bin" / "python"), "-m", "ipykernel_launcher"],
        isolation=isolation,
        cwd=str(tmp_path / "w"),
        home=str(tmp_path / "h"),
        connection_file=str(tmp_path / "k.json"),
        ipc_dir=None,
        run_as=None,
    )
    at = cmd.index(str(venv))
    assert cmd[at - 1] == "--ro-bind" and cmd[at + 1] == str(venv)
