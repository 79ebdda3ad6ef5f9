"""Small file-system helpers shared by the layers that write secrets."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: bytes | str) -> None:
    """Write a file readable by its owner only (mode 0600), whatever the umask or a previous mode."""
    payload = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
    os.chmod(path, 0o600)


PASS_THROUGH_FOLDERS = ("runtime", "homes", "workspaces")


def secure_database_file(path: Path) -> None:
    """An SQLite database (and its WAL and shared-memory files) outside the data dir: owner-only too."""
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if candidate.is_file() and not candidate.is_symlink():
            candidate.chmod(0o600)


def secure_data_dir(data_dir: Path) -> None:
    """Owner-only modes for everything of the server's in its data dir: its secrets, database and runtime files
    (0600, folders 0700). The data dir and the folders kernels pass through on the way to their own files are
    0711 (no listing); a workspace's own folder is 0700, owned by its kernels' user when kernels are isolated."""
    data_dir.chmod(0o711)
    (data_dir / "workspaces").mkdir(exist_ok=True)
    (data_dir / "uploads").mkdir(exist_ok=True)
    for entry in data_dir.iterdir():
        if entry.is_symlink():
            continue
        if entry.is_dir():
            if entry.name in PASS_THROUGH_FOLDERS:
                entry.chmod(0o711)
                if entry.name == "workspaces":
                    for instance in entry.iterdir():
                        if instance.is_dir() and not instance.is_symlink():
                            instance.chmod(0o711)
                            for workspace in instance.iterdir():  # folders from before isolation, too
                                if workspace.is_dir() and not workspace.is_symlink():
                                    workspace.chmod(0o700)
            else:
                entry.chmod(0o700)
        elif entry.is_file():
            entry.chmod(0o600)
