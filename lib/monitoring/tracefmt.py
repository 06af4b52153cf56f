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

from .compat import const

FORMAT = "mpmon-trace"
VERSION = const(1)
_TAB = const(9)
_LF = const(10)
_DASH = const(45)
_SPACE = const(32)

# the end of the header: its "columns" (kind -> its columns, space-separated)
# and "units" (unit -> the columns in that unit) members; see docs/trace.md
_SCHEMA = (
    ', "columns": {"S": "ms free alloc largest stack tasks gcs dropped", "M": "ms label", '
    '"G": "ms alloc_before alloc_after", "E": "ms error where", '
    '"R": "ms name count bytes region_ms inexact"}, '
    '"units": {"ms": "ms region_ms", '
    '"B": "free alloc largest stack alloc_before alloc_after bytes", '
    '"count": "tasks gcs count inexact", "lines": "dropped", "text": "label error where name"}}\n'
)


def header(device, platform, version, heap_total, interval_ms, extra=None):
    """The header line (bytes, LF-terminated): a JSON object with the
    format name and version, the device, platform, MicroPython version,
    heap total (B), sample interval (ms), columns per line kind and units.
    ``extra`` (a dict of JSON-able values) is added."""
    d = {"format": FORMAT, "version": VERSION, "device": device, "platform": platform,
         "micropython": version, "heap_total": heap_total, "interval_ms": interval_ms}
    if extra:
        d.update(extra)
    return (json.dumps(d)[:-1] + _SCHEMA).encode()


def put_int(buf, pos, end, n):
    """Write ``n`` (an int, or None for ``-``) at ``buf[pos:]``, not past
    ``end``; returns the new position or -1."""
    if n is None or n < 0:
        pos = _byte(buf, pos, end, _DASH)
        if n is None:
            return pos
        n = -n
    k = pos + 1  # the end of the digits
    t = n
    while t >= 10:
        t //= 10
        k += 1
    if pos < 0 or k > end:
        return -1
    i = k
    while i > pos:
        i -= 1
        buf[i] = 48 + n % 10
        n //= 10
    return k


_BYTES = (bytes, bytearray, memoryview)  # a tuple built once: the check allocates nothing


def put_text(buf, pos, end, s):
    """Write ``s`` (bytes, bytearray or str) at ``buf[pos:]``; tabs, LF
    and other control bytes become spaces so a label never breaks a line.
    A str is encoded as UTF-8 (that allocates; bytes do not); anything
    else is written as its ``str()``, never raising into the caller."""
    if isinstance(s, str):
        s = s.encode()
    elif not isinstance(s, _BYTES):
        s = str(s).encode()
    n = len(s)
    if pos < 0 or pos + n > end:
        return -1
    for i in range(n):
        b = s[i]
        buf[pos + i] = _SPACE if b < 32 or b == 127 else b
    return pos + n


def _byte(buf, pos, end, b):
    # one byte (a tab, LF, a kind letter...) at buf[pos]
    if pos < 0 or pos >= end:
        return -1
    buf[pos] = b
    return pos + 1


def _int(buf, pos, end, n):
    # a tab and an int column (after the kind letter: the time)
    return put_int(buf, _byte(buf, pos, end, _TAB), end, n)


def sample_line(buf, pos, end, ms, free, alloc, largest, stack, tasks, gcs, dropped):
    """Encode an ``S`` line; None values are written ``-``."""
    p = _int(buf, _byte(buf, pos, end, 83), end, ms)  # "S", tab, time
    p = _int(buf, p, end, free)
    p = _int(buf, p, end, alloc)
    p = _int(buf, p, end, largest)
    p = _int(buf, p, end, stack)
    p = _int(buf, p, end, tasks)
    p = _int(buf, p, end, gcs)
    p = _int(buf, p, end, dropped)
    return _byte(buf, p, end, _LF)


def marker_line(buf, pos, end, ms, label):
    """Encode an ``M`` line."""
    p = _int(buf, _byte(buf, pos, end, 77), end, ms)
    return _byte(buf, put_text(buf, _byte(buf, p, end, _TAB), end, label), end, _LF)


def gc_line(buf, pos, end, ms, before, after):
    """Encode a ``G`` line (a collection run by the library)."""
    p = _int(buf, _byte(buf, pos, end, 71), end, ms)
    p = _int(buf, p, end, before)
    return _byte(buf, _int(buf, p, end, after), end, _LF)


def error_line(buf, pos, end, ms, error, where):
    """Encode an ``E`` line (``error`` e.g. ``b"MemoryError"``)."""
    p = _int(buf, _byte(buf, pos, end, 69), end, ms)
    p = put_text(buf, _byte(buf, p, end, _TAB), end, error)
    return _byte(buf, put_text(buf, _byte(buf, p, end, _TAB), end, where), end, _LF)


def region_line(buf, pos, end, ms, region):
    """Encode an ``R`` line with a :class:`regions.Region`'s totals."""
    p = _int(buf, _byte(buf, pos, end, 82), end, ms)
    p = put_text(buf, _byte(buf, p, end, _TAB), end, region.bname)
    p = _int(buf, p, end, region.count)
    p = _int(buf, p, end, region.bytes)
    p = _int(buf, p, end, region.ms)
    return _byte(buf, _int(buf, p, end, region.inexact), end, _LF)
