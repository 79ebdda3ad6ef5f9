"""The real NotebookClient's requests, captured by an in-process transport, verify in both path encodings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import oci
import pytest
from aidp_python_client.aidataplatform_dp import NotebookClient
from oci._vendor.requests.adapters import BaseAdapter
from oci._vendor.requests.models import PreparedRequest, Response

from nbplane.auth.resolver import KeyResolver
from nbplane.auth.signature import SignedRequest, VerifiedSignature, verify_request

from ._helpers import TENANCY, USER, Keys


class VerifyingAdapter(BaseAdapter):  # type: ignore[misc]
    """Verifies each request as nbplane would, then answers 404 like a server with nothing in it."""

    def __init__(self, resolver: KeyResolver) -> None:
        super().__init__()
        self.resolver = resolver
        self.seen: list[tuple[str, str, VerifiedSignature]] = []

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:
        path, _, query = request.path_url.partition("?")
        body = request.body or b""
        signed = SignedRequest(
            method=request.method,
            raw_path=path.encode("ascii"),
            query_string=query.encode("ascii"),
            headers=dict(request.headers),
            body=body.encode() if isinstance(body, str) else body,
        )
        # The SDK stamps the real current time into `date`, so the server clock must be real too.
        self.seen.append(
            (request.method, path, verify_request(signed, public_key_lookup=self.resolver, now=time.time()))
        )
        response = Response()
        response.status_code = 404
        response._content = b'{"code":"NotAuthorizedOrNotFound","message":"not found"}'
        response.headers["content-type"] = "application/json"
        response.request, response.url = request, request.url
        return response

    def close(self) -> None:
        pass


@pytest.mark.parametrize("strict", [False, True])
def test_notebook_client_requests_verify(keys: Keys, resolver: KeyResolver, tmp_path: Path, strict: bool) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(keys.user.private_pem)
    config = {
        "tenancy": TENANCY,
        "user": USER,
        "fingerprint": keys.user.fingerprint,
        "key_file": str(key_file),
        "region": "us-ashburn-1",
    }
    client = NotebookClient(
        config, service_endpoint="https://localhost:8443", retry_strategy=oci.retry.NoneRetryStrategy()
    )
    client.base_client.enable_strict_url_encoding = strict
    adapter = VerifyingAdapter(resolver)
    client.base_client.session.mount("https://", adapter)

    calls = [
        lambda: client.get_content("inst", "ws", "Workspace/dir/a b.ipynb"),
        lambda: client.list_sessions("inst", "ws", limit=2),
        lambda: client.delete_content("inst", "ws", "/Workspace/a.ipynb"),
    ]
    for call in calls:
        with pytest.raises(oci.exceptions.ServiceError) as info:
            call()
        assert info.value.status == 404  # verified, then answered; a verifier failure would raise instead

    paths = [path for _, path, _ in adapter.seen]
    assert [method for method, _, _ in adapter.seen] == ["GET", "GET", "DELETE"]
    assert all(v.principal.kind == "user" for _, _, v in adapter.seen)
    if strict:
        assert paths[0].endswith("/contents/Workspace%2Fdir%2Fa%20b.ipynb")
        assert paths[2].endswith("/contents/%2FWorkspace%2Fa.ipynb")
    else:
        assert paths[0].endswith("/contents/Workspace/dir/a%20b.ipynb")
        assert paths[2].endswith("/contents//Workspace/a.ipynb")
