"""Admin and `auth session` commands: users, keys, tokens and session profiles in the database and data dir."""

from __future__ import annotations

import asyncio
import configparser
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nbplane.auth import api_tokens
from nbplane.auth.keys import generate_rsa_keypair
from nbplane.auth.session_tokens import SessionTokenIssuer
from nbplane.bootstrap import ensure_bootstrap, session_signing_key
from nbplane.cli import main
from nbplane.store import credentials
from nbplane.store.db import Database


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"

    async def boot() -> None:
        db = Database(f"sqlite+aiosqlite:///{data / 'nbplane.db'}")
        data.mkdir()
        await db.migrate()
        await ensure_bootstrap(data, db)
        await db.dispose()

    asyncio.run(boot())
    return data


def _db_query(data_dir: Path, work):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        db = Database(f"sqlite+aiosqlite:///{data_dir / 'nbplane.db'}")
        try:
            async with db.write() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_tenancy_user_and_keys(data_dir: Path, tmp_path: Path) -> None:
    d = ["--data-dir", str(data_dir)]
    tenancy = run("admin", "create-tenancy", "--name", "b", *d).output.strip()
    assert tenancy.startswith("ocid1.tenancy.")
    user = run("admin", "create-user", "--tenancy", tenancy, *d).output.strip()
    assert user.startswith("ocid1.user.")
    assert run("admin", "create-user", "--tenancy", "ocid1.tenancy.oc1..nope", *d).exit_code != 0

    pair = generate_rsa_keypair()
    public = tmp_path / "pub.pem"
    public.write_text(pair.public_pem)
    added = run("admin", "add-key", "--user", user, "--public-key", str(public), *d)
    assert added.exit_code == 0 and added.output.strip() == pair.fingerprint
    assert run("admin", "add-key", "--user", user, "--public-key", str(public), *d).exit_code != 0
    pem = _db_query(data_dir, lambda s: credentials.find_api_key_pem(s, tenancy, user, pair.fingerprint.upper()))
    assert pem is not None and "PUBLIC KEY" in pem
    assert (
        _db_query(data_dir, lambda s: credentials.find_api_key_pem(s, "ocid1.tenancy.x", user, pair.fingerprint))
        is None
    )

    not_a_key = tmp_path / "junk.pem"
    not_a_key.write_text(pair.private_pem)
    rejected = run("admin", "add-key", "--user", user, "--public-key", str(not_a_key), *d)
    assert rejected.exit_code == 2
    assert "PRIVATE" not in rejected.output and pair.private_pem[40:80] not in rejected.output

    assert run("admin", "remove-key", "--user", user, "--fingerprint", pair.fingerprint, *d).exit_code == 0
    assert run("admin", "remove-key", "--user", user, "--fingerprint", pair.fingerprint, *d).exit_code != 0


def test_tokens_are_shown_once_and_stored_hashed(data_dir: Path) -> None:
    d = ["--data-dir", str(data_dir)]
    listed = run("admin", "list", *d).output.split()
    instance = listed[0]
    created = run("admin", "create-token", "--instance", instance, "--workspace", "default", "--ttl", "600", *d)
    assert created.exit_code == 0
    token = created.output.strip().splitlines()[-1]
    token_id = api_tokens.token_id_of(token)
    assert token_id is not None
    row, _tenancy = _db_query(data_dir, lambda s: credentials.find_api_token(s, token_id))
    assert row.token_hash == api_tokens.hash_token(token) and token not in repr(row)
    assert row.expires_at is not None and row.revoked_at is None
    assert token not in run("admin", "list-tokens", *d).output
    assert run("admin", "create-token", "--instance", instance, "--workspace", "nope", *d).exit_code != 0

    assert run("admin", "revoke-token", token_id, *d).exit_code == 0
    assert run("admin", "revoke-token", token, *d).exit_code == 0  # idempotent; the whole token works too
    assert _db_query(data_dir, lambda s: credentials.find_api_token(s, token_id))[0].revoked_at is not None
    assert run("admin", "revoke-token", "0123456789abcdef", *d).exit_code != 0


def test_token_user_must_belong_to_the_instances_tenancy(data_dir: Path) -> None:
    d = ["--data-dir", str(data_dir)]
    instance = run("admin", "list", *d).output.split()[0]
    tenancy = run("admin", "create-tenancy", *d).output.strip()
    outsider = run("admin", "create-user", "--tenancy", tenancy, *d).output.strip()
    result = run("admin", "create-token", "--instance", instance, "--workspace", "default", "--user", outsider, *d)
    assert result.exit_code != 0


def test_auth_session_writes_a_security_token_profile(data_dir: Path) -> None:
    result = run("auth", "session", "--profile", "SESS", "--ttl", "900", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    config = configparser.ConfigParser(interpolation=None)
    config.read(data_dir / "oci" / "config")
    assert {"DEFAULT", "SESS"} <= {*config.sections(), "DEFAULT"}
    profile = config["SESS"]
    token_file, key_file = Path(profile["security_token_file"]), Path(profile["key_file"])
    for path in (token_file, key_file, data_dir / "oci" / "config"):
        assert path.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text()
    assert token not in result.output
    claims = SessionTokenIssuer(session_signing_key(data_dir)).verify(token, time.time())
    assert claims.user_id == profile["user"] and claims.tenancy_id == profile["tenancy"]
    assert 890 <= claims.expires_at - claims.issued_at <= 900
    # The api_key profile the bootstrap wrote is still there.
    assert config["DEFAULT"]["key_file"].endswith("api_key.pem")
