"""A minimal Jupyter kernel websocket client for tests and the benchmark, framed with jupyter_server's own
(de)serializers so that nbplane's framing is checked against an independent implementation."""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session
from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)
from websockets.asyncio.client import ClientConnection, connect

V1 = "v1.kernel.websocket.jupyter.org"


def _pack(obj: Any) -> bytes:
    return json.dumps(obj, default=json_default).encode()


@dataclass
class Execution:
    reply: dict[str, Any]
    iopub: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m for m in self.iopub if m["msg_type"] == msg_type]

    @property
    def stdout(self) -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stdout")


class KernelSocket:
    """One websocket to a kernel, legacy (`protocol=None`) or v1."""

    def __init__(self, ws: ClientConnection, protocol: str | None) -> None:
        self.ws = ws
        self.protocol = protocol
        self.session = Session(key=b"")
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        protocol: str | None = None,
        headers: dict[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> KernelSocket:
        ws = await connect(
            url,
            ssl=ssl_context,
            subprotocols=[V1] if protocol == V1 else None,  # type: ignore[list-item]
            additional_headers=headers,
            max_size=None,
            open_timeout=30,
        )
        assert ws.subprotocol == protocol, f"negotiated {ws.subprotocol!r}, wanted {protocol!r}"
        return cls(ws, protocol)

    async def close(self) -> None:
        await self.ws.close()

    async def send(self, channel: str, msg_type: str, content: dict[str, Any]) -> str:
        msg = self.session.msg(msg_type, content=content)
        msg["channel"] = channel
        if self.protocol == V1:
            await self.ws.send(serialize_msg_to_ws_v1(msg, channel, _pack))
        else:
            await self.ws.send(json.dumps(msg, default=json_default))
        return str(msg["header"]["msg_id"])

    async def recv(self, wait_s: float = 30) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.recv(), wait_s)
        if self.protocol == V1:
            assert isinstance(frame, bytes)
            channel, parts = deserialize_msg_from_ws_v1(frame)
            keys = ("header", "parent_header", "metadata", "content")
            msg = {k: json.loads(p) for k, p in zip(keys, parts[:4], strict=True)}
            msg["buffers"] = parts[4:]
            msg["channel"] = channel
        elif isinstance(frame, bytes):
            msg = deserialize_binary_message(frame)
        else:
            msg = json.loads(frame)
        msg.setdefault("msg_type", msg["header"]["msg_type"])
        self.seen.append(msg)
        return msg

    async def execute(self, code: str, wait_s: float = 60) -> Execution:
        """Run `code`; return its execute_reply and its iopub messages up to the idle status."""
        msg_id = await self.send("shell", "execute_request", {"code": code, "silent": False, "store_history": True})
        return await self.collect(msg_id, wait_s=wait_s)

    async def collect(self, msg_id: str, *, wait_s: float = 60) -> Execution:
        reply: dict[str, Any] | None = None
        iopub: list[dict[str, Any]] = []
        idle = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while reply is None or not idle:
            msg = await self.recv(max(0.1, deadline - loop.time()))
            if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
                continue
            if msg["channel"] == "iopub":
                iopub.append(msg)
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
            elif msg["msg_type"].endswith("_reply"):
                reply = msg
        return Execution(reply, iopub)


def new_session_id() -> str:
    return uuid.uuid4().hex
