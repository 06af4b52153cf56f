"""Wall-clock helpers shared by the Influx and syslog encoders.

Boards boot with their clock at the epoch until NTP (or an RTC) sets it; a
timestamp from an unset clock is worse than none. ``is_set()`` says whether
the clock can be trusted (year >= 2024); encoders omit timestamps otherwise.

MicroPython ports differ in their epoch (1970 on most, 2000 on some older
ones): ``unix_ns()`` always counts from 1970-01-01 UTC. Tests may replace
``unix_ns`` (module attribute) to simulate an unset or a fixed clock.

What each runtime has: ``time.time_ns`` on MicroPython and CPython; on
CircuitPython only ``time.time()`` (whole seconds, set by ``adafruit_ntp``
or an RTC), so the milliseconds come from the tick counter, aligned on the
clock's second boundaries (see :func:`unix_ns`). The calendar fields
(:func:`utc_fields`) are computed here: CircuitPython has no ``gmtime``.
"""

import time

# seconds from 1970 to the port's epoch: gmtime where the runtime has it,
# localtime on CircuitPython (UTC there: boards have no time zone)
EPOCH_OFFSET_S = 946684800 if getattr(time, "gmtime", time.localtime)(0)[0] == 2000 else 0
_EPOCH_OFFSET_NS = EPOCH_OFFSET_S * 1000000000
# 2024-01-01T00:00:00Z
_MIN_SET_S = 1704067200

if hasattr(time, "time_ns"):

    def unix_ns():
        """Nanoseconds since 1970-01-01 UTC, as the board's clock says."""
        if _EPOCH_OFFSET_NS:
            return time.time_ns() + _EPOCH_OFFSET_NS
        return time.time_ns()  # a big int: adding even 0 would allocate another

else:  # CircuitPython: time.time() in whole seconds
    from .compat import ticks_diff, ticks_ms

    # [milliseconds since 1970 at the last reading, the ticks then]
    _last = [None, 0]

    def unix_ns():
        """Nanoseconds since 1970-01-01 UTC, as the board's clock says: its
        second exact, the milliseconds within it from the tick counter.
        The estimate runs on the ticks and is pulled into the clock's
        current second at each reading (up to its start when the second
        ticked over, down to its end when the ticks ran ahead): wherever
        it starts, after the clock is set or stepped, the error stays
        under a second and shrinks as readings fall either side of the
        second boundaries."""
        lo = (int(time.time()) + EPOCH_OFFSET_S) * 1000
        t = ticks_ms()
        last = _last
        est = last[0]
        if est is None:
            est = lo
        else:
            est += ticks_diff(t, last[1])
            if est < lo:
                est = lo
            elif est > lo + 999:
                est = lo + 999
        last[0] = est
        last[1] = t
        return est * 1000000


def is_set(ns=None):
    """True when the clock (or ``ns``) is at or after 2024-01-01."""
    if ns is None:
        ns = unix_ns()
    return ns // 1000000000 >= _MIN_SET_S


def utc_fields(ns):
    """``(year, month, day, hour, minute, second, millisecond)`` for ``ns``
    nanoseconds since 1970 UTC (proleptic Gregorian calendar, computed
    here: no ``gmtime`` needed)."""
    s = ns // 1000000000
    days = s // 86400
    sod = s - days * 86400
    # days to a civil date (H. Hinnant's algorithm): eras of 400 years
    # starting 0000-03-01, so that a leap day ends its year
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day, sod // 3600, sod // 60 % 60, sod % 60, (ns // 1000000) % 1000
