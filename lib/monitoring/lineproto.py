"""Influx line protocol encoder.

Pure module. One point per source::

    measurement,host=pico-1,label=value field=1i,other=2.5,flag=true,s="text" 1700000000000000000

Escaping, per the line protocol reference:

- measurement: ``,`` and space are backslash-escaped;
- tag keys, tag values and field keys: ``,`` ``=`` and space;
- string field values: ``"`` and ``\\``.

Names never contain control characters: :mod:`monitoring.metrics` rejects
them when a source, label or field is created. In string field *values*,
control characters (which could break or inject a line) are replaced by
their escape text: LF becomes the two characters ``\\n``, CR ``\\r``, TAB
``\\t`` and any other ``\\xNN``.

Values: ints get the ``i`` suffix, floats are written with ``repr`` (full
precision, scientific notation where Python uses it), bools ``true`` and
``false``. NaN and infinities are not valid line protocol: such a field is
left out and counted in ``LineEncoder.fields_dropped``; a point left with no
field is not written at all.

Encoding writes into one preallocated line buffer. Escaped names are cached
per source, so encoding an int field allocates nothing.
"""

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_INF = float("inf")
_NINF = -_INF
_DEFAULT_LINE_MAX = const(1024)

# timestamp precision name -> (divisor of ns, name InfluxDB 1.x takes)
PRECISIONS = {
    "s": (1000000000, "s"),
    "ms": (1000000, "ms"),
    "us": (1000, "u"),
    "ns": (1, "ns"),
}


def _escape(s, specials):
    out = None
    for ch in s:
        if ch in specials:
            out = []
            break
    if out is None:
        return s.encode()
    for ch in s:
        if ch in specials:
            out.append("\\")
        out.append(ch)
    return "".join(out).encode()


def escape_measurement(name):
    """Measurement name as line-protocol bytes (``,`` and space escaped)."""
    return _escape(name, ", ")


def escape_key(name):
    """Tag key, tag value or field key as bytes (``,`` ``=`` space escaped)."""
    return _escape(name, ",= ")


def escape_string(value):
    """String field value, quoted, as bytes (see the module docstring)."""
    out = ['"']
    for ch in value:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\")
            out.append(ch)
        elif o < 32 or o == 127:
            if o == 10:
                out.append("\\\\n")
            elif o == 13:
                out.append("\\\\r")
            elif o == 9:
                out.append("\\\\t")
            else:
                out.append("\\\\x%02x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out).encode()


def point_head(src, host):
    """``measurement,host=...,labels`` for a source, as bytes."""
    parts = [escape_measurement(src.name)]
    tags = [("host", host)]
    for kv in src.labels:
        tags.append(kv)
    tags.sort()
    for k, v in tags:
        parts.append(b"," + escape_key(k) + b"=" + escape_key(v))
    return b"".join(parts)


class LineEncoder:
    """Encodes one source's point at a time into a reusable line buffer.

    ``encode(src, host, ts)`` returns the number of bytes of the encoded
    line (ending with LF) in ``self.line``, or 0 when nothing was written
    (no valid field, or the line longer than ``line_max``: counted in
    ``points_too_long``). ``ts`` is the timestamp suffix as bytes (``b""``
    for none), see :func:`timestamp_suffix`.
    """

    def __init__(self, line_max=_DEFAULT_LINE_MAX):
        self.line = bytearray(line_max)
        self.mv = memoryview(self.line)
        self.fields_dropped = 0
        self.points_too_long = 0
        self._pos = 0

    def _put(self, b):
        p = self._pos
        n = len(b)
        if p + n > len(self.line):
            raise IndexError
        self.mv[p:p + n] = b
        self._pos = p + n

    def _put_int(self, v):
        if v < 0:
            self._put(b"-")
            v = -v
        line = self.line
        p = self._pos
        # count digits first, then write them right to left
        n = 1
        t = v
        while t >= 10:
            t //= 10
            n += 1
        if p + n > len(line):
            raise IndexError
        i = p + n - 1
        while True:
            line[i] = 48 + v % 10
            v //= 10
            if v == 0:
                break
            i -= 1
        self._pos = p + n

    def _cache(self, src, host):
        c = src.cache
        if c is None or c[0] is not host:
            keys = {}
            for k in src.fields:
                keys[k] = escape_key(k) + b"="
            c = (host, point_head(src, host), keys)
            src.cache = c
        return c

    def encode(self, src, host, ts=b""):
        """Encode ``src``'s current fields; see the class docstring."""
        c = self._cache(src, host)
        keys = c[2]
        fields = src.fields
        self._pos = 0
        try:
            self._put(c[1])
            sep = b" "
            nfields = 0
            for k in fields:
                v = fields[k]
                t = type(v)
                if t is float and (v != v or v == _INF or v == _NINF):
                    self.fields_dropped += 1
                    continue
                self._put(sep)
                sep = b","
                self._put(keys[k])
                if t is int:
                    self._put_int(v)
                    self._put(b"i")
                elif t is float:
                    self._put(repr(v).encode())
                elif t is bool:
                    self._put(b"true" if v else b"false")
                else:
                    self._put(escape_string(v))
                nfields += 1
            if nfields == 0:
                return 0
            self._put(ts)
            self._put(b"\n")
        except IndexError:
            self.points_too_long += 1
            return 0
        return self._pos


def timestamp_suffix(ns, precision="ns"):
    """`` <digits>`` for ``ns`` nanoseconds since 1970 at ``precision``."""
    return b" %d" % (ns // PRECISIONS[precision][0])
