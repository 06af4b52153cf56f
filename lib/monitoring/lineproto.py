"""Influx line protocol encoder.

Pure module. One point per source::

    measurement,host=pico-1,label=value field=1i,other=2.5,flag=true,s="text" 1700000000000000000

Escaping, per the line protocol reference:

- measurement: ``,`` and space are backslash-escaped;
- tag keys, tag values and field keys: ``,`` ``=`` and space;
- string field values: ``"`` and ``\\``.

Names never contain control characters: :mod:`monitoring.metrics` rejects
them when a source, label or field is created. String field *values* are
written as they are, every control character included (InfluxDB and
Telegraf's parser store what is between the quotes, unescaping only ``\\"``
and ``\\\\``), except an LF, which a line-protocol listener reading a
stream takes for the end of the line: :class:`LineEncoder` writes it as
the byte its ``lf`` says (see there).

Values: ints get the ``i`` suffix, bools ``true`` and ``false``; floats
are written by :func:`float_text` with 17 significant digits, correctly
rounded with integer arithmetic (trailing zeros dropped), so the server
parses back exactly the float that was set: MicroPython's own ``repr``
is not always exact in the last digit. Where the runtime's float is single
precision (most board builds), that is the float32 value, widened. NaN, infinities and ints outside the signed 64-bit range are not
valid line protocol: such a field is left out and counted in
``LineEncoder.fields_dropped``; a point left with no field is not written.

Encoding writes into one preallocated line buffer. Escaped names are cached
per source, so encoding an int field allocates nothing.
"""

import math

from .compat import const

_INF = float("inf")
_NINF = -_INF
# line protocol integers are signed 64-bit
_I64_MAX = (1 << 63) - 1
_I64_MIN = -(1 << 63)
_DEFAULT_LINE_MAX = const(1024)

# timestamp precision name -> (divisor of ns, name InfluxDB 1.x takes)
PRECISIONS = {
    "s": (1000000000, "s"),
    "ms": (1000000, "ms"),
    "us": (1000, "u"),
    "ns": (1, "ns"),
}


# the mantissa bits of this runtime's float: 53 (double) or 24 (single)
_BITS = 53 if 2.0 ** 24 + 1.0 != 2.0 ** 24 else 24
_E16 = 10 ** 16
_E17 = 10 ** 17


def _rounded(m, e, k):
    # m * 2**e * 10**k rounded to an integer, half to even (exact: ints)
    num = m * 10 ** k if k >= 0 else m
    den = 10 ** -k if k < 0 else 1
    if e >= 0:
        num <<= e
    else:
        den <<= -e
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q & 1):
        q += 1
    return q


def float_text(v):
    """``v`` (finite) as line-protocol bytes that parse back to exactly
    ``v``: 17 significant digits, correctly rounded, trailing zeros
    dropped. Allocates (long ints): the encoder caches it per value."""
    if v == 0:
        return b"0.0"
    sign = "-" if v < 0 else ""
    v = abs(v)
    mant, exp = math.frexp(v)  # v = mant * 2**exp, 0.5 <= mant < 1
    m = int(mant * 2.0 ** _BITS)  # exact
    e = exp - _BITS  # v = m * 2**e
    k = 16 - int(math.floor(math.log10(v)))  # aim: 17 digits in round(v * 10**k)
    n = _rounded(m, e, k)
    if n >= _E17:  # log10's estimate was one off, either way
        k -= 1
        n = _rounded(m, e, k)
    elif n < _E16:
        k += 1
        n = _rounded(m, e, k)
    d = str(n)
    t = d.rstrip("0")
    k -= len(d) - len(t)
    d = t  # v = d * 10**-k
    p = len(d) - k  # digits before the point
    if len(d) <= p <= 17:
        t = "%s%s%s.0" % (sign, d, "0" * (p - len(d)))  # ".0": a float to a reader too
    elif 0 < p < len(d):
        t = "%s%s.%s" % (sign, d[:p], d[p:])
    elif -5 < p <= 0:
        t = "%s0.%s%s" % (sign, "0" * -p, d)
    else:
        t = "%s%s%s%se%d" % (sign, d[0], "." if len(d) > 1 else "", d[1:], p - 1)
    return t.encode()


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


# the byte that stands for an LF inside a string value in a buffer of
# LF-framed lines (the Influx reporter's queue): 0xFF is never part of UTF-8,
# so never of an encoded str; the HTTP sender writes an LF in its place
STANDIN = const(0xFF)


def escape_string(value, lf=10):
    """String field value, quoted, as bytes: ``"`` and ``\\`` escaped, every
    other character as it is, except an LF, written as the byte ``lf``
    (10: as it is; :data:`STANDIN`); with ``lf`` None, a value holding an
    LF gives None (it cannot be written)."""
    raw = value.encode()
    if raw.find(b"\n") >= 0:
        if lf is None:
            return None
        if lf != 10:
            raw = raw.replace(b"\n", bytes((lf,)))
    if raw.find(b"\\") >= 0:
        raw = raw.replace(b"\\", b"\\\\")
    if raw.find(b'"') >= 0:
        raw = raw.replace(b'"', b'\\"')
    return b'"' + raw + b'"'


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


# a source's cache entry (src.cache), a tuple: the host it was made for, the
# point's head (measurement and tags), per field its escaped key and "=",
# per field the last float or str value seen and its encoding, and the
# encoder's ``lf`` the encodings were made with
_HOST = const(0)
_HEAD = const(1)
_KEYS = const(2)
_LAST = const(3)
_TEXT = const(4)
_LF = const(5)


class LineEncoder:
    """Encodes one source's point at a time into a bytearray.

    ``encode(src, host, ts)`` writes the line (ending with LF) at the start
    of ``self.line`` and returns its length, or 0 when nothing was written
    (no valid field, or the line longer than ``line_max``: counted in
    ``points_too_long``). ``encode_into(out, start, limit, ...)`` writes it
    into another buffer instead (the reporter encodes straight into its
    queue). ``ts`` is the timestamp suffix as bytes (``b""`` for none), see
    :func:`timestamp_suffix`.

    Escaped names are cached per source; float and string values are
    cached per field while they stay the same, so encoding a point whose
    values did not change, or changed only in int fields, allocates nothing.

    ``lf``: what an LF inside a string value becomes: 10, itself (for a
    caller that frames lines otherwise, or a peer that reads quoted LFs);
    :data:`STANDIN`, the byte standing for it in a queue of LF-framed
    lines (its sender writes the LF); None: such a field cannot be written
    (a line-protocol listener reading a stream splits lines at every LF):
    it is left out, counted in ``fields_dropped``.
    """

    def __init__(self, line_max=_DEFAULT_LINE_MAX, lf=10):
        # ``line`` is allocated by the first encode(): the reporter only
        # uses encode_into, and should not carry an unused buffer
        self.line = None
        self.mv = None
        self.line_max = line_max
        self.lf = lf
        self.fields_dropped = 0
        self.points_too_long = 0
        self.rest = 0  # see encode_into's split

    def _cache(self, src, host):
        # src's cache entry made anew (for a new source, new fields or
        # another host)
        names = src.names
        keys = [escape_key(k) + b"=" for k in names]
        c = src.cache = (host, point_head(src, host), keys, [None] * len(names),
                         [None] * len(names), self.lf)
        return c

    def _value(self, c, i, v, t):
        # encoding of a float or str value, reused while the value is equal
        last = c[_LAST]
        if last[i] is not None and type(last[i]) is t and last[i] == v:
            return c[_TEXT][i]
        b = float_text(v) if t is float else escape_string(v, self.lf)
        last[i] = v
        c[_TEXT][i] = b
        return b

    def encode(self, src, host, ts=b""):
        """Encode ``src`` into ``self.line``; see the class docstring."""
        if self.line is None:
            self.line = bytearray(self.line_max)
            self.mv = memoryview(self.line)
        n = self.encode_into(self.mv, 0, self.line_max, src, host, ts)
        return n if n > 0 else 0

    def encode_into(self, out, start, limit, src, host, ts=b"", first=0, split=False):
        """Encode ``src`` into ``out[start:limit]``; returns the end offset;
        0 if there was nothing to write or the line is longer than
        ``line_max`` (counted in ``points_too_long``); -1 if it did not fit
        in a room smaller than ``line_max`` (the caller may make room and
        call again).

        With ``split``, a point longer than ``line_max`` ends its line at the
        last field that fits and ``self.rest`` is the index of the next
        field (0 when the point is complete): the caller encodes the rest
        with ``first=self.rest`` as another line of the same measurement,
        tags and timestamp, which InfluxDB stores as one point. Only a
        single field longer than a line is then too long."""
        c = src.cache
        if c is None or c[_HOST] is not host or c[_LF] is not self.lf:
            c = self._cache(src, host)
        end = limit if limit - start < self.line_max else start + self.line_max
        self.rest = 0
        head = c[_HEAD]
        fields_at = start + len(head)
        if fields_at > end:
            return self._no_room(start, end)
        out[start:fields_at] = head
        lf = len(ts)
        dropped = self.fields_dropped  # a point not written counts nothing
        # the fields end before the timestamp and the LF
        p = self._put_fields(out, fields_at, end - lf - 1, c, src, first)
        if p < 0:  # a field did not fit
            p = -p
            if not (split and p > fields_at and end - start >= self.line_max):
                self.fields_dropped = dropped
                self.rest = 0
                return self._no_room(start, end)
            # a full line: it ends before that field, the rest goes next
        if p == fields_at:  # no valid field
            return 0
        out[p:p + lf] = ts
        out[p + lf] = 10
        return p + lf + 1

    def _put_fields(self, out, p, end, c, src, first):
        # " k=v,k=v..." for the fields from ``first`` at out[p:end]; returns
        # the end of the last field written, negated when a field did not
        # fit (self.rest is then its index). Fields that cannot be written
        # are counted in fields_dropped. Locals and inline code: the hot
        # path, called per point.
        keys = c[_KEYS]
        names = src.names
        fields = src.fields
        sep = 32  # space, then commas
        for i in range(first, len(names)):
            v = fields[names[i]]
            t = type(v)
            if t is int:
                if v > _I64_MAX or v < _I64_MIN:
                    self.fields_dropped += 1
                    continue
                b = None
                # its length: the digits, the "i" and any "-"
                n = 2 if v >= 0 else 3
                x = v if v >= 0 else -v
                while x >= 10:
                    x //= 10
                    n += 1
            elif t is bool:
                b = b"true" if v else b"false"
                n = len(b)
            elif t is float and (v != v or v == _INF or v == _NINF):
                self.fields_dropped += 1
                continue
            else:
                b = self._value(c, i, v, t)
                if b is None:  # a string that cannot be written (see lf)
                    self.fields_dropped += 1
                    continue
                n = len(b)
            k = keys[i]
            q = p + 1 + len(k)  # where the value starts
            if q + n > end:
                self.rest = i
                return -p
            out[p] = sep
            sep = 44
            out[p + 1:q] = k
            p = q + n
            if b is None:
                if v < 0:
                    out[q] = 45  # -
                    v = -v
                out[p - 1] = 105  # i
                j = p - 2  # the digits, right to left
                while True:
                    out[j] = 48 + v % 10
                    v //= 10
                    if not v:
                        break
                    j -= 1
            else:
                out[q:p] = b
        return p

    def _no_room(self, start, end):
        if end - start >= self.line_max:
            self.points_too_long += 1
            return 0
        return -1


def timestamp_suffix(ns, precision="ns"):
    """`` <digits>`` for ``ns`` nanoseconds since 1970 at ``precision``."""
    return b" %d" % (ns // PRECISIONS[precision][0])
