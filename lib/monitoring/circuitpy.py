"""What CircuitPython lacks and the library needs, loaded there alone: a
MicroPython board never pays for this code. ``compat``, ``clock`` and
``regions`` import it where ``time`` has no ``ticks_ms``, ``gmtime`` or
``time_ns``, ``ticks_us``.

- ``ticks_ms``: ``supervisor.ticks_ms`` (else ``adafruit_ticks``), which
  wraps at 2**29 ms (6.2 days; the first wrap some 65 s after power-on);
  ``ticks_diff``/``ticks_add`` wrap-safe. Small ints: nothing is allocated.
- ``unix_ns``: ``time.time()`` (whole seconds since 1970, set by
  ``adafruit_ntp`` or an RTC) with the milliseconds from the ticks.
- ``utc_fields``: the UTC calendar computed, without ``gmtime``.
- ``diff_us``: a tick difference in us, for the regions.
- ``need_asyncio``: the ImportError that says what to install.

Its arithmetic is pure: the tests run it on CPython and the Unix port too
(``ticks_ms`` is None where neither tick source exists).
"""

import time

try:
    from supervisor import ticks_ms
except ImportError:
    try:
        from adafruit_ticks import ticks_ms  # (from monotonic_ns: allocates)
    except ImportError:  # a host loading the module for its arithmetic
        ticks_ms = None

TICKS_PERIOD = 1 << 29


def ticks_diff(a, b):
    """``a - b`` in ms, for ticks less than 2**28 ms (3.1 days) apart:
    signed, across the wrap."""
    return ((((a - b) & 0x1FFFFFFF) + 0x10000000) & 0x1FFFFFFF) - 0x10000000


def ticks_add(a, d):
    """The ticks ``d`` ms after (``d`` < 0: before) ``a``, wrapped."""
    return (a + d) & 0x1FFFFFFF


def diff_us(a, b):
    """The tick difference ``a - b`` in us (whole milliseconds)."""
    return ticks_diff(a, b) * 1000


# [milliseconds since 1970 at the last reading, the ticks then]
_last = [None, 0]


def unix_ns():
    """Nanoseconds since 1970-01-01 UTC, as the board's clock says: its
    second exact, the milliseconds within it from the tick counter. The
    estimate runs on the ticks and is pulled into the clock's current
    second at each reading (up to its start when the second ticked over,
    down to its end when the ticks ran ahead): wherever it starts, after
    the clock is set or stepped, the error stays under a second and falls
    to the gap between two readings once a second boundary is seen."""
    lo = int(time.time()) * 1000
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


def utc_fields(ns, into=None):
    """``(year, month, day, hour, minute, second, millisecond)`` for ``ns``
    nanoseconds since 1970 UTC (proleptic Gregorian calendar); into the
    list ``into`` when given, as :func:`clock.utc_fields`."""
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
    ms = (ns // 1000000) % 1000
    if into is None:
        return year, month, day, sod // 3600, sod // 60 % 60, sod % 60, ms
    into[0] = year
    into[1] = month
    into[2] = day
    into[3] = sod // 3600
    into[4] = sod // 60 % 60
    into[5] = sod % 60
    into[6] = ms
    return into


def need_asyncio(e):
    """Raise the ImportError of a CircuitPython without the bundle's asyncio
    (``e``: the first import's error)."""
    raise ImportError("monitoring needs asyncio (%s): on CircuitPython install the bundle's "
                      "asyncio and adafruit_ticks (circup install asyncio)" % (e,))
