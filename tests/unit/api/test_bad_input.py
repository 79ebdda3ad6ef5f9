"""Every client mistake gets its status and OCI code, and the database is left exactly as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from nbplane.store.tables import KernelRow, RetryTokenRow, SessionRow
from tests.unit.conftest import InProcess


async def _snapshot(inproc: InProcess) -> dict[str, Any]:
    async with inproc.services.db.read() as db:
        counts = {}
        for table in (SessionRow, KernelRow, RetryTokenRow):
            counts[table.__tablename__] = (await db.execute(select(func.count()).select_from(table))).scalar_one()
        rows = (await db.scalars(select(SessionRow).order_by(SessionRow.id))).all()
        counts["sessions_state"] = [(r.id, r.name, r.path, r.type, r.kernel_id, r.cluster_id) for r in rows]
    return counts


BAD = "https://testserver/20260430/aiDataPlatforms/{instance}/workspaces/{ws}/notebook/api/sessions"

CASES: list[tuple[str, str, str, dict[str, Any], int, str, str]] = [
    # (id, method, url suffix, request kwargs, status, code, message fragment)
    ("unknown-instance", "GET", "@instance=ocid1.aidataplatform.oc1..nope", {}, 404, "NotAuthorizedOrNotFound", ""),
    ("unknown-workspace", "GET", "@ws=nope", {}, 404, "NotAuthorizedOrNotFound", "nope"),
    ("unknown-session-get", "GET", "/00000000-0000-0000-0000-000000000000", {}, 404, "NotAuthorizedOrNotFound", ""),
    ("unknown-session-patch", "PATCH", "/missing", {"json": {"name": "x"}}, 404, "NotAuthorizedOrNotFound", ""),
    ("unknown-session-delete", "DELETE", "/missing", {}, 404, "NotAuthorizedOrNotFound", ""),
    ("malformed-json", "POST", "", {"content": b'{"path": "a.ipynb",'}, 400, "CannotParseRequest", "JSON"),
    ("body-not-object", "POST", "", {"json": ["a.ipynb"]}, 400, "InvalidParameter", ""),
    ("empty-body", "POST", "", {"content": b""}, 400, "MissingParameter", "body"),
    ("path-wrong-type", "POST", "", {"json": {"path": 123}}, 400, "InvalidParameter", "path"),
    ("path-empty", "POST", "", {"json": {"path": ""}}, 400, "InvalidParameter", "path"),
    ("type-bad-enum", "POST", "", {"json": {"path": "b.ipynb", "type": "bogus"}}, 400, "InvalidParameter", "type"),
    ("kernel-not-object", "POST", "", {"json": {"path": "b.ipynb", "kernel": "python3"}}, 400, "InvalidParameter", ""),
    (
        "unknown-kernelspec",
        "POST",
        "",
        {"json": {"path": "b.ipynb", "kernel": {"name": "cobol"}}},
        400,
        "InvalidParameter",
        "python3",
    ),
    (
        "unknown-kernel-id",
        "POST",
        "",
        {"json": {"path": "b.ipynb", "kernel": {"id": "no-such-kernel"}}},
        400,
        "InvalidParameter",
        "no-such-kernel",
    ),
    (
        "retry-token-too-long",
        "POST",
        "",
        {"json": {"path": "b.ipynb"}, "headers": {"opc-retry-token": "x" * 65}},
        400,
        "InvalidParameter",
        "opc-retry-token",
    ),
    ("limit-zero", "GET", "?limit=0", {}, 400, "InvalidParameter", "limit"),
    ("limit-too-big", "GET", "?limit=1001", {}, 400, "InvalidParameter", "limit"),
    ("limit-not-int", "GET", "?limit=1e3", {}, 400, "InvalidParameter", "limit"),
    ("sort-order-bad", "GET", "?sortOrder=UP", {}, 400, "InvalidParameter", "sortOrder"),
    ("sort-by-bad", "GET", "?sortBy=name", {}, 400, "InvalidParameter", "sortBy"),
    ("page-garbage", "GET", "?page=garbage", {}, 400, "InvalidParameter", "page"),
    ("page-bad-base64", "GET", "?page=p%25%25", {}, 400, "InvalidParameter", "page"),
    ("oversized-body", "POST", "", {"content": b"{" + b" " * 70000 + b"}"}, 413, "PayloadTooLarge", "limit"),
    ("unknown-route", "GET", "/x/y/z", {}, 404, "NotFound", ""),
    ("wrong-method", "PUT", "", {"json": {}}, 405, "MethodNotAllowed", ""),
    (
        "patch-bool-wrong-type",
        "PATCH",
        "/{sid}",
        {"json": {"must_refresh_context": "yes"}},
        400,
        "InvalidParameter",
        "",
    ),
    ("patch-name-wrong-type", "PATCH", "/{sid}", {"json": {"name": 5}}, 400, "InvalidParameter", "name"),
    (
        "patch-stale-etag",
        "PATCH",
        "/{sid}",
        {"json": {"name": "n"}, "headers": {"if-match": "stale"}},
        412,
        "NoEtagMatch",
        "",
    ),
    ("delete-stale-etag", "DELETE", "/{sid}", {"headers": {"if-match": "stale"}}, 412, "NoEtagMatch", ""),
    (
        "patch-unknown-kernelspec",
        "PATCH",
        "/{sid}",
        {"json": {"kernel": {"name": "cobol"}}},
        400,
        "InvalidParameter",
        "",
    ),
]


@pytest.mark.parametrize(
    ("case", "method", "suffix", "kwargs", "status", "code", "fragment"), CASES, ids=[c[0] for c in CASES]
)
async def test_bad_input(
    inproc: InProcess,
    case: str,
    method: str,
    suffix: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
    fragment: str,
) -> None:
    existing = await inproc.client.post(inproc.sessions_url, json={"path": "existing.ipynb", "type": "notebook"})
    assert existing.status_code == 201
    sid = existing.json()["id"]
    url = inproc.sessions_url
    if suffix.startswith("@"):
        key, value = suffix[1:].split("=", 1)
        url = BAD.format(
            instance=value if key == "instance" else inproc.instance_id,
            ws=value if key == "ws" else inproc.workspace_key,
        )
    else:
        url += suffix.replace("{sid}", sid)
    before = await _snapshot(inproc)

    kwargs = dict(kwargs)
    headers = {"opc-request-id": f"req-{case}", **kwargs.pop("headers", {})}
    response = await inproc.client.request(method, url, headers=headers, **kwargs)

    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"code", "message"}
    assert body["code"] == code
    assert fragment in body["message"]
    assert response.headers["opc-request-id"] == f"req-{case}"
    assert response.headers["date"].endswith("GMT")
    assert response.headers["content-type"].startswith("application/json")
    assert await _snapshot(inproc) == before


async def test_request_id_is_generated_when_absent(inproc: InProcess) -> None:
    response = await inproc.client.get(inproc.sessions_url)
    assert response.status_code == 200
    assert len(response.headers["opc-request-id"]) == 32


async def test_error_bodies_are_real_json(inproc: InProcess) -> None:
    response = await inproc.client.get(inproc.sessions_url + "/bad%01id%22")
    assert response.status_code == 404
    json.loads(response.text, strict=True)
