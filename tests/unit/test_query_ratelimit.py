"""Per-token rate limits: a burst up to the limit, then the steady rate, per key."""

from __future__ import annotations

from sdwh.query.ratelimit import RateLimiter


def test_bucket_allows_a_burst_then_refills_at_the_limit_per_minute() -> None:
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.take("a", 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a", 3)
    assert 19.9 < wait <= 20.0  # 3 per minute: one request every 20 s
    assert limiter.take("b", 3) == 0.0  # other tokens are not affected
    now[0] += 20.0
    assert limiter.take("a", 3) == 0.0
    assert limiter.take("a", 3) > 0
    now[0] += 3600
    assert [limiter.take("a", 3) for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # capped at 3
    assert RateLimiter.retry_after_header(0.2) == "1"
