"""A bounded per-kernel buffer of kernel output kept while no client is attached.

Jupyter Server keeps an unbounded list and replays it only to the same websocket session id;
this buffer is bounded by count and bytes, drops the oldest first, and remembers how many it
dropped so the replay can say output is missing.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

from jupyter_client.jsonutil import json_default

from nbplane.kernels.wsproto import WireMessage

__all__ = ["Replay", "ReplayBuffer", "message_size"]


@dataclass(frozen=True)
class Replay:
    """What a reconnecting client gets: the kept messages, oldest first, and how many were lost."""

    messages: list[WireMessage]
    dropped: int


def message_size(msg: WireMessage) -> int:
    """Approximate wire size of a message: its JSON parts plus its buffers."""
    body = {k: v for k, v in msg.items() if k != "buffers"}
    size = len(json.dumps(body, default=json_default).encode("utf-8"))
    return size + sum(len(b) for b in msg.get("buffers") or ())


class ReplayBuffer:
    """FIFO of messages bounded by `max_messages` and `max_bytes`; not thread-safe (one event loop)."""

    def __init__(self, max_messages: int = 10_000, max_bytes: int = 16 * 1024 * 1024) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("replay buffer bounds must be positive")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: deque[tuple[WireMessage, int]] = deque()
        self._nbytes = 0
        self._dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes currently held, as counted by `push`."""
        return self._nbytes

    @property
    def dropped(self) -> int:
        """Messages dropped since the last `drain`."""
        return self._dropped

    def push(self, msg: WireMessage, size: int | None = None) -> None:
        """Keep `msg`, dropping the oldest messages to stay within bounds.

        `size` is the message's size in bytes when the caller already knows it (the zmq frames);
        otherwise it is estimated. A message larger than `max_bytes` on its own is dropped.
        """
        if size is None:
            size = message_size(msg)
        if size > self.max_bytes:
            self._dropped += 1
            return
        self._items.append((msg, size))
        self._nbytes += size
        while len(self._items) > self.max_messages or self._nbytes > self.max_bytes:
            _, old_size = self._items.popleft()
            self._nbytes -= old_size
            self._dropped += 1

    def drain(self) -> Replay:
        """Return everything held and the drop count, and empty the buffer."""
        replay = Replay(messages=[msg for msg, _ in self._items], dropped=self._dropped)
        self._items.clear()
        self._nbytes = 0
        self._dropped = 0
        return replay
