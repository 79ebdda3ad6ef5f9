"""In-process fixtures: an app with a fake kernel backend, driven through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from nbplane.app import create_app
from nbplane.kernels.fake import FakeKernelBackend
from nbplane.services import Services
from nbplane.settings import Settings


@dataclass
class InProcess:
    client: httpx.AsyncClient
    services: Services
    kernels: FakeKernelBackend
    instance_id: str
    workspace_key: str

    @property
    def sessions_url(self) -> str:
        return f"/20260430/aiDataPlatforms/{self.instance_id}/workspaces/{self.workspace_key}/notebook/api/sessions"


@pytest.fixture
async def inproc(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, max_body_bytes=64 * 1024)
    kernels = FakeKernelBackend()
    app = create_app(settings, kernel_backend=kernels)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            info = app.state.bootstrap
            yield InProcess(client, app.state.services, kernels, info.instance_id, info.workspace_key)
