"""Jupyter kernel websocket framing: message dicts <-> websocket frames, for both protocols.

Pure functions, no I/O. The formats match jupyter_server's `connection/base.py` and
`docs/source/developers/websocket-protocols.rst`:

- legacy (no subprotocol): a text frame holding the JSON message, or, when the message has
  buffers, a binary frame: u32 big-endian part count, one u32 big-endian offset per part, then
  the parts (the JSON message first, then the raw buffers);
- ``v1.kernel.websocket.jupyter.org``: u64 little-endian offset count, that many u64
  little-endian offsets, then the parts: channel name, header, parent_header, metadata and
  content (each JSON), then the raw buffers.

A message dict has the keys ``channel, header, parent_header, metadata, content, buffers``.
Decoding never trusts the frame: bad offsets, bad JSON or parts of the wrong shape raise
`InvalidInputError`. Dates stay ISO strings on decode; datetimes are written as ISO strings.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from jupyter_client.jsonutil import json_default

from nbplane.errors import InvalidInputError

__all__ = [
    "CHANNELS",
    "V1_SUBPROTOCOL",
    "Frame",
    "WireMessage",
    "decode",
    "decode_legacy",
    "decode_v1",
    "encode",
    "encode_legacy",
    "encode_v1",
    "select_subprotocol",
]

V1_SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"
CHANNELS = ("shell", "control", "stdin", "iopub")

WireMessage = dict[str, Any]
"""A Jupyter message as a dict; raw JSON payload, hence `Any`."""
Frame = str | bytes

_PARTS = ("header", "parent_header", "metadata", "content")


def select_subprotocol(offered: Sequence[str], *, allow_v1: bool = True) -> str | None:
    """Pick the subprotocol to accept from those a client offered; None means legacy.

    `allow_v1=False` forces legacy, as jupyter_server's `kernel_ws_protocol=""` does.
    """
    if allow_v1 and V1_SUBPROTOCOL in offered:
        return V1_SUBPROTOCOL
    return None


def encode(msg: WireMessage, subprotocol: str | None) -> Frame:
    """Encode `msg` for a websocket that negotiated `subprotocol` (None: legacy)."""
    if subprotocol == V1_SUBPROTOCOL:
        return encode_v1(msg)
    if subprotocol is None:
        return encode_legacy(msg)
    raise ValueError(f"unsupported kernel websocket subprotocol {subprotocol!r}")


def decode(frame: Frame, subprotocol: str | None) -> WireMessage:
    """Decode a frame received on a websocket that negotiated `subprotocol` (None: legacy)."""
    if subprotocol == V1_SUBPROTOCOL:
        if not isinstance(frame, bytes | bytearray | memoryview):
            raise InvalidInputError("v1 kernel protocol frames must be binary")
        return decode_v1(bytes(frame))
    if subprotocol is None:
        return decode_legacy(frame)
    raise ValueError(f"unsupported kernel websocket subprotocol {subprotocol!r}")


# -- legacy -------------------------------------------------------------------------------------


def encode_legacy(msg: WireMessage) -> Frame:
    """A text frame (str) for a message without buffers, else a binary frame (bytes)."""
    body = {k: v for k, v in msg.items() if k != "buffers"}
    buffers = [_as_bytes(b) for b in msg.get("buffers") or ()]
    if not buffers:
        return _dumps(body)
    parts = [_dumps(body).encode("utf-8"), *buffers]
    nparts = len(parts)
    offsets = [4 * (nparts + 1)]
    for part in parts[:-1]:
        offsets.append(offsets[-1] + len(part))
    return struct.pack(f"!{nparts + 1}I", nparts, *offsets) + b"".join(parts)


def decode_legacy(frame: Frame) -> WireMessage:
    """Decode a legacy text or binary frame. A missing channel means shell, as in jupyter_server."""
    if isinstance(frame, str):
        msg = _loads(frame)
        if msg.get("buffers"):
            raise InvalidInputError("a text frame cannot carry buffers")
        buffers: list[bytes] = []
    else:
        data = bytes(frame)
        if len(data) < 4:
            raise InvalidInputError("binary frame too short")
        (nparts,) = struct.unpack_from("!I", data)
        if nparts < 1 or 4 * (nparts + 1) > len(data):
            raise InvalidInputError("binary frame has a bad part count")
        offsets = list(struct.unpack_from(f"!{nparts}I", data, 4))
        parts = _slice(data, [*offsets, len(data)], 4 * (nparts + 1))
        msg = _loads(parts[0])
        buffers = parts[1:]
    msg["buffers"] = buffers
    return _normalise(msg, msg.get("channel"))


# -- v1 -----------------------------------------------------------------------------------------


def encode_v1(msg: WireMessage) -> bytes:
    """Encode as one ``v1.kernel.websocket.jupyter.org`` binary frame."""
    channel = msg.get("channel")
    if not isinstance(channel, str):
        raise ValueError("a v1 frame needs the message's channel")
    parts = [
        channel.encode("utf-8"),
        *(_dumps(msg.get(key) or {}).encode("utf-8") for key in _PARTS),
        *(_as_bytes(b) for b in msg.get("buffers") or ()),
    ]
    offsets = [8 * (len(parts) + 2)]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    head = b"".join(n.to_bytes(8, "little") for n in (len(offsets), *offsets))
    return head + b"".join(parts)


def decode_v1(frame: bytes) -> WireMessage:
    """Decode one ``v1.kernel.websocket.jupyter.org`` binary frame."""
    if len(frame) < 8:
        raise InvalidInputError("v1 frame too short")
    count = int.from_bytes(frame[:8], "little")
    # offsets: channel start, then the end of channel, header, parent, metadata, content, buffers
    if count < 2 + len(_PARTS) or 8 * (count + 1) > len(frame):
        raise InvalidInputError("v1 frame has a bad offset count")
    offsets = [int.from_bytes(frame[8 * i : 8 * (i + 1)], "little") for i in range(1, count + 1)]
    parts = _slice(frame, offsets, 8 * (count + 1))
    try:
        channel = parts[0].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError("v1 frame channel is not UTF-8") from exc
    msg: WireMessage = {key: _loads(part) for key, part in zip(_PARTS, parts[1:5], strict=True)}
    msg["buffers"] = parts[5:]
    return _normalise(msg, channel)


# -- helpers ------------------------------------------------------------------------------------


def _slice(data: bytes, bounds: list[int], header_len: int) -> list[bytes]:
    """Cut `data` at `bounds` (n+1 monotonic offsets) into n parts, checking every bound."""
    if bounds[0] < header_len or any(a > b for a, b in pairwise(bounds)):
        raise InvalidInputError("frame offsets are out of order")
    if bounds[-1] > len(data):
        raise InvalidInputError("frame offsets point past its end")
    return [data[a:b] for a, b in pairwise(bounds)]


def _normalise(msg: WireMessage, channel: object) -> WireMessage:
    if channel is None:
        channel = "shell"
    if not isinstance(channel, str):
        raise InvalidInputError("message channel must be a string")
    header = msg.get("header")
    if not isinstance(header, dict):
        raise InvalidInputError("message header must be an object")
    if not isinstance(header.get("msg_id"), str) or not isinstance(header.get("msg_type"), str):
        raise InvalidInputError("message header needs string msg_id and msg_type")
    for key in ("parent_header", "metadata", "content"):
        value = msg.setdefault(key, {})
        if value is None:
            msg[key] = {}
        elif not isinstance(value, dict):
            raise InvalidInputError(f"message {key} must be an object")
    msg["channel"] = channel
    return msg


def _reject_constant(name: str) -> Any:
    raise InvalidInputError(f"{name} is not valid JSON")


def _loads(data: str | bytes) -> WireMessage:
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except ValueError as exc:  # includes UnicodeDecodeError
        raise InvalidInputError("frame part is not valid JSON") from exc
    if not isinstance(value, dict):
        raise InvalidInputError("frame part must be a JSON object")
    return value


def _dumps(obj: object) -> str:
    # json_default turns datetimes into ISO strings (and bytes into base64), as jupyter_client does.
    return json.dumps(obj, default=json_default, ensure_ascii=False, allow_nan=False)


def _as_bytes(buf: object) -> bytes:
    if isinstance(buf, bytes):
        return buf
    if isinstance(buf, bytearray | memoryview):
        return bytes(buf)
    raise TypeError(f"message buffers must be bytes-like, not {type(buf).__name__}")
