"""The calendar of clock.utc_fields, and circuitpy's own (CircuitPython has
no gmtime), against known dates and the runtime's gmtime; circuitpy's
wrap-safe tick arithmetic (CPython and the Unix port)."""

import time

from monitoring import circuitpy, clock

S = 1000000000
# (seconds since 1970, the UTC fields)
KNOWN = (
    (0, (1970, 1, 1, 0, 0, 0)),
    (68255999, (1972, 2, 29, 23, 59, 59)),
    (951782400, (2000, 2, 29, 0, 0, 0)),
    (978307199, (2000, 12, 31, 23, 59, 59)),
    (1704067200, (2024, 1, 1, 0, 0, 0)),
    (1709164800, (2024, 2, 29, 0, 0, 0)),
    (1767323045, (2026, 1, 2, 3, 4, 5)),
    (4107542400, (2100, 3, 1, 0, 0, 0)),  # 2100: no leap day
    (4107542399, (2100, 2, 28, 23, 59, 59)),
)


def test_utc_fields_of_known_dates():
    for fields in (clock.utc_fields, circuitpy.utc_fields):
        for s, want in KNOWN:
            assert fields(s * S + 678000000) == want + (678,), s
        assert fields(5 * S + 999999) == (1970, 1, 1, 0, 0, 5, 0)
        # into a list kept by the caller: the same fields, the same list
        keep = [0] * 7
        for s, want in KNOWN:
            assert fields(s * S + 678000000, keep) is keep
            assert tuple(keep) == want + (678,), s


def test_circuitpythons_calendar_agrees_with_gmtime():
    s = 12345
    for _ in range(3000):  # days all over the years and leap years, to 2106
        s = (s * 1103515245 + 12345) % (1 << 32)
        t = time.gmtime(s)
        assert circuitpy.utc_fields(s * S) == (t[0], t[1], t[2], t[3], t[4], t[5], 0), s


def test_circuitpythons_ticks_wrap_at_2_to_the_29():
    m = circuitpy.TICKS_PERIOD - 1
    assert circuitpy.TICKS_PERIOD == 1 << 29
    assert circuitpy.ticks_add(m - 9, 20) == 10 and circuitpy.ticks_add(5, -10) == m - 4
    assert circuitpy.ticks_add(m, 1) == 0
    assert circuitpy.ticks_diff(5, m - 4) == 10 and circuitpy.ticks_diff(m - 4, 5) == -10
    assert circuitpy.ticks_diff(0, m) == 1 and circuitpy.ticks_diff(7, 7) == 0
    half = 1 << 28
    assert circuitpy.ticks_diff(half - 1, 0) == half - 1
    assert circuitpy.ticks_diff(0, half - 1) == -(half - 1)
    for a in (0, 1, 12345, half, m - 1, m):
        for d in (0, 1, 999, -1, -999, half - 1, -(half - 1)):
            assert circuitpy.ticks_diff(circuitpy.ticks_add(a, d), a) == d, (a, d)
    assert circuitpy.diff_us(3, m) == 4000


def test_is_set_from_2024():
    assert not clock.is_set(1704067199 * S)
    assert clock.is_set(1704067200 * S)
