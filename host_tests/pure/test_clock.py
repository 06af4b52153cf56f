"""clock.utc_fields: the calendar computed by the library (CircuitPython has
no gmtime), against known dates and the runtime's own gmtime (CPython and
the Unix port)."""

import time

from monitoring import clock

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
    for s, want in KNOWN:
        assert clock.utc_fields(s * S + 678000000) == want + (678,), s
    assert clock.utc_fields(5 * S + 999999) == (1970, 1, 1, 0, 0, 5, 0)


def test_utc_fields_agree_with_gmtime():
    s = 12345
    for _ in range(3000):  # every day of the year across leap years, to 2106
        s = (s * 1103515245 + 12345) % (1 << 32)
        t = time.gmtime(s)
        assert clock.utc_fields(s * S) == (t[0], t[1], t[2], t[3], t[4], t[5], 0), s


def test_is_set_from_2024():
    assert not clock.is_set(1704067199 * S)
    assert clock.is_set(1704067200 * S)
