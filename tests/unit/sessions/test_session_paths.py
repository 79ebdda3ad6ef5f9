"""Session paths follow the contents rules: a bad one is a 400 `InvalidParameter` and nothing is written or
started; a good one is stored in normal form (a leading `/` kept, as the SDK's example sends it)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from nbplane.errors import InvalidInputError
from nbplane.sessions import paths
from nbplane.store.tables import KernelRow, SessionRow
from tests.unit.conftest import InProcess

BAD = [
    "../x.ipynb",
    "../../../../tmp/evil.ipynb",
    "a/../../b.ipynb",
    "./a.ipynb",
    "a\x00b.ipynb",
    "a\nb.ipynb",
    "C:\\Users\\x.ipynb",
    "\\\\host\\share\\x.ipynb",
    "c:/x.ipynb",
    "/",
    "//",
    "con.ipynb",
    "trailing-dot.",
    ".~nbplane-tmp.ipynb",
    "x" * 256 + ".ipynb",
]


@pytest.mark.parametrize("path", BAD, ids=range(len(BAD)))
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInputError, match="session path"):
        paths.normalize(path)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("a.ipynb", "a.ipynb"), ("/data/test.ipynb", "/data/test.ipynb"), ("//d//x.ipynb/", "/d/x.ipynb")],
)
def test_good_paths_are_normalised(sent: str, stored: str) -> None:
    assert paths.normalize(sent) == stored
    assert paths.problem(stored) is None


async def _counts(inproc: InProcess) -> tuple[int, int]:
    async with inproc.services.db.read() as db:
        sessions = (await db.execute(select(func.count()).select_from(SessionRow))).scalar_one()
        kernels = (await db.execute(select(func.count()).select_from(KernelRow))).scalar_one()
    return sessions, kernels


@pytest.mark.parametrize("path", ["../../../../tmp/evil.ipynb", "a\x00.ipynb", "C:\\evil.ipynb", "/"])
async def test_create_and_patch_with_a_bad_path_are_400_and_write_nothing(inproc: InProcess, path: str) -> None:
    existing = await inproc.client.post(inproc.sessions_url, json={"path": "ok.ipynb"})
    assert existing.status_code == 201
    before = await _counts(inproc)
    started = list(inproc.kernels.started)

    created = await inproc.client.post(inproc.sessions_url, json={"path": path})
    assert created.status_code == 400, created.text
    assert created.json()["code"] == "InvalidParameter" and "session path" in created.json()["message"]
    patched = await inproc.client.patch(f"{inproc.sessions_url}/{existing.json()['id']}", json={"path": path})
    assert patched.status_code == 400, patched.text
    assert patched.json()["code"] == "InvalidParameter"

    assert await _counts(inproc) == before
    assert inproc.kernels.started == started
    got = await inproc.client.get(f"{inproc.sessions_url}/{existing.json()['id']}")
    assert got.json()["path"] == "ok.ipynb"


async def test_a_path_is_stored_in_normal_form(inproc: InProcess) -> None:
    created = await inproc.client.post(inproc.sessions_url, json={"path": "//d//x.ipynb"})
    assert created.status_code == 201, created.text
    assert created.json()["path"] == "/d/x.ipynb"
    again = await inproc.client.post(inproc.sessions_url, json={"path": "/d/x.ipynb"})
    assert again.json()["id"] == created.json()["id"]  # the same session: one identity per normal form
