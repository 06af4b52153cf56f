"""Test-only, CircuitPython profile: ``time`` as CircuitPython boards have
it: ``monotonic``, ``monotonic_ns``, ``localtime``, ``mktime``, ``time``,
``sleep`` and ``struct_time``, and nothing else. MicroPython's own
``ticks_ms``, ``ticks_us``, ``gmtime``, ``time_ns`` cannot be reached
through it: the built-in module is held in a closure, not in a global.

As on a board: ``time()`` is whole seconds since 1970, ``localtime`` is
UTC (no time zone), ``monotonic`` a float of seconds. The host's clock
stands for the board's RTC once NTP has set it.
"""



def _functions():
    import sys
    from collections import namedtuple

    struct_time = namedtuple("struct_time", ("tm_year", "tm_mon", "tm_mday", "tm_hour", "tm_min",
                                             "tm_sec", "tm_wday", "tm_yday", "tm_isdst"))

    # MicroPython's documented way to reach the built-in module that a
    # file of the same name extends: no path while importing it
    path = sys.path
    sys.path = []
    try:
        import time as real
    finally:
        sys.path = path

    def monotonic():
        return real.ticks_ms() / 1000

    def monotonic_ns():
        return real.time_ns() - start  # (a long int on a board)

    def time():
        return int(real.time())

    def localtime(secs=None):
        t = real.gmtime(time() if secs is None else int(secs))
        return struct_time(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], -1)

    def mktime(t):
        return int(real.mktime(tuple(t[:8])))

    start = real.time_ns() - real.ticks_ms() * 1000000  # monotonic's zero
    return struct_time, monotonic, monotonic_ns, time, localtime, mktime, real.sleep


struct_time, monotonic, monotonic_ns, time, localtime, mktime, sleep = _functions()
del _functions
