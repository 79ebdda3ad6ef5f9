"""A create records the kernel and points its session at it in one transaction; a session deleted while its
kernel starts gets no pointer, and its kernel is let go."""

from __future__ import annotations

import asyncio

from nbplane.store.tables import KernelRow, SessionRow
from tests.unit.conftest import InProcess


async def test_a_session_deleted_while_its_kernel_starts_releases_the_kernel(inproc: InProcess) -> None:
    inproc.kernels.start_delay = 1.5
    create = asyncio.create_task(inproc.client.post(inproc.sessions_url, json={"path": "gone.ipynb"}))
    session_id = None
    for _ in range(200):
        items = (await inproc.client.get(inproc.sessions_url)).json()["items"]
        if items:
            session_id = items[0]["id"]
            break
        await asyncio.sleep(0.01)
    assert session_id is not None
    assert (await inproc.client.delete(f"{inproc.sessions_url}/{session_id}")).status_code == 204
    response = await create
    assert response.status_code == 404, response.text
    assert inproc.kernels.started, "the kernel did start"
    kernel_id = inproc.kernels.started[0]
    assert not await inproc.kernels.is_alive(kernel_id)
    async with inproc.services.db.read() as db:
        assert await db.get(SessionRow, session_id) is None
        row = await db.get(KernelRow, kernel_id)
        assert row is None or row.status != "running"


async def test_a_create_points_the_session_at_its_recorded_kernel(inproc: InProcess) -> None:
    body = (await inproc.client.post(inproc.sessions_url, json={"path": "one.ipynb"})).json()
    async with inproc.services.db.read() as db:
        session = await db.get(SessionRow, body["id"])
        assert session is not None and session.lifecycle_state == "ACTIVE"
        kernel = await db.get(KernelRow, session.kernel_id)
        assert kernel is not None and kernel.status == "running"
