"""In-process fixtures: an app with a fake kernel backend, driven through httpx's ASGI transport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI

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
    app: FastAPI
    data_dir: Path

    @property
    def api_url(self) -> str:
        return f"/20260430/aiDataPlatforms/{self.instance_id}/workspaces/{self.workspace_key}/notebook/api"

    @property
    def sessions_url(self) -> str:
        return f"{self.api_url}/sessions"

    @property
    def workspace_root(self) -> Path:
        return self.data_dir / "workspaces" / self.instance_id / self.workspace_key

    async def raw(
        self,
        method: str,
        raw_path: str,
        *,
        query: str = "",
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> RawResponse:
        """Call the app with `raw_path` exactly as a server would pass it (path decoded once, raw kept).

        httpx normalises dot segments and escapes, so path-safety tests need this to reach the app verbatim.
        """
        data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
        header_list = [(b"host", b"testserver"), (b"content-length", str(len(data)).encode())]
        header_list += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "https",
            "path": unquote(raw_path),
            "raw_path": raw_path.encode("ascii"),
            "query_string": query.encode("ascii"),
            "root_path": "",
            "headers": header_list,
            "server": ("testserver", 443),
            "client": ("127.0.0.1", 50000),
        }
        sent = False
        response: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                response["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return RawResponse(response["status"], response["headers"], response["body"])


@dataclass
class RawResponse:
    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


@pytest.fixture
async def inproc(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        max_body_bytes=64 * 1024,
        insecure_no_auth=True,  # signed variants: tests/unit/auth/conftest.py
        rate_limit_per_second=0,
    )
    kernels = FakeKernelBackend()
    app = create_app(settings, kernel_backend=kernels)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            info = app.state.bootstrap
            yield InProcess(
                client, app.state.services, kernels, info.instance_id, info.workspace_key, app, settings.data_dir
            )
