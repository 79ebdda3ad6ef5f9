"""`nbplane kernels stop`: end the kernels a stopped server left running (a SIGTERM in the keep mode)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click
import psutil

from nbplane.cli._common import DATA_DIR, DATABASE_URL, _server_file, _settings
from nbplane.services import build_services
from nbplane.settings import Settings


@click.group()
def kernels() -> None:
    """The kernels of a data dir."""


@kernels.command("stop")
@DATA_DIR
@DATABASE_URL
def stop(data_dir: Path | None, database_url: str | None) -> None:
    """Stop every kernel this data dir's server left running, while no server runs on it. (With a server
    running, stop it with Ctrl-C, or start it with --kernels-on-stop stop.)"""
    settings = _settings(data_dir, database_url)
    running = _running_server(settings)
    if running is not None:
        raise click.ClickException(
            f"nbplane serve (pid {running}) is running on {settings.data_dir}; stop it with Ctrl-C, which stops "
            "its kernels, or with SIGTERM and then run this command"
        )
    stopped, dead = asyncio.run(_stop_all(settings))
    click.echo(f"Stopped {stopped} kernel(s); {dead} were already gone.")


def _running_server(settings: Settings) -> int | None:
    """The pid of a live `nbplane serve` on this data dir, if its server file names one."""
    path = _server_file(settings.data_dir)
    try:
        pid = int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if psutil.pid_exists(pid) else None


async def _stop_all(settings: Settings) -> tuple[int, int]:
    """Adopt what the last server recorded (orphans are stopped on the way), then stop it all."""
    services = await build_services(settings)
    try:
        report = await services.kernels.adopt_on_start()
        await services.kernels.close(stop_kernels=True)
        return len(report.adopted) + len(report.orphans_stopped), len(report.dead)
    finally:
        await services.db.dispose()
