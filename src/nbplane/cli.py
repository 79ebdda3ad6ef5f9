"""The `nbplane` command: `serve`, `info` and admin commands. Parses options; no logic of its own."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import click
import uvicorn

from nbplane.bootstrap import BootstrapInfo, load_bootstrap, new_ocid
from nbplane.settings import Settings
from nbplane.store import directory
from nbplane.store.db import Database
from nbplane.tls import ensure_tls

DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State directory (default: $NBPLANE_DATA_DIR or the user data directory).",
)
DATABASE_URL = click.option("--database-url", default=None, help="SQLAlchemy URL (default: SQLite in the data dir).")


def _settings(data_dir: Path | None, database_url: str | None, **extra: Any) -> Settings:
    values: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    if database_url is not None:
        values["database_url"] = database_url
    return Settings(**values)


def _server_file(data_dir: Path) -> Path:
    return data_dir / "server.json"


@click.group()
@click.version_option(package_name="nbplane")
def main() -> None:
    """nbplane: the AIDP Workbench Notebook API on real Jupyter kernels."""


@main.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8443; 0 picks a free one).")
@DATA_DIR
@DATABASE_URL
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--log-level", default=None, type=click.Choice(["debug", "info", "warning", "error"]))
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    database_url: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    log_level: str | None,
) -> None:
    """Run the server over HTTPS (a local CA and certificate are made in the data dir if none is given)."""
    from nbplane.app import create_app

    settings = _settings(
        data_dir, database_url, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, log_level=log_level
    )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together.")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ca_bundle: Path | None = None
    if settings.tls_cert is None:
        tls = ensure_tls(settings.data_dir / "tls")
        cert, key, ca_bundle = tls.cert, tls.key, tls.ca_cert
    else:
        cert, key = settings.tls_cert, settings.tls_key

    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    bound_port = sock.getsockname()[1]
    display_host = "localhost" if settings.host in ("127.0.0.1", "localhost", "::1") else settings.host
    endpoint = f"https://{display_host}:{bound_port}"

    def on_ready(info: BootstrapInfo) -> None:
        record = {
            "endpoint": endpoint,
            "pid": os.getpid(),
            "ca_bundle": str(ca_bundle) if ca_bundle else None,
        }
        _server_file(settings.data_dir).write_text(json.dumps(record))
        click.echo(f"nbplane listening on {endpoint}")
        click.echo("Try it with the aidp CLI:")
        env = f"REQUESTS_CA_BUNDLE={ca_bundle} " if ca_bundle else ""
        click.echo(
            f"  {env}aidp --config-file {info.oci_config} --auth api_key --endpoint {endpoint} "
            f"--instance-id {info.instance_id} notebook list-sessions {info.workspace_key}"
        )
        sys.stdout.flush()

    app = create_app(settings, on_ready=on_ready)
    config = uvicorn.Config(
        app,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level=settings.log_level,
        date_header=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        _server_file(settings.data_dir).unlink(missing_ok=True)


@main.command()
@DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(data_dir: Path | None, as_json: bool) -> None:
    """How to reach the server of a data dir with the official clients."""
    data_dir = data_dir or Settings().data_dir
    boot = load_bootstrap(data_dir)
    if boot is None:
        raise click.ClickException(f"{data_dir} has not been initialised; run `nbplane serve` once.")
    server_file = _server_file(data_dir)
    running = json.loads(server_file.read_text()) if server_file.exists() else {}
    tls_ca = data_dir / "tls" / "ca.pem"
    record = {
        "endpoint": running.get("endpoint", f"https://localhost:{Settings().port}"),
        "ca_bundle": running.get("ca_bundle") or (str(tls_ca) if tls_ca.exists() else None),
        "oci_config": boot.oci_config,
        "profile": boot.profile,
        "instance_id": boot.instance_id,
        "workspace_key": boot.workspace_key,
    }
    if as_json:
        click.echo(json.dumps(record, indent=2))
    else:
        for key, value in record.items():
            click.echo(f"{key}: {value}")


@main.group()
def admin() -> None:
    """Manage instances and workspaces directly in the database."""


async def _with_db(settings: Settings, work: Any) -> Any:
    db = Database(settings.resolved_database_url)
    try:
        await db.migrate()
        return await work(db)
    finally:
        await db.dispose()


@admin.command("create-instance")
@DATA_DIR
@DATABASE_URL
@click.option("--name", default="instance", help="Display name.")
@click.option("--tenancy", "tenancy_id", default=None, help="Owning tenancy OCID (default: the bootstrap one).")
def create_instance(data_dir: Path | None, database_url: str | None, name: str, tenancy_id: str | None) -> None:
    """Create an AI Data Platform instance (with a `default` workspace) and print its OCID."""
    settings = _settings(data_dir, database_url)
    boot = load_bootstrap(settings.data_dir)
    owner = tenancy_id or (boot.tenancy_id if boot else None)
    if owner is None:
        raise click.ClickException("No tenancy given and the data dir has no bootstrap tenancy.")
    instance_id = new_ocid("aidataplatform")

    async def work(db: Database) -> None:
        async with db.write() as session:
            if await directory.get_tenancy(session, owner) is None:
                directory.add_tenancy(session, owner, "tenancy")
                await session.flush()
            directory.add_instance(session, instance_id, owner, name)
            await session.flush()
            directory.add_workspace(session, instance_id, "default", "Default workspace")

    asyncio.run(_with_db(settings, work))
    click.echo(instance_id)


@admin.command("create-workspace")
@DATA_DIR
@DATABASE_URL
@click.option("--instance", "instance_id", required=True, help="Instance OCID.")
@click.option("--key", required=True, help="Workspace key (letters, digits, - and _; not a JSON literal).")
@click.option("--name", default=None, help="Display name.")
def create_workspace(
    data_dir: Path | None, database_url: str | None, instance_id: str, key: str, name: str | None
) -> None:
    """Create a workspace in an instance."""
    if not key[:1].isalpha() or not all(c.isalnum() or c in "-_" for c in key):
        raise click.BadParameter("must start with a letter and use only letters, digits, - and _", param_hint="--key")
    settings = _settings(data_dir, database_url)

    async def work(db: Database) -> None:
        async with db.write() as session:
            if await directory.get_instance(session, instance_id) is None:
                raise click.ClickException(f"No instance {instance_id}.")
            if await directory.get_workspace(session, instance_id, key) is not None:
                raise click.ClickException(f"Workspace {key} already exists.")
            directory.add_workspace(session, instance_id, key, name or key)

    asyncio.run(_with_db(settings, work))
    click.echo(key)


@admin.command("list")
@DATA_DIR
@DATABASE_URL
def list_all(data_dir: Path | None, database_url: str | None) -> None:
    """List instances and their workspaces."""
    settings = _settings(data_dir, database_url)

    async def work(db: Database) -> list[tuple[str, str, list[str]]]:
        async with db.read() as session:
            rows = []
            for instance in await directory.list_instances(session):
                keys = [w.key for w in await directory.list_workspaces(session, instance.id)]
                rows.append((instance.id, instance.tenancy_id, keys))
            return rows

    for instance_id, tenancy_id, keys in asyncio.run(_with_db(settings, work)):
        click.echo(f"{instance_id}  tenancy={tenancy_id}  workspaces={','.join(keys)}")
