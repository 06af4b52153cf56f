"""Wall-clock helpers shared by the Influx and syslog encoders.

Boards boot with their clock at the epoch until NTP (or an RTC) sets it; a
timestamp from an unset clock is worse than none. ``is_set()`` says whether
the clock can be trusted (year >= 2024); encoders omit timestamps otherwise.

MicroPython ports differ in their epoch (1970 on most, 2000 on some older
ones): ``unix_ns()`` always counts from 1970-01-01 UTC. Tests may replace
``unix_ns`` (module attribute) to simulate an unset or a fixed clock.
CircuitPython has neither ``time_ns`` nor ``gmtime``: there ``unix_ns`` and
``utc_fields`` are :mod:`circuitpy`'s (``time.time()`` with milliseconds
from the ticks; the calendar computed).
"""

import time

if hasattr(time, "gmtime"):
    EPOCH_OFFSET_S = 946684800 if time.gmtime(0)[0] == 2000 else 0

    def utc_fields(ns, into=None):
        """``(year, month, day, hour, minute, second, millisecond)`` for ``ns``
        nanoseconds since 1970 UTC; written into the list ``into`` (then
        returned) when given, so that a caller keeping them makes nothing
        new."""
        s = ns // 1000000000
        t = time.gmtime(s - EPOCH_OFFSET_S)
        ms = (ns // 1000000) % 1000
        if into is None:
            return t[0], t[1], t[2], t[3], t[4], t[5], ms
        for i in range(6):
            into[i] = t[i]
        into[6] = ms
        return into

else:  # CircuitPython: its epoch is 1970
    EPOCH_OFFSET_S = 0
    from .circuitpy import utc_fields

_EPOCH_OFFSET_NS = EPOCH_OFFSET_S * 1000000000
# 2024-01-01T00:00:00Z
_MIN_SET_S = 1704067200

if hasattr(time, "time_ns"):

    def unix_ns():
        """Nanoseconds since 1970-01-01 UTC, as the board's clock says."""
        if _EPOCH_OFFSET_NS:
            return time.time_ns() + _EPOCH_OFFSET_NS
        return time.time_ns()  # a big int: adding even 0 would allocate another

else:  # CircuitPython
    from .circuitpy import unix_ns


def is_set(ns=None):
    """True when the clock (or ``ns``) is at or after 2024-01-01."""
    if ns is None:
        ns = unix_ns()
    return ns // 1000000000 >= _MIN_SET_S
