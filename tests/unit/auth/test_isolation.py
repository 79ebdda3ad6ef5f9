"""Tenant isolation through the real app: another tenancy's resources look exactly like missing ones."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from oci.signer import Signer

from nbplane.auth.keys import generate_rsa_keypair
from nbplane.bootstrap import new_ocid
from nbplane.store import directory
from nbplane.workspaces.provisioning import provision_instance, provision_workspace
from tests.signing import sign

from .conftest import SignedApp


@dataclass
class Tenant:
    signer: Signer
    instance_id: str
    session_id: str

    def url(self, instance_id: str | None = None, workspace: str = "default") -> str:
        instance = instance_id or self.instance_id
        return f"https://testserver/20260430/aiDataPlatforms/{instance}/workspaces/{workspace}/notebook/api/sessions"


async def _second_tenancy(app: SignedApp, tmp_path: Path) -> Signer:
    tenancy_id, user_id, instance_id = new_ocid("tenancy"), new_ocid("user"), new_ocid("aidataplatform")
    pair = generate_rsa_keypair()
    async with app.services.db.write() as db:
        directory.add_tenancy(db, tenancy_id, "b")
        await db.flush()
        directory.add_user(db, user_id, tenancy_id, "b-user")
        await db.flush()
        directory.add_api_key(db, user_id, pair.fingerprint, pair.public_pem)
        await provision_instance(db, instance_id, tenancy_id, "b-instance")
    key_file = tmp_path / "b.pem"
    key_file.write_text(pair.private_pem)
    signer = Signer(tenancy_id, user_id, pair.fingerprint, private_key_file_location=str(key_file))
    signer.instance_id = instance_id  # type: ignore[attr-defined]
    return signer


async def _call(app: SignedApp, signer: Signer, method: str, url: str, body: object | None = None) -> httpx.Response:
    return await app.send(sign(signer, method, url, json.dumps(body) if body is not None else None))


def _ops(sessions_url: str, session_id: str) -> list[tuple[str, str, object | None]]:
    return [
        ("GET", sessions_url, None),
        ("POST", sessions_url, {"path": "intruder.ipynb"}),
        ("GET", f"{sessions_url}/{session_id}", None),
        ("PATCH", f"{sessions_url}/{session_id}", {"name": "pwned"}),
        ("DELETE", f"{sessions_url}/{session_id}", None),
    ]


@pytest.fixture
async def tenants(signed_app: SignedApp, tmp_path: Path) -> tuple[Tenant, Tenant]:
    b_signer = await _second_tenancy(signed_app, tmp_path)
    a = Tenant(signed_app.signer, signed_app.info.instance_id, "")
    b = Tenant(b_signer, b_signer.instance_id, "")  # type: ignore[attr-defined]
    for tenant in (a, b):
        created = await _call(signed_app, tenant.signer, "POST", tenant.url(), {"path": "mine.ipynb"})
        assert created.status_code == 201, created.text
        tenant.session_id = created.json()["id"]
    return a, b


async def test_other_tenancys_instance_is_indistinguishable_from_a_missing_one(
    signed_app: SignedApp, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    missing_instance = new_ocid("aidataplatform")
    for (method, url, body), (_, missing_url, _) in zip(
        _ops(a.url(b.instance_id), b.session_id), _ops(a.url(missing_instance), b.session_id), strict=True
    ):
        theirs = await _call(signed_app, a.signer, method, url, body)
        nothing = await _call(signed_app, a.signer, method, missing_url, body)
        assert theirs.status_code == nothing.status_code == 404, (method, url)
        assert theirs.json() == json.loads(json.dumps(nothing.json()).replace(missing_instance, b.instance_id))
    # B's session is untouched and B still sees it.
    got = await _call(signed_app, b.signer, "GET", f"{b.url()}/{b.session_id}")
    assert got.status_code == 200
    assert got.json()["name"] != "pwned"
    listed = await _call(signed_app, b.signer, "GET", b.url())
    assert [s["path"] for s in listed.json()["items"]] == ["mine.ipynb"]


async def test_other_tenancys_session_id_in_own_workspace_is_not_found(
    signed_app: SignedApp, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    missing = "6b1f3c1e-0000-4000-8000-000000000000"
    for (method, url, body), (_, missing_url, _) in zip(
        _ops(a.url(), b.session_id)[2:], _ops(a.url(), missing)[2:], strict=True
    ):
        theirs = await _call(signed_app, a.signer, method, url, body)
        nothing = await _call(signed_app, a.signer, method, missing_url, body)
        assert theirs.status_code == nothing.status_code == 404, (method, url)
        assert theirs.json() == json.loads(json.dumps(nothing.json()).replace(missing, b.session_id))
    assert (await _call(signed_app, b.signer, "GET", f"{b.url()}/{b.session_id}")).status_code == 200


async def test_other_tenancys_workspace_key_is_not_found(signed_app: SignedApp, tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    async with signed_app.services.db.write() as db:
        await provision_workspace(db, b.instance_id, "analytics", "Analytics")
    theirs = await _call(signed_app, a.signer, "GET", a.url(b.instance_id, "analytics"))
    nothing = await _call(signed_app, a.signer, "GET", a.url(b.instance_id, "nothing"))
    assert theirs.status_code == nothing.status_code == 404
    assert theirs.json() == json.loads(json.dumps(nothing.json()).replace("nothing", "analytics"))
