"""Options and helpers shared by the `nbplane` commands."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from nbplane.bootstrap import load_bootstrap
from nbplane.layout import DataLayout
from nbplane.settings import Settings
from nbplane.store.db import Database

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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _tenancy_or_bootstrap(settings: Settings, tenancy_id: str | None) -> str:
    """The given tenancy, else the data dir's bootstrap tenancy."""
    boot = load_bootstrap(settings.data_dir)
    owner = tenancy_id or (boot.tenancy_id if boot else None)
    if owner is None:
        raise click.ClickException("No --tenancy given and the data dir has no bootstrap tenancy.")
    return owner


def _server_file(data_dir: Path) -> Path:
    return DataLayout(data_dir).server_file


async def _with_db(settings: Settings, work: Any) -> Any:
    """Run `work(db)` on a migrated database; an unreachable database is a clear error, not a traceback."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    try:
        try:
            await db.migrate()
        except (OperationalError, OSError) as exc:
            reason = getattr(exc, "orig", None) or exc
            raise click.ClickException(f"Cannot open the database: {reason}") from exc
        return await work(db)
    finally:
        await db.dispose()
