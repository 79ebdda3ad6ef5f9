"""First-run bootstrap: OCI config usable by the SDK, keys private, idempotent, and a trusted TLS chain."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import oci

from nbplane.auth.keys import fingerprint
from nbplane.bootstrap import ensure_bootstrap
from nbplane.store import workspaces_repo
from nbplane.store.db import Database
from nbplane.tls import ensure_tls


async def test_bootstrap_is_idempotent_and_sdk_ready(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await db.migrate()
    try:
        first = await ensure_bootstrap(tmp_path / "data", db)
        second = await ensure_bootstrap(tmp_path / "data", db)
        assert first == second
        config = oci.config.from_file(first.oci_config, "DEFAULT")
        oci.config.validate_config(config)
        assert config["fingerprint"] == fingerprint(Path(first.public_key_file).read_text())
        for secret in (first.oci_config, first.key_file):
            assert stat.S_IMODE(Path(secret).stat().st_mode) == 0o600
        assert first.instance_id.startswith("ocid1.aidataplatform.")
        async with db.read() as session:
            assert await workspaces_repo.get(session, first.instance_id, "default") is not None
    finally:
        await db.dispose()


def test_tls_chain_verifies_for_localhost(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path)
    assert ensure_tls(tmp_path) == files
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.cert, files.key)
    client = ssl.create_default_context(cafile=str(files.ca_cert))
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(incoming, outgoing, server_hostname="localhost")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (c, s):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        s_in.write(outgoing.read())
        incoming.write(s_out.read())
    assert c.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")
