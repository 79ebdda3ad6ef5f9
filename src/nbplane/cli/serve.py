"""`nbplane serve` and `nbplane info`."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from pathlib import Path

import click
import uvicorn

from nbplane.bootstrap import (
    BootstrapInfo,
    load_bootstrap,
)
from nbplane.cli._common import (
    DATA_DIR,
    DATABASE_URL,
    _is_loopback,
    _server_file,
    _settings,
)
from nbplane.cli._protocols import HttpProtocol, WebSocketProtocol
from nbplane.files import write_private
from nbplane.kernels.isolation import Isolation, describe, resolve_isolation
from nbplane.kernels.service import AdoptionReport
from nbplane.settings import Settings
from nbplane.tls import ensure_tls


class _Server(uvicorn.Server):
    """Remembers the first signal that asked it to stop (SIGTERM keeps kernels in `auto` mode)."""

    exit_signal: int | None = None

    def handle_exit(self, sig: int, frame: object) -> None:
        if self.exit_signal is None:
            self.exit_signal = sig
        super().handle_exit(sig, frame)  # type: ignore[arg-type]


@click.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8443; 0 picks a free one).")
@DATA_DIR
@DATABASE_URL
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--log-level", default=None, type=click.Choice(["debug", "info", "warning", "error"]))
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    default=None,
    help="Accept unauthenticated requests (development only; refused unless --host is a loopback address).",
)
@click.option("--rate-limit-per-second", type=float, default=None, help="Per-principal refill rate (0 = off; 50).")
@click.option("--rate-limit-burst", type=int, default=None, help="Per-principal burst (default 200).")
@click.option(
    "--kernels-on-stop",
    type=click.Choice(["auto", "keep", "stop"]),
    default=None,
    help="On a clean stop: keep kernels running for the next start, stop them, or auto (default): "
    "SIGTERM keeps them, Ctrl-C stops them.",
)
@click.option(
    "--kernel-isolation",
    type=click.Choice(["auto", "none", "user", "sandbox"]),
    default=None,
    help="How local kernels are isolated: none, user (a uid per workspace; root only), sandbox (bubblewrap), "
    "or auto (default): sandbox or user when root, else none.",
)
@click.option(
    "--node-address",
    default=None,
    help="The https URL other nbplane servers on the same database reach this one at (default: its endpoint).",
)
@click.option(
    "--kernel-pool-size",
    type=click.IntRange(0, 64),
    default=None,
    help="Kernels kept warm per workspace and kernelspec, handed to the next session or kernel start "
    "(default 0 = off; about 51 MB of memory per idle python kernel; NBPLANE_KERNEL_POOL_SIZE).",
)
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    database_url: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    log_level: str | None,
    insecure_no_auth: bool | None,
    rate_limit_per_second: float | None,
    rate_limit_burst: int | None,
    kernels_on_stop: str | None,
    kernel_isolation: str | None,
    node_address: str | None,
    kernel_pool_size: int | None,
) -> None:
    """Run the server over HTTPS (a local CA and certificate are made in the data dir if none is given).

    Every API request must be signed (OCI API key or session token) or carry a workspace API token.
    """
    from nbplane.app import create_app

    settings = _settings(
        data_dir,
        database_url,
        host=host,
        port=port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_level=log_level,
        insecure_no_auth=insecure_no_auth,
        rate_limit_per_second=rate_limit_per_second,
        rate_limit_burst=rate_limit_burst,
        kernels_on_stop=kernels_on_stop,
        kernel_isolation=kernel_isolation,
        node_address=node_address,
        kernel_pool_size=kernel_pool_size,
    )
    if settings.node_address is not None and not settings.node_address.startswith("https://"):
        raise click.UsageError(f"--node-address must be an https:// URL, not {settings.node_address}.")
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together.")
    if settings.insecure_no_auth and not _is_loopback(settings.host):
        raise click.UsageError(f"--insecure-no-auth is only allowed on a loopback address, not {settings.host}.")
    if settings.rate_limit_per_second < 0 or settings.rate_limit_burst < 1:
        raise click.UsageError("--rate-limit-per-second must be >= 0 and --rate-limit-burst >= 1.")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        resolve_isolation(settings.kernel_isolation, data_dir=settings.data_dir)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
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
    if settings.node_address is None:  # what other servers on the same database forward to
        node_host = socket.getfqdn() if settings.host in ("0.0.0.0", "::", "") else display_host
        settings = settings.model_copy(update={"node_address": f"https://{node_host}:{bound_port}"})

    def on_ready(info: BootstrapInfo, adoption: AdoptionReport, isolation: Isolation, warning: str | None) -> None:
        record = {
            "endpoint": endpoint,
            "pid": os.getpid(),
            "ca_bundle": str(ca_bundle) if ca_bundle else None,
        }
        write_private(_server_file(settings.data_dir), json.dumps(record))
        click.echo(f"nbplane listening on {endpoint}")
        click.echo(f"Kernel isolation: {describe(isolation)}")
        if warning:
            click.echo(f"WARNING: {warning}.")
        if adoption.adopted or adoption.dead or adoption.orphans_stopped:
            click.echo(
                f"Kernels from the previous run: {len(adoption.adopted)} re-adopted, {len(adoption.dead)} dead, "
                f"{len(adoption.orphans_stopped)} unrecorded kernel process(es) stopped."
            )
        if settings.insecure_no_auth:
            click.echo("WARNING: authentication is off (--insecure-no-auth); any local process can use this server.")
        click.echo("Try it with the aidp CLI:")
        env = f"REQUESTS_CA_BUNDLE={ca_bundle} " if ca_bundle else ""
        click.echo(
            f"  {env}aidp --config-file {info.oci_config} --auth api_key --endpoint {endpoint} "
            f"--instance-id {info.instance_id} notebook list-sessions {info.workspace_key}"
        )
        sys.stdout.flush()

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )

    def on_stopping(stop_kernels: bool, count: int) -> None:
        if not count:
            return
        if stop_kernels:
            click.echo(f"Stopping {count} kernel(s).")
        else:
            click.echo(
                f"Leaving {count} kernel(s) running; the next `nbplane serve` on this data dir re-adopts them. "
                "(To stop them: `nbplane kernels stop` now, Ctrl-C instead of SIGTERM, or --kernels-on-stop stop.)"
            )
        sys.stdout.flush()

    server: _Server | None = None
    app = create_app(
        settings,
        on_ready=on_ready,
        exit_signal=lambda: server.exit_signal if server is not None else None,
        on_stopping=on_stopping,
    )
    config = uvicorn.Config(
        app,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level=settings.log_level,
        date_header=False,
        access_log=False,  # nbplane.access logs instead, without query strings or download tokens
        lifespan="on",
        http=HttpProtocol,
        ws=WebSocketProtocol,
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        _server_file(settings.data_dir).unlink(missing_ok=True)


@click.command()
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
