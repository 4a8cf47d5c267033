"""Per-token rate limits: a token bucket per token, refilled continuously (in memory).

A bucket holds up to ``limit`` requests and refills at ``limit`` per minute, so a service may
burst up to its limit and then runs at the steady rate. State is per process: with
``SDWH_API_WORKERS`` = N the app asks each process for 1/N of the limit (``app.per_worker``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, last time)

    def take(self, key: str, per_minute: int) -> float:
        """Spend one request of ``key``; 0.0 when allowed, else seconds until one is free."""
        now = self._clock()
        rate = per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return max((1.0 - tokens) / rate, 0.001)

    @staticmethod
    def retry_after_header(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
