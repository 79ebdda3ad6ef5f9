"""Asking another node for the live state of the kernels it runs (for a session get or list answered by a
node that does not run the kernel). Signed as a node's own call (`NODE_SUBJECT`): it names kernel ids and
returns their execution state, nothing else, and only nodes holding the cluster secret can ask."""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from nbplane.kernels.base import ExecutionState, KernelActivity
from nbplane.nodes.models import NodeInfo
from nbplane.nodes.signing import NODE_SUBJECT, NodeSigner

log = logging.getLogger(__name__)

KERNEL_STATES_PATH = "/_nbplane/node/kernel-states"
MAX_IDS = 1000


def activity_json(activity: KernelActivity) -> dict[str, Any]:
    return {
        "execution_state": str(activity.execution_state),
        "last_activity": activity.last_activity.isoformat(),
        "connections": activity.connections,
        "reason": activity.reason,
        "state_since": activity.state_since.isoformat() if activity.state_since else None,
    }


def activity_from_json(data: dict[str, Any]) -> KernelActivity:
    since = data.get("state_since")
    return KernelActivity(
        ExecutionState(data["execution_state"]),
        datetime.fromisoformat(data["last_activity"]),
        int(data["connections"]),
        data.get("reason"),
        datetime.fromisoformat(since) if since else None,
    )


class PeerClient:
    def __init__(self, signer: NodeSigner, ssl_context: ssl.SSLContext, *, timeout: float = 5.0) -> None:
        self._signer = signer
        self._ssl = ssl_context
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def kernel_states(self, node: NodeInfo, kernel_ids: Sequence[str]) -> dict[str, KernelActivity]:
        """The live state of those of `kernel_ids` that `node` runs; {} when it cannot be asked (logged)."""
        if node.address is None or not kernel_ids:
            return {}
        if self._client is None:
            self._client = httpx.AsyncClient(verify=self._ssl, timeout=self._timeout)
        body = json.dumps({"kernel_ids": list(kernel_ids)[:MAX_IDS]}).encode()
        headers = self._signer.headers(node.id, "POST", KERNEL_STATES_PATH, "", body, NODE_SUBJECT)
        headers["content-type"] = "application/json"
        try:
            answer = await self._client.post(node.address + KERNEL_STATES_PATH, content=body, headers=headers)
            answer.raise_for_status()
            found = answer.json()["kernels"]
            return {kid: activity_from_json(found[kid]) for kid in kernel_ids if kid in found}
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("could not ask %s for its kernels' state: %s", node.describe(), exc)
            return {}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
