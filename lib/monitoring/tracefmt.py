"""Trace stream format.

Pure module: no sockets, no asyncio. Runs on MicroPython and CPython.

The stream is text, one record per LF-terminated line. The first line is a
JSON object (the header, see :func:`header`); every other line is
tab-separated and starts with a one-letter kind, so ``nc`` shows it
readably and ``line.rstrip("\\n").split("\\t")`` parses it. A missing value
is ``-``. Times are ms since tracing started (the client connected), sizes
are bytes::

    S  ms  free  alloc  largest  stack  tasks  gcs  dropped   a sample
    M  ms  label                                              a marker
    G  ms  alloc_before  alloc_after                          a library gc.collect
    E  ms  error  where                                       e.g. MemoryError
    R  ms  name  count  bytes  region_ms  inexact             region totals

``gcs`` counts the collections observed since tracing started, ``dropped``
the lines (samples or events) lost since the previous sample line because
the client read too slowly.

Lines are encoded straight into a caller's bytearray (``put_*`` and
``*_line`` functions return the new end offset, or -1 when the line does
not fit, writing nothing usable): encoding ints allocates nothing.
Region totals come from :mod:`monitoring.regions`.
"""

import json

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

FORMAT = "mpmon-trace"
VERSION = const(1)
_TAB = const(9)
_LF = const(10)
_DASH = const(45)
_SPACE = const(32)

# the header's "columns" (kind -> its columns, space-separated) and "units"
# (unit -> the columns in that unit) members; see README "Trace port"
_SCHEMA = (
    '"columns": {"S": "ms free alloc largest stack tasks gcs dropped", "M": "ms label", '
    '"G": "ms alloc_before alloc_after", "E": "ms error where", '
    '"R": "ms name count bytes region_ms inexact"}, '
    '"units": {"ms": "ms region_ms", '
    '"B": "free alloc largest stack alloc_before alloc_after bytes", '
    '"count": "tasks gcs count inexact", "lines": "dropped", "text": "label error where name"}'
)


def header(device, platform, version, heap_total, interval_ms, extra=None):
    """The header line (bytes, LF-terminated): a JSON object with the
    format name and version, the device, platform, MicroPython version,
    heap total (B), sample interval (ms), columns per line kind and units.
    ``extra`` (a dict of JSON-able values) is added."""
    d = {"format": FORMAT, "version": VERSION, "device": device, "platform": platform,
         "micropython": version, "heap_total": heap_total, "interval_ms": interval_ms}
    if extra:
        for k in extra:
            d[k] = extra[k]
    return (json.dumps(d)[:-1] + ", " + _SCHEMA + "}\n").encode()


def put_int(buf, pos, end, n):
    """Write ``n`` (an int, or None for ``-``) at ``buf[pos:]``, not past
    ``end``; returns the new position or -1."""
    if pos < 0:
        return -1
    if n is None:
        if pos >= end:
            return -1
        buf[pos] = _DASH
        return pos + 1
    if n < 0:
        if pos >= end:
            return -1
        buf[pos] = _DASH
        pos += 1
        n = -n
    k = 1
    t = n
    while t >= 10:
        t //= 10
        k += 1
    if pos + k > end:
        return -1
    i = pos + k - 1
    while i >= pos:
        buf[i] = 48 + n % 10
        n //= 10
        i -= 1
    return pos + k


def put_text(buf, pos, end, s):
    """Write ``s`` (bytes, bytearray or str) at ``buf[pos:]``; tabs, LF
    and other control bytes become spaces so a label never breaks a line.
    A str is encoded as UTF-8 (that allocates; bytes do not)."""
    if pos < 0:
        return -1
    if isinstance(s, str):
        s = s.encode()
    n = len(s)
    if pos + n > end:
        return -1
    for i in range(n):
        b = s[i]
        buf[pos + i] = _SPACE if b < 32 or b == 127 else b
    return pos + n


def _tab(buf, pos, end):
    if pos < 0 or pos >= end:
        return -1
    buf[pos] = _TAB
    return pos + 1


def _kind(buf, pos, end, letter):
    if pos + 2 > end:
        return -1
    buf[pos] = letter
    buf[pos + 1] = _TAB
    return pos + 2


def _lf(buf, pos, end):
    if pos < 0 or pos >= end:
        return -1
    buf[pos] = _LF
    return pos + 1


def sample_line(buf, pos, end, ms, free, alloc, largest, stack, tasks, gcs, dropped):
    """Encode an ``S`` line; None values are written ``-``."""
    p = _kind(buf, pos, end, 83)
    p = put_int(buf, p, end, ms)
    p = put_int(buf, _tab(buf, p, end), end, free)
    p = put_int(buf, _tab(buf, p, end), end, alloc)
    p = put_int(buf, _tab(buf, p, end), end, largest)
    p = put_int(buf, _tab(buf, p, end), end, stack)
    p = put_int(buf, _tab(buf, p, end), end, tasks)
    p = put_int(buf, _tab(buf, p, end), end, gcs)
    p = put_int(buf, _tab(buf, p, end), end, dropped)
    return _lf(buf, p, end)


def marker_line(buf, pos, end, ms, label):
    """Encode an ``M`` line."""
    p = put_int(buf, _kind(buf, pos, end, 77), end, ms)
    p = put_text(buf, _tab(buf, p, end), end, label)
    return _lf(buf, p, end)


def gc_line(buf, pos, end, ms, before, after):
    """Encode a ``G`` line (a collection run by the library)."""
    p = put_int(buf, _kind(buf, pos, end, 71), end, ms)
    p = put_int(buf, _tab(buf, p, end), end, before)
    p = put_int(buf, _tab(buf, p, end), end, after)
    return _lf(buf, p, end)


def error_line(buf, pos, end, ms, error, where):
    """Encode an ``E`` line (``error`` e.g. ``b"MemoryError"``)."""
    p = put_int(buf, _kind(buf, pos, end, 69), end, ms)
    p = put_text(buf, _tab(buf, p, end), end, error)
    p = put_text(buf, _tab(buf, p, end), end, where)
    return _lf(buf, p, end)


def region_line(buf, pos, end, ms, region):
    """Encode an ``R`` line with a :class:`regions.Region`'s totals."""
    p = put_int(buf, _kind(buf, pos, end, 82), end, ms)
    p = put_text(buf, _tab(buf, p, end), end, region.bname)
    p = put_int(buf, _tab(buf, p, end), end, region.count)
    p = put_int(buf, _tab(buf, p, end), end, region.bytes)
    p = put_int(buf, _tab(buf, p, end), end, region.ms)
    p = put_int(buf, _tab(buf, p, end), end, region.inexact)
    return _lf(buf, p, end)
