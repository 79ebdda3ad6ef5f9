"""Per-principal request budgets: an in-memory token bucket with bounded memory."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from nbplane.errors import RateLimitedError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """`burst` requests at once, refilled at `rate_per_s`; one bucket per principal key.

    `check` never awaits and takes a lock, so it is safe from the event loop and from threadpool
    dependencies alike. Buckets that have refilled completely are dropped (a new one is identical), and
    at most `max_buckets` are kept: past that the least recently used one is forgotten.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        max_buckets: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or max_buckets < 1:
            raise ValueError("rate_per_s must be > 0, burst and max_buckets >= 1")
        self._rate = float(rate_per_s)
        self._burst = float(burst)
        self._refill_s = self._burst / self._rate
        self._max_buckets = max_buckets
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, principal_key: str, now: float | None = None) -> None:
        """Spend one request; raises RateLimitedError with `retry_after` seconds when none is left."""
        at = self._clock() if now is None else now
        with self._lock:
            self._evict_idle(at)
            bucket = self._buckets.pop(principal_key, None) or _Bucket(self._burst, at)
            elapsed = max(0.0, at - bucket.updated)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.updated = max(bucket.updated, at)
            self._buckets[principal_key] = bucket
            if len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
            if bucket.tokens < 1.0:
                retry_after = (1.0 - bucket.tokens) / self._rate
                raise RateLimitedError(f"too many requests; retry after {retry_after:.2f} s", retry_after=retry_after)
            bucket.tokens -= 1.0

    def _evict_idle(self, now: float) -> None:
        # Buckets are kept in least-recently-used order, so the idle ones are at the front.
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))
            if now - bucket.updated < self._refill_s:
                return
            del self._buckets[key]
