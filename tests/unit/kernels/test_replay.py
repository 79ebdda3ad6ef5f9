"""ReplayBuffer bounds, drop accounting and one-shot drain."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nbplane.kernels.replay import ReplayBuffer, message_size


def _msg(n: int, text: str = "x") -> dict:
    return {"channel": "iopub", "header": {"msg_id": str(n)}, "content": {"text": text}, "buffers": []}


def test_keeps_messages_in_order_and_drains_once() -> None:
    buf = ReplayBuffer(max_messages=10, max_bytes=10_000)
    for n in range(3):
        buf.push(_msg(n))
    assert len(buf) == 3
    replay = buf.drain()
    assert [m["header"]["msg_id"] for m in replay.messages] == ["0", "1", "2"]
    assert replay.dropped == 0
    again = buf.drain()
    assert again.messages == [] and again.dropped == 0
    assert len(buf) == 0 and buf.nbytes == 0


def test_drops_oldest_when_count_is_full() -> None:
    buf = ReplayBuffer(max_messages=2, max_bytes=10_000)
    for n in range(5):
        buf.push(_msg(n))
    replay = buf.drain()
    assert [m["header"]["msg_id"] for m in replay.messages] == ["3", "4"]
    assert replay.dropped == 3


def test_drops_oldest_when_bytes_are_full() -> None:
    buf = ReplayBuffer(max_messages=100, max_bytes=250)
    for n in range(4):
        buf.push(_msg(n), size=100)
    assert buf.nbytes == 200
    replay = buf.drain()
    assert [m["header"]["msg_id"] for m in replay.messages] == ["2", "3"]
    assert replay.dropped == 2


def test_message_larger_than_the_budget_is_dropped_alone() -> None:
    buf = ReplayBuffer(max_messages=100, max_bytes=50)
    buf.push(_msg(0), size=10)
    buf.push(_msg(1), size=51)
    replay = buf.drain()
    assert [m["header"]["msg_id"] for m in replay.messages] == ["0"]
    assert replay.dropped == 1


def test_size_estimate_counts_json_and_buffers_and_handles_dates() -> None:
    msg = _msg(0, "y" * 100)
    msg["header"]["date"] = datetime.now(UTC)
    base = message_size(msg)
    assert base > 100
    msg["buffers"] = [b"z" * 1000]
    assert message_size(msg) == base + 1000


@pytest.mark.parametrize("bounds", [(0, 10), (10, 0)])
def test_rejects_non_positive_bounds(bounds: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        ReplayBuffer(*bounds)
