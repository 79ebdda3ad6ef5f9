"""Kernel quotas: global, per workspace and per user, checked atomically on every start (concurrent starts
cannot overshoot), on SQLite and PostgreSQL; over a limit is 400 `QuotaExceeded`, which the SDK does not retry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from oci.exceptions import ServiceError
from oci.retry import DEFAULT_RETRY_STRATEGY
from sqlalchemy import func, select

from nbplane.app import create_app
from nbplane.bootstrap import ensure_bootstrap
from nbplane.errors import BackendError, QuotaExceededError
from nbplane.kernels.fake import FakeKernelBackend
from nbplane.kernels.quota import KernelAdmissions, KernelQuota
from nbplane.kernels.service import KernelService
from nbplane.scope import Scope
from nbplane.settings import Settings
from nbplane.store.db import Database
from nbplane.store.tables import KernelAdmissionRow


@dataclass
class Kernels:
    db: Database
    backend: FakeKernelBackend
    scope: Scope
    other: Scope  # a second workspace of the instance

    def service(self, quota: KernelQuota, **kwargs: object) -> KernelService:
        admissions = KernelAdmissions(self.db, quota, start_timeout=60.0, **kwargs)  # type: ignore[arg-type]
        return KernelService(
            self.db, self.backend, workspace_dir=lambda s: Path("/tmp/nbplane-quota-ws"), admissions=admissions
        )

    async def admissions(self) -> int:
        async with self.db.read() as db:
            return (await db.execute(select(func.count()).select_from(KernelAdmissionRow))).scalar_one()


@pytest.fixture
async def kernels(tmp_path: Path, database_url: str) -> AsyncIterator[Kernels]:
    db = Database(database_url)
    await db.migrate()
    info = await ensure_bootstrap(tmp_path / "data", db)
    from nbplane.store.tables import WorkspaceRow

    async with db.write() as session:
        session.add(WorkspaceRow(instance_id=info.instance_id, key="other", display_name="Other"))
    backend = FakeKernelBackend()
    yield Kernels(db, backend, Scope(info.instance_id, info.workspace_key), Scope(info.instance_id, "other"))
    await backend.close(stop_kernels=True)
    await db.dispose()


async def test_per_workspace_limit(kernels: Kernels) -> None:
    service = kernels.service(KernelQuota(max_per_workspace=2))
    first = await service.start(kernels.scope, None, path=None, created_by="u1")
    await service.start(kernels.scope, None, path=None, created_by="u2")
    with pytest.raises(QuotaExceededError, match="NBPLANE_MAX_KERNELS_PER_WORKSPACE") as refused:
        await service.start(kernels.scope, None, path=None, created_by="u3")
    assert refused.value.limit == "NBPLANE_MAX_KERNELS_PER_WORKSPACE" and "is 2" in refused.value.message
    await service.start(kernels.other, None, path=None, created_by="u3")  # another workspace has its own room
    await service.shutdown(kernels.scope, first.id)
    await service.start(kernels.scope, None, path=None, created_by="u3")  # a stopped kernel frees its place
    assert await kernels.admissions() == 0


async def test_per_user_limit(kernels: Kernels) -> None:
    service = kernels.service(KernelQuota(max_per_user=1))
    await service.start(kernels.scope, None, path=None, created_by="u1")
    with pytest.raises(QuotaExceededError, match="NBPLANE_MAX_KERNELS_PER_USER"):
        await service.start(kernels.other, None, path=None, created_by="u1")  # across workspaces
    await service.start(kernels.scope, None, path=None, created_by="u2")


async def test_global_limit(kernels: Kernels) -> None:
    service = kernels.service(KernelQuota(max_kernels=2))
    await service.start(kernels.scope, None, path=None, created_by="u1")
    await service.start(kernels.other, None, path=None, created_by="u2")
    with pytest.raises(QuotaExceededError, match="NBPLANE_MAX_KERNELS\\)"):
        await service.start(kernels.other, None, path=None, created_by="u3")


async def test_unlimited_by_default_writes_no_admissions(kernels: Kernels) -> None:
    service = kernels.service(KernelQuota())
    for _ in range(5):
        await service.start(kernels.scope, None, path=None, created_by="u1")
    assert len(kernels.backend.started) == 5


@pytest.mark.parametrize(
    "quota", [KernelQuota(max_kernels=3), KernelQuota(max_per_workspace=3), KernelQuota(max_per_user=3)]
)
async def test_ten_concurrent_starts_against_a_limit_of_three(kernels: Kernels, quota: KernelQuota) -> None:
    kernels.backend.start_delay = 0.2  # every start is under way while the others are admitted
    service = kernels.service(quota)
    results = await asyncio.gather(
        *(service.start(kernels.scope, None, path=None, created_by="u1") for _ in range(10)), return_exceptions=True
    )
    started = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, QuotaExceededError)]
    assert (len(started), len(refused)) == (3, 7), results
    assert len(kernels.backend.started) == 3
    assert await kernels.admissions() == 0


async def test_a_failed_start_gives_its_place_back(kernels: Kernels) -> None:
    service = kernels.service(KernelQuota(max_kernels=1))
    kernels.backend.fail_kernels.add("python3")
    with pytest.raises(BackendError):
        await service.start(kernels.scope, None, path=None, created_by="u1")
    assert await kernels.admissions() == 0
    kernels.backend.fail_kernels.clear()
    await service.start(kernels.scope, None, path=None, created_by="u1")


async def test_an_admission_left_by_a_crashed_start_expires(kernels: Kernels) -> None:
    now = datetime.now(UTC)
    earlier = kernels.service(KernelQuota(max_kernels=1), clock=lambda: now - timedelta(hours=1))
    admission = await earlier._admissions.admit(kernels.scope, "u1")  # a start that never finished
    assert admission is not None
    service = kernels.service(KernelQuota(max_kernels=1))
    await service.start(kernels.scope, None, path=None, created_by="u1")
    assert await kernels.admissions() == 0


def test_the_sdk_does_not_retry_quota_exceeded() -> None:
    checker = DEFAULT_RETRY_STRATEGY.checkers
    refused = ServiceError(400, "QuotaExceeded", {}, "Kernel quota exceeded")
    assert not checker.should_retry(exception=refused)
    assert checker.should_retry(exception=ServiceError(429, "TooManyRequests", {}, "x"))  # the checker does retry


async def test_over_the_limit_is_400_quota_exceeded_on_the_kernels_and_sessions_apis(
    tmp_path: Path, database_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        insecure_no_auth=True,
        rate_limit_per_second=0,
        max_kernels_per_workspace=1,
    )
    app = create_app(settings, kernel_backend=FakeKernelBackend())
    async with app.router.lifespan_context(app):
        info = app.state.bootstrap
        api = f"/20260430/aiDataPlatforms/{info.instance_id}/workspaces/{info.workspace_key}/notebook/api"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            assert (await client.post(f"{api}/kernels", json={})).status_code == 201
            for url, body in ((f"{api}/kernels", {}), (f"{api}/sessions", {"path": "a.ipynb"})):
                response = await client.post(url, json=body)
                assert response.status_code == 400, response.text
                assert response.json()["code"] == "QuotaExceeded"
                assert "NBPLANE_MAX_KERNELS_PER_WORKSPACE" in response.json()["message"]
            sessions = (await client.get(f"{api}/sessions")).json()["items"]
            assert sessions == []  # the refused create left no session behind
