"""Prometheus text exposition format 0.0.4, written source by source into a
small reusable buffer, and the request routing of the ``/metrics`` endpoint.

Pure module: no sockets, no asyncio. Runs on MicroPython and CPython.

One metric family per field of every active source::

    # HELP app_requests_total app: requests
    # TYPE app_requests_total counter
    app_requests_total{host="pico-1",room="hall"} 42

Naming and typing rules (the decisions this module documents):

- the metric name is ``<source>_<field>``, every character outside
  ``[a-zA-Z0-9_:]`` replaced by ``_`` (one ``_`` per character, also for
  non-ASCII ones) and ``_`` put first when the name would start with a
  digit;
- fields counted with :meth:`Source.incr` are ``counter`` families and get
  the conventional ``_total`` suffix (not doubled when the field name ends
  with ``_total`` already); every other field is a ``gauge``;
- bools are gauges of value ``0`` or ``1``;
- a str field becomes an info-style gauge ``<source>_<field>_info`` of
  value ``1`` whose ``value`` label carries the string;
- floats are written with ``repr`` (NaN as ``NaN``, infinities as ``+Inf``
  and ``-Inf``), ints as decimal digits;
- labels: ``host`` (the registry's host name) first, then the source's
  labels in key order. Label keys are sanitised to
  ``[a-zA-Z_][a-zA-Z0-9_]*``; a key that would clash with ``host``,
  ``value``, an earlier key or the reserved ``__`` prefix is prefixed with
  ``label_`` until it is unique. Label values escape ``\\``, ``"`` and
  line feed as ``\\\\``, ``\\"`` and ``\\n``;
- ``# HELP`` (``<source>: <field>``, escaped) and ``# TYPE`` come once per
  family. Two fields of different sources whose sanitised names clash
  would make two families of one name, which Prometheus refuses: the field
  of the source registered later is left out (counted in
  ``PromEncoder.clashes``);
- no timestamps: Prometheus stamps the scrape.

Streaming: :meth:`PromEncoder.chunks` is a generator that fills a caller's
bytearray family by family and yields how many bytes are ready; the caller
sends ``buf[:n]`` before resuming it. The whole body is never in RAM. A
family longer than the buffer (a very long string value) is left out and
counted in ``PromEncoder.too_long``. Escaped names are cached per source
(rebuilt when a field is added or the host changes); writing an int field
allocates nothing.
"""

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_INF = float("inf")
_NINF = -_INF
_LF = const(10)
_NAME_OK = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
_DIGITS = b"0123456789"
# ints within these bounds have at most 19 digits and a sign
_BIG = 10 ** 18
_NBIG = -_BIG

# kinds of field, decided when a source's cache is built
_GAUGE = const(0)
_COUNTER = const(1)
_INFO = const(2)

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
_T_COUNTER = b" counter\n"
_T_GAUGE = b" gauge\n"


def sanitize_name(name, colon=True):
    """``name`` as a metric name (``colon``) or label name: characters
    outside the allowed alphabet become ``_``, a leading digit gets ``_``
    put before it. Returns a str."""
    out = []
    for ch in name:
        if ch in _NAME_OK or (colon and ch == ":"):
            out.append(ch)
        else:
            out.append("_")
    s = "".join(out)
    if not s or s[0] in "0123456789":
        s = "_" + s
    return s


def escape_label_value(v):
    """A label value escaped for the text format (``\\``, ``"``, LF)."""
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(v):
    """HELP text escaped for the text format (``\\`` and LF)."""
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def metric_name(src_name, field, kind):
    """The family name of ``field`` of source ``src_name`` (kind 0 gauge,
    1 counter, 2 string info)."""
    n = sanitize_name(src_name + "_" + field)
    if kind == _COUNTER and not n.endswith("_total"):
        n += "_total"
    elif kind == _INFO:
        n += "_info"
    return n


def label_keys(keys):
    """Sanitised, unique label names for the source label ``keys``."""
    used = ["host", "value"]
    out = []
    for k in keys:
        s = sanitize_name(k, False)
        while s in used or s.startswith("__"):
            s = "label_" + s
        used.append(s)
        out.append(s)
    return out


def _put_int(buf, p, n):
    # decimal digits of n at buf[p:]; returns the end; allocates nothing
    # for small ints
    if n < 0:
        buf[p] = 45  # "-"
        p += 1
        n = -n
    d = 1
    k = n
    while k >= 10:
        k //= 10
        d += 1
    end = p + d
    i = end - 1
    while True:
        buf[i] = _DIGITS[n % 10]
        n //= 10
        if n == 0:
            break
        i -= 1
    return end


def float_text(v):
    """A float as the text format writes it."""
    if v != v:
        return b"NaN"
    if v == _INF:
        return b"+Inf"
    if v == _NINF:
        return b"-Inf"
    return b"%r" % v


class _Entry:
    # the cached text of one source: label block, escaped names per field
    def __init__(self, registry, src, n):
        self.n = n
        self.host = registry.host
        lab = ['{host="%s"' % escape_label_value(registry.host)]
        keys = label_keys([kv[0] for kv in src.labels])
        for i in range(len(keys)):
            lab.append('%s="%s"' % (keys[i], escape_label_value(src.labels[i][1])))
        self.labels = ",".join(lab).encode()
        self.help = escape_help(src.name + ": ").encode()
        # per field: kind (255: left out), family name, HELP text; one
        # allocation each, sized once
        self.kinds = bytearray(n)
        self.names = [None] * n
        self.helps = [None] * n
        # per str or float field: last value and its text
        self.vals = None


class PromEncoder:
    """Writes the exposition of a registry's active sources.

    One encoder may serve several scrapes at once (each with its own
    buffer); it holds the name caches and the counts ``too_long`` (families
    longer than the buffer, left out) and ``clashes`` (fields left out
    because a source that claimed the name first owns it).
    """

    def __init__(self):
        self._cache = {}
        self.too_long = 0
        self.clashes = 0

    def _taken(self, registry, src, name):
        # is family ``name`` already written for another registered source?
        cache = self._cache
        for s in registry.sources:
            if s is src:
                continue
            e = cache.get(s)
            if e is None:
                continue
            names = e.names
            for i in range(len(names)):
                if names[i] == name and e.kinds[i] != 255:
                    return True
        return False

    def _entry(self, registry, src):
        c = self._cache.get(src)
        n = len(src.names)
        if c is not None and c.n == n and c.host is registry.host:
            return c
        if len(self._cache) > 2 * len(registry.sources) + 8:
            self._cache = {}  # forget removed sources
        if c is not None:
            del self._cache[src]
        e = _Entry(registry, src, n)
        names = src.names
        for i in range(n):
            f = names[i]
            v = src.fields.get(f)
            if type(v) is str or type(v) is float:
                if e.vals is None:
                    e.vals = [None] * (2 * n)
            if type(v) is str:
                kind = _INFO
            elif f in src.counters:
                kind = _COUNTER
            else:
                kind = _GAUGE
            name = metric_name(src.name, f, kind).encode()
            e.names[i] = name
            if self._taken(registry, src, name):
                self.clashes += 1
                e.kinds[i] = 255
                continue
            e.kinds[i] = kind
            e.helps[i] = escape_help(f).encode()
        self._cache[src] = e
        return e

    def chunks(self, registry, buf):
        """Generator: fill ``buf`` (a bytearray) with the exposition of
        ``registry``'s active sources, yielding the number of bytes ready
        each time the next family does not fit, and once at the end (if
        anything is left). Each source's sampler runs just before it is
        written."""
        p = 0
        size = len(buf)
        sources = registry.sources
        i = 0
        while i < len(sources):
            src = sources[i]
            i += 1
            if not src.active:
                continue
            src.sample()
            e = self._entry(registry, src)
            names = src.names
            fields = src.fields
            labels = e.labels
            shelp = e.help
            for j in range(e.n):
                kind = e.kinds[j]
                if kind == 255 or j >= len(names):
                    continue
                v = fields[names[j]]
                t = type(v)
                if t is int:
                    val = None
                    vlen = 20 if (v < _BIG and v > _NBIG) else len(b"%d" % v)
                elif t is bool:
                    val = b"1" if v else b"0"
                    vlen = 1
                elif t is float or t is str:
                    # the text of the last value, kept while it is the same
                    vals = e.vals
                    k = 2 * j
                    last = vals[k]
                    if last is not v and not (type(last) is t and last == v):
                        vals[k] = v
                        vals[k + 1] = (float_text(v) if t is float
                                       else escape_label_value(v).encode())
                    val = vals[k + 1]
                    vlen = len(val)
                else:
                    continue
                name = e.names[j]
                fhelp = e.helps[j]
                typ = _T_COUNTER if kind == _COUNTER else _T_GAUGE
                ln = len(name)
                need = (7 + ln + 1 + len(shelp) + len(fhelp) + 8 + ln + len(typ) + ln +
                        len(labels) + vlen + (13 if kind == _INFO else 3))
                if need > size:
                    self.too_long += 1
                    continue
                if p + need > size:
                    yield p
                    p = 0
                q = p + 7
                buf[p:q] = b"# HELP "
                p = q + ln
                buf[q:p] = name
                buf[p] = 32
                p += 1
                q = p + len(shelp)
                buf[p:q] = shelp
                p = q + len(fhelp)
                buf[q:p] = fhelp
                q = p + 8
                buf[p:q] = b"\n# TYPE "
                p = q + ln
                buf[q:p] = name
                q = p + len(typ)
                buf[p:q] = typ
                p = q + ln
                buf[q:p] = name
                q = p + len(labels)
                buf[p:q] = labels
                if kind == _INFO:
                    p = q + 8
                    buf[q:p] = b',value="'
                    q = p + vlen
                    buf[p:q] = val
                    p = q + 5
                    buf[q:p] = b'"} 1\n'
                    continue
                buf[q] = 125  # }
                buf[q + 1] = 32
                q += 2
                if val is None:
                    q = _put_int(buf, q, v)
                else:
                    buf[q:q + vlen] = val
                    q += vlen
                buf[q] = _LF
                p = q + 1
        if p:
            yield p


def route(head):
    """Status for a request head (bytes up to, not including, the blank
    line): 200 for ``GET /metrics`` (a query string is ignored), 404 for a
    GET of any other path, 405 for another method, 400 for a request line
    that is not HTTP."""
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    if line.endswith(b"\r"):
        line = line[:-1]
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1.") or not parts[1].startswith(b"/"):
        return 400
    method = parts[0]
    if not method.isalpha() or not method.isupper():
        return 400
    if method != b"GET":
        return 405
    path = parts[1]
    q = path.find(b"?")
    if q >= 0:
        path = path[:q]
    return 200 if path == b"/metrics" else 404


def wants_chunked(head):
    """True when the request line of ``head`` says HTTP/1.1: the answer
    then goes out in chunked transfer encoding, whose closing chunk tells
    the scraper the exposition is whole."""
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    return line.rstrip(b"\r").endswith(b" HTTP/1.1")


def chunk_header(out, n):
    """Write the chunk-size line for ``n`` bytes (hex, CRLF) into the
    bytearray ``out`` (at least 10 bytes); returns its length."""
    k = 0
    m = n
    while True:
        k += 1
        m >>= 4
        if not m:
            break
    for i in range(k):
        d = (n >> (4 * (k - 1 - i))) & 15
        out[i] = d + (48 if d < 10 else 87)
    out[k] = 13
    out[k + 1] = 10
    return k + 2


_REASONS = (b"400 Bad Request", b"404 Not Found", b"405 Method Not Allowed",
            b"408 Request Timeout", b"413 Request Entity Too Large")


def response_head(status, chunked=False):
    """The response status line and headers (``Connection: close``) for
    ``status`` (200, 400, 404, 405, 408 or 413); an error response
    carries its status line as a text body. A 200 is HTTP/1.1 with
    chunked transfer encoding when ``chunked``, else HTTP/1.0 ended by
    closing the connection."""
    if status == 200:
        if chunked:
            return (b"HTTP/1.1 200 OK\r\nContent-Type: " + CONTENT_TYPE +
                    b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        return (b"HTTP/1.0 200 OK\r\nContent-Type: " + CONTENT_TYPE +
                b"\r\nConnection: close\r\n\r\n")
    for line in _REASONS:
        if int(line[:3]) == status:
            break
    return (b"HTTP/1.0 " + line + b"\r\nContent-Type: text/plain\r\n" +
            (b"Allow: GET\r\n" if status == 405 else b"") +
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (len(line) + 1) + line + b"\n")
