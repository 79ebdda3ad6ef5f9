"""First run of an empty data dir: a local tenancy, a user with an API key (registered, so signatures verify),
one instance with a `default` workspace, an OCI config file the official clients can use as is, and the
server's session-token signing key."""

from __future__ import annotations

import configparser
import io
import json
import os
import secrets
import string
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from nbplane.auth.keys import generate_rsa_keypair, load_private_key
from nbplane.files import write_private
from nbplane.layout import DataLayout
from nbplane.store import directory
from nbplane.store.db import Database
from nbplane.workspaces.models import DEFAULT_WORKSPACE_KEY
from nbplane.workspaces.provisioning import provision_instance

PROFILE = "DEFAULT"
REGION = "us-ashburn-1"


def new_ocid(kind: str) -> str:
    """An OCID-shaped id, e.g. `ocid1.aidataplatform.oc1..aaaa…` (never a valid JSON literal)."""
    alphabet = string.ascii_lowercase + string.digits
    return f"ocid1.{kind}.oc1..aaaa" + "".join(secrets.choice(alphabet) for _ in range(56))


@dataclass(frozen=True)
class BootstrapInfo:
    tenancy_id: str
    user_id: str
    fingerprint: str
    instance_id: str
    workspace_key: str
    key_file: str
    public_key_file: str
    oci_config: str
    profile: str


def write_oci_profile(config_path: Path, profile: str, values: dict[str, str]) -> None:
    """Add or replace one profile of an OCI config file, keeping the others; the file is mode 0600."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    if config_path.exists():
        parser.read(config_path)
    parser[profile] = values
    config_path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    parser.write(buffer)
    write_private(config_path, buffer.getvalue())


def session_signing_key(data_dir: Path) -> rsa.RSAPrivateKey:
    """The key the server signs session tokens with, made on first use (`<data-dir>/keys/`, mode 0600).

    Several servers sharing one PostgreSQL database must share this file too, or each only accepts its own
    session tokens. Creation is race-free: the first writer wins, everyone reads the same file.
    """
    keys = DataLayout(data_dir).keys
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = keys / "session_signing_key.pem"
    if not path.exists():
        staged = keys / f".session_signing_key.{os.getpid()}.{secrets.token_hex(4)}"
        write_private(staged, generate_rsa_keypair().private_pem)
        try:
            os.link(staged, path)
        except FileExistsError:
            pass
        finally:
            staged.unlink()
    return load_private_key(path.read_text())


def bootstrap_file(data_dir: Path) -> Path:
    return DataLayout(data_dir).bootstrap_file


def load_bootstrap(data_dir: Path) -> BootstrapInfo | None:
    path = bootstrap_file(data_dir)
    if not path.exists():
        return None
    return BootstrapInfo(**json.loads(path.read_text()))


async def ensure_bootstrap(data_dir: Path, db: Database) -> BootstrapInfo:
    """Create the first tenancy, user, key, instance and workspace once; afterwards make sure the
    database still has them (a new database behind an old data dir gets them again)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    info = load_bootstrap(data_dir)
    if info is None:
        keys = DataLayout(data_dir).keys
        keys.mkdir(mode=0o700, exist_ok=True)
        pair = generate_rsa_keypair()
        key_file = keys / "api_key.pem"
        public_file = keys / "api_key_public.pem"
        write_private(key_file, pair.private_pem)
        public_file.write_text(pair.public_pem)
        info = BootstrapInfo(
            tenancy_id=new_ocid("tenancy"),
            user_id=new_ocid("user"),
            fingerprint=pair.fingerprint,
            instance_id=new_ocid("aidataplatform"),
            workspace_key=DEFAULT_WORKSPACE_KEY,
            key_file=str(key_file),
            public_key_file=str(public_file),
            oci_config=str(DataLayout(data_dir).oci_config),
            profile=PROFILE,
        )
        write_oci_profile(
            Path(info.oci_config),
            PROFILE,
            {
                "user": info.user_id,
                "fingerprint": info.fingerprint,
                "tenancy": info.tenancy_id,
                "region": REGION,
                "key_file": info.key_file,
            },
        )
        bootstrap_file(data_dir).write_text(json.dumps(asdict(info), indent=2))
    await _ensure_rows(db, info)
    return info


async def _ensure_rows(db: Database, info: BootstrapInfo) -> None:
    public_pem = Path(info.public_key_file).read_text()
    async with db.write() as session:
        if await directory.get_instance(session, info.instance_id) is not None:
            return
        directory.add_tenancy(session, info.tenancy_id, "local")
        await session.flush()
        directory.add_user(session, info.user_id, info.tenancy_id, "local-admin")
        await session.flush()
        directory.add_api_key(session, info.user_id, info.fingerprint, public_pem)
        await provision_instance(
            session, info.instance_id, info.tenancy_id, "local", administrators=[info.user_id], actor="bootstrap"
        )
