"""Rate limiting through the real app: per principal, 429 TooManyRequests with Retry-After, and off when 0."""

from __future__ import annotations

from click.testing import CliRunner

from nbplane.auth.authenticator import OpenAuthenticator, RateLimitedAuthenticator, SignatureAuthenticator
from nbplane.auth.ratelimit import TokenBucketLimiter
from nbplane.cli import main
from nbplane.services import build_authenticator
from nbplane.settings import Settings
from tests.signing import sign

from .conftest import SignedApp


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_burst_over_the_limit_is_429_with_retry_after(signed_app: SignedApp) -> None:
    clock = FrozenClock()
    signed_app.use_authenticator(
        RateLimitedAuthenticator(signed_app.services.authenticator, TokenBucketLimiter(1.0, 2, clock=clock))
    )
    statuses = [(await signed_app.send(sign(signed_app.signer, "GET", signed_app.sessions_url))) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    limited = statuses[-1]
    assert limited.json()["code"] == "TooManyRequests"
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["opc-request-id"]

    # Unauthenticated requests are refused before they cost the user anything.
    assert (await signed_app.client.get(signed_app.sessions_url)).status_code == 401
    clock.now += 1.0
    assert (await signed_app.send(sign(signed_app.signer, "GET", signed_app.sessions_url))).status_code == 200


def test_settings_choose_the_authenticator(tmp_path: object) -> None:
    from pathlib import Path

    data = Path(str(tmp_path))
    from nbplane.store.db import Database

    db = Database(f"sqlite+aiosqlite:///{data / 'x.db'}")
    default = build_authenticator(Settings(data_dir=data), db)
    assert isinstance(default, RateLimitedAuthenticator)
    assert isinstance(default._inner, SignatureAuthenticator)
    assert (data / "keys" / "session_signing_key.pem").stat().st_mode & 0o777 == 0o600
    assert isinstance(build_authenticator(Settings(data_dir=data, rate_limit_per_second=0), db), SignatureAuthenticator)
    open_ = build_authenticator(Settings(data_dir=data, insecure_no_auth=True, rate_limit_per_second=0), db)
    assert isinstance(open_, OpenAuthenticator)


def test_serve_refuses_no_auth_off_loopback(tmp_path: object) -> None:
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--insecure-no-auth", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "loopback" in result.output
