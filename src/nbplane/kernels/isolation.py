"""How local kernels are kept from the server's secrets and from each other.

Modes (`NBPLANE_KERNEL_ISOLATION`):
- `none`: kernels run as the server's own user, with the server's file access (the only choice for a server
  that does not run as root, unless a sandbox is asked for); `serve` warns about it once at start.
- `user` (root only): each workspace's kernels run as that workspace's own uid/gid (allocated once, never
  shared; no passwd entry is needed), with umask 077 and no supplementary groups. The server's files are owner
  (root) only; the workspace folder belongs to its uid, so other workspaces' kernels cannot read it. The kernel's
  interpreter must be reachable by an unprivileged user (not under a 0700 home).
- `sandbox`: the `user` mode (when root) inside bubblewrap: the whole file system read-only, the data dir and
  the server's home replaced by empty folders, only the kernel's workspace, its home, its connection file and
  its socket folder mounted back (the first two writable), a private /tmp; the interpreter's own prefix is
  mounted back read-only when it lives under a hidden folder.
- `auto` (default): `sandbox` when root and bubblewrap works, `user` when root without it and the server's
  interpreter is reachable by an unprivileged user, else `none` (with the warning that says why).

Isolated kernels talk over Unix sockets (ZMQ ipc) in a folder only their uid and root can open, so a kernel of
another workspace can neither read a kernel's connection file (its HMAC key) nor subscribe to its output.
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class IsolationMode(StrEnum):
    NONE = "none"
    USER = "user"
    SANDBOX = "sandbox"


@dataclass(frozen=True)
class Isolation:
    mode: IsolationMode
    bwrap: str | None = None
    setpriv: str | None = None
    hidden: tuple[Path, ...] = ()
    uid_base: int = 200_000

    @property
    def switches_user(self) -> bool:
        return self.mode is not IsolationMode.NONE and os.geteuid() == 0

    @property
    def isolated(self) -> bool:
        return self.mode is not IsolationMode.NONE


def resolve_isolation(setting: str, *, data_dir: Path, uid_base: int = 200_000) -> tuple[Isolation, str | None]:
    """The isolation to use for `setting`, and a warning to print once (None when there is nothing to say).
    Raises ValueError for a setting this machine cannot honour."""
    root = os.geteuid() == 0
    bwrap = shutil.which("bwrap")
    setpriv = shutil.which("setpriv")
    home = Path(os.path.expanduser("~"))
    hidden = tuple(p for p in (data_dir.resolve(), home.resolve()) if p != Path("/"))
    closed: Path | None = None
    if setting == "auto":
        sandbox_works = root and bool(bwrap and setpriv) and _bwrap_runs(str(bwrap), as_root=root)
        closed = None if sandbox_works or not root else unreachable_by_others(sys.executable)
        setting = "sandbox" if sandbox_works else "user" if root and closed is None else "none"
    if setting == "none":
        warning = (
            "local kernels run as this server's own user and can read everything it can (its keys, database "
            "and every workspace); run the server as root for per-workspace kernel users, or set "
            "NBPLANE_KERNEL_ISOLATION=sandbox where bubblewrap is installed"
        )
        if closed is not None:
            warning += (
                f" (auto did not pick per-workspace users: this server's interpreter lies under {closed}, which "
                "other users cannot enter, so their kernels could not start; install bubblewrap, or use an "
                "interpreter outside it)"
            )
        return Isolation(IsolationMode.NONE), warning
    if setting == "user":
        if not root:
            raise ValueError("NBPLANE_KERNEL_ISOLATION=user needs a server running as root (it switches users)")
        return Isolation(IsolationMode.USER, hidden=hidden, uid_base=uid_base), None
    if setting == "sandbox":
        if not bwrap or (root and not setpriv):
            raise ValueError("NBPLANE_KERNEL_ISOLATION=sandbox needs bubblewrap (bwrap) and setpriv on the PATH")
        if not _bwrap_runs(bwrap, as_root=root):
            raise ValueError(
                "bubblewrap cannot make a sandbox here (no mount or user namespaces, as in many containers); "
                "use NBPLANE_KERNEL_ISOLATION=user, or run kernels through a gateway"
            )
        warning = None if root else "kernels are sandboxed but share this server's user (it is not root)"
        return Isolation(IsolationMode.SANDBOX, bwrap=bwrap, setpriv=setpriv, hidden=hidden, uid_base=uid_base), warning
    raise ValueError(f"unknown kernel isolation {setting!r}: auto, none, user or sandbox")


@functools.cache
def _bwrap_runs(bwrap: str, *, as_root: bool) -> bool:
    """Whether bubblewrap can make a sandbox on this machine: containers often allow no namespaces. Asked once
    per process (`serve` checks its settings before the app resolves them again)."""
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    if not as_root:
        args.append("--unshare-user")
    try:
        return subprocess.run([*args, "true"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def describe(isolation: Isolation) -> str:
    """One line for `serve` to print: what the mode guarantees."""
    if isolation.mode is IsolationMode.NONE:
        return "none (kernels run as this server's user)"
    who = "each workspace's own user" if isolation.switches_user else "this server's user"
    if isolation.mode is IsolationMode.USER:
        return f"user (kernels run as {who}; the server's files are owner-only)"
    return f"sandbox (bubblewrap; kernels run as {who} and see only their workspace of the data dir)"


def unreachable_by_others(executable: str) -> Path | None:
    """The first folder on the way to `executable` (symlinks resolved) that a user other than its owner
    cannot pass through, or None when an unprivileged user can run it."""
    path = Path(os.path.realpath(executable))
    for folder in reversed(path.parents):
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            return folder
    return None


def interpreter_prefixes(argv0: str) -> list[Path]:
    """Folders a kernel's interpreter needs (its install prefix, found through symlinks)."""
    real = Path(os.path.realpath(shutil.which(argv0) or argv0))
    found = [real.parent.parent]
    venv = Path(shutil.which(argv0) or argv0).absolute().parent.parent
    if venv != found[0]:
        found.append(venv)
    return found


def sandbox_command(
    cmd: list[str],
    *,
    isolation: Isolation,
    cwd: str,
    home: str,
    connection_file: str,
    ipc_dir: str | None,
    run_as: tuple[int, int] | None,
) -> list[str]:
    """`cmd` wrapped in bubblewrap (and setpriv, to drop to `run_as`) as described in the module docstring."""
    assert isolation.bwrap is not None
    args = [isolation.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += ["--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--tmpfs", "/tmp"]
    if run_as is None:
        args.append("--unshare-user")  # an unprivileged server gets its mounts from a user namespace
    empty = [Path("/tmp"), *isolation.hidden]
    for folder in isolation.hidden:
        args += ["--perms", "0711", "--tmpfs", str(folder)]
    made: set[Path] = set()

    def mount(kind: str, path: str) -> None:
        # bubblewrap makes the folders on the way to a mount point 0700; inside an emptied folder they must
        # stay passable for the kernel's user, so they are made here first (0711: passable, not listable).
        target = Path(path)
        for parent in reversed(target.parents):
            if parent not in made and any(e in parent.parents for e in empty):
                args.extend(["--perms", "0711", "--dir", str(parent)])
                made.add(parent)
        args.extend([kind, path, path])

    for prefix in interpreter_prefixes(cmd[0]):  # e.g. a venv under /tmp, or pyenv under a hidden home
        if any(prefix == e or e in prefix.parents for e in empty):
            mount("--ro-bind", str(prefix))
    mount("--bind", cwd)
    mount("--bind", home)
    mount("--ro-bind", connection_file)
    if ipc_dir is not None:
        mount("--bind", ipc_dir)
    args += ["--chdir", cwd, "--"]
    if run_as is not None:
        assert isolation.setpriv is not None
        uid, gid = run_as
        args += [isolation.setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all", "--"]
    # umask 077 for what the kernel creates, set here: set before bubblewrap, it would make bubblewrap's own
    # mount-point folders impassable for the kernel's user.
    return [*args, "/bin/sh", "-c", 'umask 077 && exec "$0" "$@"', *cmd]
