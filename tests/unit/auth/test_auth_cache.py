"""The auth cache: warm entries serve requests without a lookup, and a removed key or a revoked token stops
working on the next request, in the server that changed it and in another server on the same database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from nbplane.app import create_app
from nbplane.auth import api_tokens
from nbplane.auth.cache import AuthCache
from nbplane.kernels.fake import FakeKernelBackend
from nbplane.services import Services
from nbplane.store import credentials
from tests.signing import build, sign

from .conftest import SignedApp


async def _add_token(app: SignedApp) -> api_tokens.NewApiToken:
    minted = api_tokens.new_token()
    async with app.services.db.write() as db:
        credentials.add_api_token(
            db,
            token_id=minted.token_id,
            token_hash=minted.token_hash,
            user_id=app.info.user_id,
            instance_id=app.info.instance_id,
            workspace_key=app.info.workspace_key,
            created_by="test",
            expires_at=None,
        )
    return minted


def _cache(services: Services) -> AuthCache:
    cache = services.authenticator.cache
    assert cache is not None
    return cache


@pytest.fixture
async def second_server(signed_app: SignedApp) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """Another server process's worth of services (own engines, own cache) on the same database."""
    app: FastAPI = create_app(signed_app.settings, kernel_backend=FakeKernelBackend())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            yield client, app.state.services


async def _signed_get(app: SignedApp, client: httpx.AsyncClient | None = None) -> httpx.Response:
    target = client or app.client
    return await target.send(build(target, sign(app.signer, "GET", app.sessions_url)))


async def test_a_warm_cache_serves_and_a_removed_key_is_refused_at_once(signed_app: SignedApp) -> None:
    for _ in range(3):
        assert (await _signed_get(signed_app)).status_code == 200
    cache = _cache(signed_app.services)
    assert len(cache) >= 2  # the key and the workspace access are cached
    before = cache.generation
    async with signed_app.services.db.write() as db:
        assert await credentials.remove_api_key(db, signed_app.info.user_id, signed_app.info.fingerprint)
    response = await _signed_get(signed_app)
    assert response.status_code == 401
    assert response.json()["message"] == "unknown keyId"
    assert cache.generation > before


async def test_a_revoked_token_is_refused_at_once(signed_app: SignedApp) -> None:
    minted = await _add_token(signed_app)
    headers = {"authorization": f"token {minted.plaintext}"}
    for _ in range(3):
        assert (await signed_app.client.get(signed_app.sessions_url, headers=headers)).status_code == 200
    assert len(_cache(signed_app.services)) >= 2
    async with signed_app.services.db.write() as db:
        assert await credentials.revoke_api_token(db, minted.token_id, datetime.now(UTC))
    response = await signed_app.client.get(signed_app.sessions_url, headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["message"]


async def test_a_key_removed_by_one_server_is_refused_by_another(
    signed_app: SignedApp, second_server: tuple[httpx.AsyncClient, Services]
) -> None:
    client, services = second_server
    for _ in range(2):
        assert (await _signed_get(signed_app, client)).status_code == 200
    assert len(_cache(services)) >= 2
    async with signed_app.services.db.write() as db:  # the first server's database handle
        assert await credentials.remove_api_key(db, signed_app.info.user_id, signed_app.info.fingerprint)
    assert (await _signed_get(signed_app, client)).status_code == 401
    assert (await _signed_get(signed_app)).status_code == 401


async def test_a_token_revoked_by_one_server_is_refused_by_another(
    signed_app: SignedApp, second_server: tuple[httpx.AsyncClient, Services]
) -> None:
    client, services = second_server
    minted = await _add_token(signed_app)
    headers = {"authorization": f"token {minted.plaintext}"}
    for _ in range(2):
        assert (await client.get(signed_app.sessions_url, headers=headers)).status_code == 200
        assert (await signed_app.client.get(signed_app.sessions_url, headers=headers)).status_code == 200
    async with services.db.write() as db:  # revoked through the second server's handle
        assert await credentials.revoke_api_token(db, minted.token_id, datetime.now(UTC))
    assert (await signed_app.client.get(signed_app.sessions_url, headers=headers)).status_code == 401
    assert (await client.get(signed_app.sessions_url, headers=headers)).status_code == 401


async def test_an_entry_read_before_a_change_is_not_kept(signed_app: SignedApp) -> None:
    """A lookup whose generation is older than the cache's (a change landed meanwhile) is answered but not
    stored, so it cannot outlive the change."""
    cache = AuthCache(signed_app.services.db)
    await cache.refresh()
    start = cache.generation
    cache._observe(start + 1)  # another request saw a newer generation first

    async def load(_conn: object) -> str:
        return "stale"

    assert await cache.lookup("token", "x", load) == "stale"
    assert len(cache) == 0
