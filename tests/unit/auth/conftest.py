"""Fixtures for auth tests: throwaway keys, a key resolver, and the official OCI signers."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from oci.auth.signers import SecurityTokenSigner
from oci.signer import Signer
from sqlalchemy import func, select

from nbplane.app import create_app
from nbplane.auth.authenticator import Authenticator, SignatureAuthenticator
from nbplane.auth.keys import generate_rsa_keypair
from nbplane.auth.resolver import ApiKey, KeyResolver
from nbplane.auth.session_tokens import SessionTokenIssuer
from nbplane.bootstrap import BootstrapInfo, session_signing_key
from nbplane.kernels.fake import FakeKernelBackend
from nbplane.services import Services
from nbplane.settings import Settings
from nbplane.store.tables import RetryTokenRow, SessionRow
from tests.signing import WireRequest, build

from ._helpers import NOW, TENANCY, USER, Keys


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(*(generate_rsa_keypair() for _ in range(4)))


@pytest.fixture
def issuer(keys: Keys) -> SessionTokenIssuer:
    return SessionTokenIssuer(keys.server.private_key)


@pytest.fixture
def resolver(keys: Keys, issuer: SessionTokenIssuer) -> KeyResolver:
    return KeyResolver([ApiKey(TENANCY, USER, keys.user.public_key)], session_tokens=issuer)


@pytest.fixture
def session_token(keys: Keys, issuer: SessionTokenIssuer) -> str:
    return issuer.issue(
        tenancy_id=TENANCY,
        user_id=USER,
        session_public_key_pem=keys.session.public_pem,
        ttl=3600,
        now=NOW - 60,
    )


@pytest.fixture
def api_key_signer(keys: Keys, tmp_path: Path) -> Signer:
    key_file = tmp_path / "user_key.pem"
    key_file.write_text(keys.user.private_pem)
    return Signer(TENANCY, USER, keys.user.fingerprint, private_key_file_location=str(key_file))


@pytest.fixture
def token_signer(keys: Keys, session_token: str) -> SecurityTokenSigner:
    return SecurityTokenSigner(session_token, keys.session.private_key)


# ---- a signed in-process server: the real app with signature verification on --------------------------------


@dataclass
class SignedApp:
    """The app with authentication on, its bootstrap user's signer and a clock tests can move."""

    client: httpx.AsyncClient
    services: Services
    kernels: FakeKernelBackend
    settings: Settings
    info: BootstrapInfo
    signer: Signer
    clock: MovableClock
    app: FastAPI

    def use_authenticator(self, authenticator: Authenticator) -> None:
        """Serve the next requests with another authenticator (the services themselves are immutable)."""
        self.services = dataclasses.replace(self.services, authenticator=authenticator)
        self.app.state.services = self.services

    @property
    def base(self) -> str:
        return (
            f"https://testserver/20260430/aiDataPlatforms/{self.info.instance_id}/workspaces/{self.info.workspace_key}"
        )

    @property
    def sessions_url(self) -> str:
        return f"{self.base}/notebook/api/sessions"

    async def send(self, wire: WireRequest) -> httpx.Response:
        return await self.client.send(build(self.client, wire))

    async def session_count(self) -> int:
        async with self.services.db.read() as db:
            return (await db.execute(select(func.count()).select_from(SessionRow))).scalar_one()

    async def retry_token_count(self) -> int:
        async with self.services.db.read() as db:
            return (await db.execute(select(func.count()).select_from(RetryTokenRow))).scalar_one()


class MovableClock:
    """The server's clock in these tests: real time, shifted by `offset`, or stopped by `freeze()`."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.frozen: float | None = None

    def freeze(self) -> float:
        """Stop the clock on a whole second and return it, so a date computed from it is exact on the wire
        (HTTP dates have no fractions) however long the request takes to arrive."""
        self.frozen = float(int(time.time()))
        return self.frozen

    def __call__(self) -> float:
        return (self.frozen if self.frozen is not None else time.time()) + self.offset


@pytest.fixture
async def signed_app(tmp_path: Path, database_url: str) -> AsyncIterator[SignedApp]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, max_body_bytes=64 * 1024, rate_limit_per_second=0
    )
    kernels = FakeKernelBackend()
    app = create_app(settings, kernel_backend=kernels)
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        clock = MovableClock()
        info: BootstrapInfo = app.state.bootstrap
        signer = Signer(info.tenancy_id, info.user_id, info.fingerprint, private_key_file_location=info.key_file)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            signed = SignedApp(client, services, kernels, settings, info, signer, clock, app)
            signed.use_authenticator(
                SignatureAuthenticator(
                    services.db, SessionTokenIssuer(session_signing_key(settings.data_dir)), clock=clock
                )
            )
            yield signed
