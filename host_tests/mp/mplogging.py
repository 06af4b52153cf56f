"""Test-only: load CircuitPython's adafruit_logging under the MicroPython
Unix port.

adafruit_logging calls ``time.monotonic()``, which MicroPython's ``time``
lacks; this installs a stand-in ``time`` module (the real one's functions
plus ``monotonic``) in ``sys.modules`` before importing it. The package
itself is unmodified. Use ``from mplogging import logging``.
"""

import sys
import time as _time


class _TimeWithMonotonic:
    pass


_t = _TimeWithMonotonic()
for _k in dir(_time):
    if not _k.startswith("__"):
        setattr(_t, _k, getattr(_time, _k))
_t.monotonic = lambda: _time.ticks_ms() / 1000
sys.modules["time"] = _t
import adafruit_logging as logging  # noqa: E402

sys.modules["time"] = _time
