"""`nbplane admin …` and `nbplane auth …`: tenancies, users, keys, tokens, instances, workspaces, sessions."""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from nbplane.auth import api_tokens
from nbplane.auth.keys import fingerprint, generate_rsa_keypair
from nbplane.auth.session_tokens import SessionTokenIssuer
from nbplane.bootstrap import (
    REGION,
    load_bootstrap,
    new_ocid,
    session_signing_key,
    write_oci_profile,
)
from nbplane.cli._common import (
    DATA_DIR,
    DATABASE_URL,
    _settings,
    _tenancy_or_bootstrap,
    _with_db,
)
from nbplane.errors import InvalidInputError, NbplaneError
from nbplane.files import write_private
from nbplane.layout import DataLayout
from nbplane.scope import Scope
from nbplane.settings import Settings
from nbplane.store import credentials, directory, kernels_repo, nodes_repo, workspaces_repo
from nbplane.store.db import Database
from nbplane.workspaces import DEFAULT_WORKSPACE_KEY, Permission, WorkspaceService, check_key
from nbplane.workspaces.provisioning import provision_instance


@click.group()
def admin() -> None:
    """Manage tenancies, users, keys, tokens, instances and workspaces directly in the database."""


@admin.command("create-instance")
@DATA_DIR
@DATABASE_URL
@click.option("--name", default="instance", help="Display name.")
@click.option("--tenancy", "tenancy_id", default=None, help="Owning tenancy OCID (default: the bootstrap one).")
def create_instance(data_dir: Path | None, database_url: str | None, name: str, tenancy_id: str | None) -> None:
    """Create an AI Data Platform instance (with a `default` workspace) and print its OCID.

    The tenancy's current users become ADMINISTRATORs of the `default` workspace.
    """
    settings = _settings(data_dir, database_url)
    owner = _tenancy_or_bootstrap(settings, tenancy_id)
    instance_id = new_ocid("aidataplatform")

    async def work(db: Database) -> None:
        async with db.write() as session:
            if await directory.get_tenancy(session, owner) is None:
                directory.add_tenancy(session, owner, "tenancy")
                await session.flush()
            await provision_instance(session, instance_id, owner, name, actor=_admin_actor())
        DataLayout(settings.data_dir).workspace_dir(Scope(instance_id, DEFAULT_WORKSPACE_KEY)).mkdir(
            parents=True, exist_ok=True
        )

    asyncio.run(_with_db(settings, work))
    click.echo(instance_id)


def _workspaces(settings: Settings, db: Database) -> WorkspaceService:
    """The workspace service for operator commands (no runtime here: nothing to tear down)."""

    async def no_runtime(scope: Scope) -> None:
        return None

    return WorkspaceService(db, DataLayout(settings.data_dir), no_runtime)


@admin.command("create-workspace")
@DATA_DIR
@DATABASE_URL
@click.option("--instance", "instance_id", required=True, help="Instance OCID.")
@click.option("--key", required=True, help="Workspace key (letters, digits, - and _; not a JSON literal).")
@click.option("--name", default=None, help="Display name.")
@click.option(
    "--admin",
    "admins",
    multiple=True,
    help="User OCID to make ADMINISTRATOR (repeatable; default: every current user of the tenancy).",
)
def create_workspace(
    data_dir: Path | None,
    database_url: str | None,
    instance_id: str,
    key: str,
    name: str | None,
    admins: tuple[str, ...],
) -> None:
    """Create a workspace in an instance."""
    try:
        check_key(key)
    except InvalidInputError as exc:
        raise click.BadParameter(exc.message, param_hint="--key") from None
    settings = _settings(data_dir, database_url)

    async def work(db: Database) -> None:
        await _workspaces(settings, db).provision(
            instance_id, key, name, administrators=list(admins) or None, actor=_admin_actor()
        )

    _run_domain(settings, work)
    click.echo(key)


@admin.command("grant")
@DATA_DIR
@DATABASE_URL
@click.option("--instance", "instance_id", required=True, help="Instance OCID.")
@click.option("--workspace", "workspace_key", required=True, help="Workspace key.")
@click.option("--user", "user_id", required=True, help="User OCID (of the instance's tenancy).")
@click.option(
    "--permission",
    type=click.Choice([p.value for p in Permission]),
    default=Permission.USER.value,
    show_default=True,
    help="ADMINISTRATOR may also update and delete the workspace and manage its permissions.",
)
def grant(
    data_dir: Path | None, database_url: str | None, instance_id: str, workspace_key: str, user_id: str, permission: str
) -> None:
    """Let a user of the tenancy use a workspace."""
    settings = _settings(data_dir, database_url)

    async def work(db: Database) -> None:
        await _workspaces(settings, db).grant(instance_id, workspace_key, user_id, Permission(permission))

    _run_domain(settings, work)
    click.echo(f"granted {permission} on {workspace_key} to {user_id}")


@admin.command("revoke")
@DATA_DIR
@DATABASE_URL
@click.option("--instance", "instance_id", required=True, help="Instance OCID.")
@click.option("--workspace", "workspace_key", required=True, help="Workspace key.")
@click.option("--user", "user_id", required=True, help="User OCID.")
def revoke(data_dir: Path | None, database_url: str | None, instance_id: str, workspace_key: str, user_id: str) -> None:
    """Take every permission on a workspace away from a user."""
    settings = _settings(data_dir, database_url)

    async def work(db: Database) -> None:
        await _workspaces(settings, db).revoke(instance_id, workspace_key, user_id, list(Permission))

    _run_domain(settings, work)
    click.echo(f"revoked {workspace_key} from {user_id}")


def _run_domain(settings: Settings, work: Any) -> None:
    """Run `work(db)`; a domain error is the command's error message."""
    try:
        asyncio.run(_with_db(settings, work))
    except NbplaneError as exc:
        raise click.ClickException(exc.message) from None


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
                keys = [w.key for w in await workspaces_repo.list_for_instance(session, instance.id)]
                rows.append((instance.id, instance.tenancy_id, keys))
            return rows

    for instance_id, tenancy_id, keys in asyncio.run(_with_db(settings, work)):
        click.echo(f"{instance_id}  tenancy={tenancy_id}  workspaces={','.join(keys)}")


@admin.command("list-nodes")
@DATA_DIR
@DATABASE_URL
def list_nodes(data_dir: Path | None, database_url: str | None) -> None:
    """List the servers sharing the database: address, lease, and the kernels each is recorded as running."""
    settings = _settings(data_dir, database_url)

    async def work(db: Database) -> list[str]:
        async with db.read() as session:
            nodes = await nodes_repo.list_all(session)
            running = await kernels_repo.running_count_by_node(session)
        now = datetime.now(UTC)
        return [
            f"{n.id}  address={n.address or '-'}  started={n.started.isoformat(timespec='seconds')}"
            f"  lease={'live' if n.lease_expires >= now else 'ran out'}"
            f" until {n.lease_expires.isoformat(timespec='seconds')}"
            f"  running_kernels={running.get(n.id, 0)}"
            for n in nodes
        ]

    for line in asyncio.run(_with_db(settings, work)):
        click.echo(line)


def _admin_actor() -> str:
    """`created_by` for rows made by admin commands (there is no signed caller)."""
    try:
        return f"admin:{getpass.getuser()}"
    except (KeyError, OSError):
        return "admin"


@admin.command("create-tenancy")
@DATA_DIR
@DATABASE_URL
@click.option("--name", default="tenancy", help="Display name.")
@click.option("--id", "tenancy_id", default=None, help="Tenancy OCID (default: a new one).")
def create_tenancy(data_dir: Path | None, database_url: str | None, name: str, tenancy_id: str | None) -> None:
    """Create a tenancy and print its OCID."""
    settings = _settings(data_dir, database_url)
    new_id = tenancy_id or new_ocid("tenancy")

    async def work(db: Database) -> None:
        async with db.write() as session:
            if await directory.get_tenancy(session, new_id) is not None:
                raise click.ClickException(f"Tenancy {new_id} already exists.")
            directory.add_tenancy(session, new_id, name)

    asyncio.run(_with_db(settings, work))
    click.echo(new_id)


@admin.command("create-user")
@DATA_DIR
@DATABASE_URL
@click.option("--tenancy", "tenancy_id", default=None, help="Tenancy OCID (default: the bootstrap one).")
@click.option("--name", default="user", help="Display name.")
def create_user(data_dir: Path | None, database_url: str | None, tenancy_id: str | None, name: str) -> None:
    """Create a user in a tenancy and print its OCID."""
    settings = _settings(data_dir, database_url)
    owner = _tenancy_or_bootstrap(settings, tenancy_id)
    user_id = new_ocid("user")

    async def work(db: Database) -> None:
        async with db.write() as session:
            if await directory.get_tenancy(session, owner) is None:
                raise click.ClickException(f"No tenancy {owner}.")
            directory.add_user(session, user_id, owner, name)

    asyncio.run(_with_db(settings, work))
    click.echo(user_id)


@admin.command("add-key")
@DATA_DIR
@DATABASE_URL
@click.option("--user", "user_id", required=True, help="User OCID.")
@click.option(
    "--public-key", "public_key", required=True, type=click.File("r"), help="PEM public key file (- = stdin)."
)
def add_key(data_dir: Path | None, database_url: str | None, user_id: str, public_key: Any) -> None:
    """Register an RSA public key (>= 2048 bits) for a user and print its OCI fingerprint."""

    pem = public_key.read()
    try:
        print_ = fingerprint(pem)
    except InvalidInputError as exc:
        raise click.BadParameter(exc.message, param_hint="--public-key") from None
    settings = _settings(data_dir, database_url)

    async def work(db: Database) -> None:
        async with db.write() as session:
            if await credentials.get_user(session, user_id) is None:
                raise click.ClickException(f"No user {user_id}.")
            if any(k.fingerprint == print_ for k in await credentials.list_api_keys(session, user_id)):
                raise click.ClickException(f"User {user_id} already has key {print_}.")
            directory.add_api_key(session, user_id, print_, pem.strip() + "\n")

    asyncio.run(_with_db(settings, work))
    click.echo(print_)


@admin.command("remove-key")
@DATA_DIR
@DATABASE_URL
@click.option("--user", "user_id", required=True, help="User OCID.")
@click.option("--fingerprint", "print_", required=True, help="The key's fingerprint (aa:bb:…).")
def remove_key(data_dir: Path | None, database_url: str | None, user_id: str, print_: str) -> None:
    """Remove a user's API key; requests signed with it fail from then on."""
    settings = _settings(data_dir, database_url)

    async def work(db: Database) -> bool:
        async with db.write() as session:
            return await credentials.remove_api_key(session, user_id, print_)

    if not asyncio.run(_with_db(settings, work)):
        raise click.ClickException(f"User {user_id} has no key {print_}.")
    click.echo(f"removed {print_}")


@admin.command("create-token")
@DATA_DIR
@DATABASE_URL
@click.option("--instance", "instance_id", required=True, help="Instance OCID.")
@click.option("--workspace", "workspace_key", required=True, help="Workspace key the token is limited to.")
@click.option("--user", "user_id", default=None, help="User the token acts for (default: the bootstrap user).")
@click.option("--ttl", type=click.IntRange(min=1), default=None, help="Lifetime in seconds (default: no expiry).")
@click.option("--name", default=None, help="A label to recognise the token by.")
def create_token(
    data_dir: Path | None,
    database_url: str | None,
    instance_id: str,
    workspace_key: str,
    user_id: str | None,
    ttl: int | None,
    name: str | None,
) -> None:
    """Create a workspace API token and print it; it is shown only this once (only its hash is kept).

    Use it as `Authorization: token <t>` or `Authorization: Bearer <t>`.
    """

    settings = _settings(data_dir, database_url)
    boot = load_bootstrap(settings.data_dir)
    acting = user_id or (boot.user_id if boot else None)
    if acting is None:
        raise click.ClickException("No --user given and the data dir has no bootstrap user.")
    minted = api_tokens.new_token()
    expires = datetime.now(UTC) + timedelta(seconds=ttl) if ttl else None

    async def work(db: Database) -> None:
        async with db.write() as session:
            instance = await directory.get_instance(session, instance_id)
            if instance is None or await workspaces_repo.get(session, instance_id, workspace_key) is None:
                raise click.ClickException(f"No workspace {workspace_key} in instance {instance_id}.")
            user = await credentials.get_user(session, acting)
            if user is None or user.tenancy_id != instance.tenancy_id:
                raise click.ClickException(f"User {acting} does not exist in the instance's tenancy.")
            if not await workspaces_repo.permissions_of(session, instance_id, workspace_key, acting):
                raise click.ClickException(
                    f"User {acting} has no permission on workspace {workspace_key}; "
                    "grant one first (nbplane admin grant), or the token would reach nothing."
                )
            credentials.add_api_token(
                session,
                token_id=minted.token_id,
                token_hash=minted.token_hash,
                user_id=acting,
                instance_id=instance_id,
                workspace_key=workspace_key,
                created_by=_admin_actor(),
                expires_at=expires,
                name=name,
            )

    asyncio.run(_with_db(settings, work))
    click.echo(f"token id: {minted.token_id}", err=True)
    click.echo(minted.plaintext)


@admin.command("revoke-token")
@DATA_DIR
@DATABASE_URL
@click.argument("token_id")
def revoke_token(data_dir: Path | None, database_url: str | None, token_id: str) -> None:
    """Revoke an API token by its id (the 16 hex characters after `nbp_`, or the whole token)."""

    settings = _settings(data_dir, database_url)
    lookup = api_tokens.token_id_of(token_id) or token_id

    async def work(db: Database) -> bool:
        async with db.write() as session:
            return await credentials.revoke_api_token(session, lookup, datetime.now(UTC))

    if not asyncio.run(_with_db(settings, work)):
        raise click.ClickException(f"No API token {lookup}.")
    click.echo(f"revoked {lookup}")


@admin.command("list-tokens")
@DATA_DIR
@DATABASE_URL
def list_tokens(data_dir: Path | None, database_url: str | None) -> None:
    """List API tokens (ids and scopes; the tokens themselves are not stored)."""
    settings = _settings(data_dir, database_url)

    async def work(db: Database) -> list[str]:
        async with db.read() as session:
            return [
                f"{t.id}  {t.instance_id}/{t.workspace_key}  user={t.user_id}"
                f"  expires={t.expires_at.isoformat() if t.expires_at else '-'}"
                f"  revoked={t.revoked_at.isoformat() if t.revoked_at else '-'}"
                for t in await credentials.list_api_tokens(session)
            ]

    for line in asyncio.run(_with_db(settings, work)):
        click.echo(line)


@click.group()
def auth() -> None:
    """Credentials for the official clients."""


@auth.command("session")
@DATA_DIR
@DATABASE_URL
@click.option("--profile", default="SESSION", show_default=True, help="OCI config profile to write.")
@click.option("--user", "user_id", default=None, help="User OCID (default: the bootstrap user).")
@click.option("--ttl", type=click.IntRange(60, 24 * 3600), default=3600, show_default=True, help="Seconds.")
def auth_session(data_dir: Path | None, database_url: str | None, profile: str, user_id: str | None, ttl: int) -> None:
    """Issue a session token bound to a new session key, and write both plus a profile to the OCI config.

    The profile works with `aidp --auth security_token` (the CLI's default auth mode).
    """

    settings = _settings(data_dir, database_url)
    boot = load_bootstrap(settings.data_dir)
    acting = user_id or (boot.user_id if boot else None)
    if acting is None:
        raise click.ClickException("No --user given and the data dir has no bootstrap user; run `nbplane serve` once.")
    if not profile or any(c in profile for c in "[]\n/\\") or profile.startswith("."):
        raise click.BadParameter("not a usable profile name", param_hint="--profile")

    async def work(db: Database) -> str:
        async with db.read() as session:
            user = await credentials.get_user(session, acting)
        if user is None:
            raise click.ClickException(f"No user {acting}.")
        return user.tenancy_id

    tenancy_id = asyncio.run(_with_db(settings, work))
    pair = generate_rsa_keypair()
    token = SessionTokenIssuer(session_signing_key(settings.data_dir)).issue(
        tenancy_id=tenancy_id, user_id=acting, session_public_key_pem=pair.public_pem, ttl=ttl
    )
    oci_dir = DataLayout(settings.data_dir).oci_dir
    session_dir = oci_dir / "sessions" / profile
    session_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    token_file, key_file = session_dir / "token", session_dir / "oci_api_key.pem"
    write_private(key_file, pair.private_pem)
    write_private(token_file, token)
    config = oci_dir / "config"
    write_oci_profile(
        config,
        profile,
        {
            "user": acting,
            "fingerprint": pair.fingerprint,
            "tenancy": tenancy_id,
            "region": REGION,
            "key_file": str(key_file),
            "security_token_file": str(token_file),
        },
    )
    click.echo(f"Wrote profile [{profile}] to {config} (session valid for {ttl} s).")
    click.echo(f"  aidp --config-file {config} --profile {profile} --auth security_token --endpoint ENDPOINT ...")
