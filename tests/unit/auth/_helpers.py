"""Constants and a signing helper shared by the auth tests."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass

from oci._vendor import requests
from oci.signer import AbstractBaseSigner

from nbplane.auth.keys import RsaKeyPair
from nbplane.auth.signature import SignedRequest

TENANCY = "ocid1.tenancy.oc1..aaaatenancy"
USER = "ocid1.user.oc1..aaaauser"
NOW = 1_795_727_937.0  # Thu, 26 Nov 2026 21:18:57 GMT
HOST = "aidp.us-ashburn-1.oci.oraclecloud.com"
WS = f"https://{HOST}/20260430/aiDataPlatforms/ocid1.aidataplatform.oc1..x/workspaces/ws1/notebook/api"


@dataclass
class Keys:
    user: RsaKeyPair
    session: RsaKeyPair
    other: RsaKeyPair
    server: RsaKeyPair


def http_date(at: float) -> str:
    return email.utils.formatdate(at, usegmt=True)


def sign(
    signer: AbstractBaseSigner,
    method: str,
    url: str,
    body: str | bytes | None = None,
    *,
    date: float = NOW,
    extra_headers: dict[str, str] | None = None,
) -> SignedRequest:
    """Sign like the SDK does, then hand back what a server would receive."""
    headers = {"date": http_date(date), **(extra_headers or {})}
    prepared = requests.Request(method, url, headers=headers, data=body).prepare()
    signer(prepared)
    path, _, query = prepared.path_url.partition("?")
    raw_body = prepared.body or b""
    return SignedRequest(
        method=prepared.method,
        raw_path=path.encode("ascii"),
        query_string=query.encode("ascii"),
        headers=dict(prepared.headers),
        body=raw_body.encode("utf-8") if isinstance(raw_body, str) else raw_body,
    )
