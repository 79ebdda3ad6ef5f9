"""Round trips and jupyter_server compatibility for the kernel websocket framing."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime

import pytest
from jupyter_client.session import Session

from nbplane.errors import InvalidInputError
from nbplane.kernels import wsproto
from nbplane.kernels.wsproto import V1_SUBPROTOCOL

PROTOCOLS = [None, V1_SUBPROTOCOL]


def _msg(channel: str = "shell", buffers: list[bytes] | None = None) -> dict:
    header = Session().msg_header("execute_request")
    return {
        "channel": channel,
        "header": header,
        "parent_header": {},
        "metadata": {"cellId": "c1"},
        "content": {"code": "print('hé')", "silent": False},
        "buffers": buffers or [],
    }


def _jsonable(msg: dict) -> dict:
    """What a message looks like after a trip through JSON: dates as ISO strings."""
    body = {k: v for k, v in msg.items() if k != "buffers"}
    out = json.loads(wsproto._dumps(body))
    out["buffers"] = [bytes(b) for b in msg["buffers"]]
    return out


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("buffers", [[], [b"\x00\x01", b"", b"x" * 1000]])
def test_round_trip(proto: str | None, buffers: list[bytes]) -> None:
    msg = _msg("iopub", buffers)
    frame = wsproto.encode(msg, proto)
    assert wsproto.decode(frame, proto) == _jsonable(msg)


def test_legacy_text_frame_without_buffers_binary_with() -> None:
    assert isinstance(wsproto.encode(_msg(), None), str)
    assert isinstance(wsproto.encode(_msg(buffers=[b"b"]), None), bytes)
    assert isinstance(wsproto.encode(_msg(), V1_SUBPROTOCOL), bytes)


def test_dates_serialise_as_iso_strings() -> None:
    msg = _msg()
    msg["header"]["date"] = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    decoded = json.loads(wsproto.encode(msg, None))
    assert decoded["header"]["date"] == "2026-05-01T12:00:00.123456Z"
    v1 = wsproto.decode(wsproto.encode(msg, V1_SUBPROTOCOL), V1_SUBPROTOCOL)
    assert v1["header"]["date"] == "2026-05-01T12:00:00.123456Z"


def test_missing_channel_means_shell_and_missing_parts_default_empty() -> None:
    frame = json.dumps({"header": {"msg_id": "m", "msg_type": "execute_request"}, "content": {}})
    msg = wsproto.decode(frame, None)
    assert msg["channel"] == "shell"
    assert msg["parent_header"] == {} and msg["metadata"] == {} and msg["buffers"] == []


def test_select_subprotocol() -> None:
    assert wsproto.select_subprotocol(["foo", V1_SUBPROTOCOL]) == V1_SUBPROTOCOL
    assert wsproto.select_subprotocol(["foo"]) is None
    assert wsproto.select_subprotocol([V1_SUBPROTOCOL], allow_v1=False) is None


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '{"header": {"msg_id": "m", "msg_type": "x"}, "content": NaN}',
        '{"header": {"msg_id": 1, "msg_type": "x"}}',
        '{"header": {"msg_id": "m", "msg_type": "x"}, "content": []}',
        '{"header": {"msg_id": "m", "msg_type": "x"}, "buffers": ["AA=="]}',
        b"\x00",
        struct.pack("!I", 0),
        struct.pack("!II", 1000, 8),
        struct.pack("!III", 2, 12, 4) + b"{}",
        struct.pack("!II", 1, 99) + b"{}",
    ],
)
def test_legacy_rejects_malformed(frame: str | bytes) -> None:
    with pytest.raises(InvalidInputError):
        wsproto.decode(frame, None)


def _v1(count: int, offsets: list[int], body: bytes) -> bytes:
    return b"".join(n.to_bytes(8, "little") for n in (count, *offsets)) + body


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        "text frame",
        _v1(3, [32, 37, 39], b"shell{}"),
        _v1(10**6, [], b""),
        _v1(6, [56, 61, 63, 65, 67, 999], b"shell{}{}{}{}"),
        _v1(6, [56, 61, 60, 65, 67, 69], b"shell{}{}{}{}"),
        _v1(6, [56, 61, 63, 65, 67, 69], b"shell[]{}{}{}"),
    ],
)
def test_v1_rejects_malformed(frame: bytes) -> None:
    with pytest.raises(InvalidInputError):
        wsproto.decode(frame, V1_SUBPROTOCOL)


def test_v1_minimal_valid_frame() -> None:
    body = b'shell{"msg_id":"m","msg_type":"t"}{}{}{}'
    offsets = [56, 61, 61 + len(b'{"msg_id":"m","msg_type":"t"}')]
    offsets += [offsets[-1] + 2, offsets[-1] + 4, offsets[-1] + 6]
    msg = wsproto.decode(_v1(6, offsets, body), V1_SUBPROTOCOL)
    assert msg["channel"] == "shell" and msg["header"]["msg_id"] == "m" and msg["buffers"] == []


# -- compatibility with jupyter_server's own serializers --------------------------------------

base = pytest.importorskip("jupyter_server.services.kernels.connection.base")


@pytest.mark.parametrize("buffers", [[], [b"\x00\xff", b"buf2"]])
def test_decodes_jupyter_server_v1(buffers: list[bytes]) -> None:
    session = Session()
    msg = _msg("iopub", buffers)
    # jupyter_server relays the kernel's zmq parts (packed JSON, then raw buffers) unchanged
    parts = [session.pack(msg[k]) for k in ("header", "parent_header", "metadata", "content")]
    frame = base.serialize_msg_to_ws_v1([*parts, *buffers], "iopub")
    assert wsproto.decode(frame, V1_SUBPROTOCOL) == _jsonable(msg)


@pytest.mark.parametrize("buffers", [[], [b"\x00\xff", b"buf2"]])
def test_jupyter_server_decodes_our_v1(buffers: list[bytes]) -> None:
    msg = _msg("shell", buffers)
    channel, parts = base.deserialize_msg_from_ws_v1(wsproto.encode(msg, V1_SUBPROTOCOL))
    assert channel == "shell"
    assert [json.loads(p) for p in parts[:4]] == [
        _jsonable(msg)[k] for k in ("header", "parent_header", "metadata", "content")
    ]
    assert parts[4:] == buffers


def test_legacy_binary_matches_jupyter_server_both_ways() -> None:
    msg = _msg("iopub", [b"\x00\xff", b"buf2"])
    theirs = base.serialize_binary_message(msg)
    assert wsproto.decode(theirs, None) == _jsonable(msg)
    back = base.deserialize_binary_message(wsproto.encode(msg, None))
    assert back["buffers"] == msg["buffers"]
    assert back["header"]["msg_id"] == msg["header"]["msg_id"]
    assert back["content"] == msg["content"] and back["channel"] == "iopub"


def test_legacy_text_matches_jupyter_server() -> None:
    msg = _msg("iopub")
    # jupyter_server's _reserialize_reply: json.dumps(msg, default=json_default) for no buffers
    theirs = json.dumps(msg, default=base.json_default)
    assert wsproto.decode(theirs, None) == _jsonable(msg)
