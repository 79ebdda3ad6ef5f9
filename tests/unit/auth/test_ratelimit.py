"""Token-bucket rate limiting, driven by an injected clock."""

from __future__ import annotations

import pytest

from nbplane.auth.ratelimit import TokenBucketLimiter
from nbplane.errors import RateLimitedError


def test_burst_then_refusal() -> None:
    limiter = TokenBucketLimiter(rate_per_s=2, burst=5)
    for _ in range(5):
        limiter.check("alice", now=100.0)
    with pytest.raises(RateLimitedError) as info:
        limiter.check("alice", now=100.0)
    assert info.value.retry_after == pytest.approx(0.5)
    assert info.value.fields["retry_after"] == info.value.retry_after > 0


def test_refill() -> None:
    limiter = TokenBucketLimiter(rate_per_s=2, burst=5)
    for _ in range(5):
        limiter.check("alice", now=0.0)
    with pytest.raises(RateLimitedError):
        limiter.check("alice", now=0.25)
    limiter.check("alice", now=0.5)  # one token back after 1/rate s
    with pytest.raises(RateLimitedError) as info:
        limiter.check("alice", now=0.6)
    assert info.value.retry_after == pytest.approx(0.4)
    for _ in range(5):
        limiter.check("alice", now=1000.0)  # refills to burst, never beyond
    with pytest.raises(RateLimitedError):
        limiter.check("alice", now=1000.0)


def test_refused_requests_cost_nothing() -> None:
    limiter = TokenBucketLimiter(rate_per_s=1, burst=1)
    limiter.check("a", now=0.0)
    for _ in range(10):
        with pytest.raises(RateLimitedError):
            limiter.check("a", now=0.5)
    limiter.check("a", now=1.0)


def test_principals_are_independent() -> None:
    limiter = TokenBucketLimiter(rate_per_s=1, burst=1)
    limiter.check("alice", now=0.0)
    limiter.check("bob", now=0.0)
    with pytest.raises(RateLimitedError):
        limiter.check("alice", now=0.0)


def test_clock_going_backwards_does_not_mint_tokens() -> None:
    limiter = TokenBucketLimiter(rate_per_s=1, burst=1)
    limiter.check("a", now=10.0)
    with pytest.raises(RateLimitedError):
        limiter.check("a", now=5.0)
    with pytest.raises(RateLimitedError):
        limiter.check("a", now=10.5)


def test_injected_clock() -> None:
    now = [0.0]
    limiter = TokenBucketLimiter(rate_per_s=1, burst=1, clock=lambda: now[0])
    limiter.check("a")
    with pytest.raises(RateLimitedError):
        limiter.check("a")
    now[0] = 1.0
    limiter.check("a")


def test_idle_buckets_are_evicted() -> None:
    limiter = TokenBucketLimiter(rate_per_s=1, burst=2)
    for i in range(100):
        limiter.check(f"p{i}", now=0.0)
    assert len(limiter) == 100
    limiter.check("late", now=2.0)  # everyone else has refilled completely
    assert len(limiter) == 1


def test_memory_is_bounded() -> None:
    limiter = TokenBucketLimiter(rate_per_s=0.001, burst=1, max_buckets=10)
    for i in range(1000):
        limiter.check(f"p{i}", now=float(i) / 1000)
    assert len(limiter) == 10


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_invalid_configuration(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate_per_s=rate, burst=burst)


async def test_usable_from_the_event_loop() -> None:
    import asyncio

    limiter = TokenBucketLimiter(rate_per_s=1, burst=3)

    async def one() -> bool:
        try:
            limiter.check("a", now=0.0)
        except RateLimitedError:
            return False
        return True

    results = await asyncio.gather(*(one() for _ in range(10)))
    assert results.count(True) == 3
