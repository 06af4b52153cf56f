"""Exponential backoff with jitter for reconnecting senders (pure).

After each failure the delay doubles from ``min_ms`` up to ``max_ms``; the
actual wait is drawn uniformly from the upper half of it ("equal jitter"),
so boards that lost the same server do not come back in lockstep.
"""

try:
    from random import getrandbits
except ImportError:  # pragma: no cover - every port we know has it
    def getrandbits(n):
        return 0

from .compat import ticks_add, ticks_diff, ticks_ms


class Backoff:
    """Tracks when the next attempt is allowed."""

    def __init__(self, min_ms=500, max_ms=60000):
        self.min_ms = min_ms
        self.max_ms = max_ms
        self.delay_ms = 0
        self.failures = 0
        self._next = ticks_ms()

    def ready(self):
        """True when an attempt may be made now."""
        return self.delay_ms == 0 or ticks_diff(ticks_ms(), self._next) >= 0

    def failed(self):
        """Record a failure; returns the wait before the next attempt (ms)."""
        self.failures += 1
        d = self.delay_ms * 2 if self.delay_ms else self.min_ms
        if d > self.max_ms:
            d = self.max_ms
        self.delay_ms = d
        half = d // 2
        wait = half + getrandbits(16) * (d - half) // 65535
        self._next = ticks_add(ticks_ms(), wait)
        return wait

    def succeeded(self):
        """Record a success: the next failure starts from ``min_ms``."""
        self.delay_ms = 0
        self.failures = 0
