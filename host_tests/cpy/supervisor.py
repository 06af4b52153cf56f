"""Test-only, CircuitPython profile: ``supervisor.ticks_ms`` as
CircuitPython has it: milliseconds wrapping at 2**29, the first wrap some
65 s after start (``$CPY_TICKS_WRAP_MS`` sets how many ms after start),
from the host's ticks. A small int: reading it allocates nothing."""


def _ticks():
    import os
    import sys

    path = sys.path
    sys.path = []
    try:
        import time as real
    finally:
        sys.path = path
    ms = real.ticks_ms
    add = real.ticks_add  # (within the port's period, a multiple of 2**29)
    wrap_in = int(os.getenv("CPY_TICKS_WRAP_MS") or 65000)
    off = add((1 << 29) - wrap_in, -ms()) & 0x1FFFFFFF

    def ticks_ms():
        return add(ms(), off) & 0x1FFFFFFF

    return ticks_ms


ticks_ms = _ticks()
del _ticks
