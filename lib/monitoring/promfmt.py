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

from .compat import const


# kinds of field, decided when a source's cache is built; _OUT: left out
_GAUGE = const(0)
_COUNTER = const(1)
_INFO = const(2)
_OUT = const(255)
_TYPES = (b" gauge\n", b" counter\n", b" gauge\n")  # by kind

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
_CLOSE = b"Connection: close\r\n\r\n"


def sanitize_name(name, colon=True):
    """``name`` as a metric name (``colon``) or label name: characters
    outside the allowed alphabet become ``_``, a leading digit gets ``_``
    put before it. Returns a str."""
    s = ""
    for ch in name:
        # ASCII letters and digits, "_" and (colon) ":" are kept
        ok = ch < "\x80" and (ch.isalpha() or ch.isdigit()) or ch == "_" or colon and ch == ":"
        s += ch if ok else "_"
    return "_" + s if not s or s[0].isdigit() else s


def escape_label_value(v):
    """A label value escaped for the text format (``\\``, ``"``, LF)."""
    return escape_help(v).replace('"', '\\"')


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
    for k in keys:
        s = sanitize_name(k, False)
        while s in used or s.startswith("__"):
            s = "label_" + s
        used.append(s)
    return used[2:]


def _put(buf, p, a, b=b"", c=b""):
    # the bytes a, b and c at buf[p:]; returns the end
    q = p + len(a)
    buf[p:q] = a
    p = q + len(b)
    buf[q:p] = b
    q = p + len(c)
    buf[p:q] = c
    return q


def _put_int(buf, p, n):
    # "} ", the decimal digits of n and LF at buf[p:]: the end of an int or
    # bool family; returns the end; allocates nothing for small ints
    buf[p] = 125  # "}"
    buf[p + 1] = 32
    p += 2
    if n < 0:
        buf[p] = 45  # "-"
        p += 1
        n = -n
    end = p + 1
    k = n
    while k >= 10:
        k //= 10
        end += 1
    i = end
    while i > p:
        i -= 1
        buf[i] = 48 + n % 10
        n //= 10
    buf[end] = 10
    return end + 1


def float_text(v):
    """A float as the text format writes it."""
    if v - v:  # not 0.0: NaN or an infinity
        return b"NaN" if v != v else b"+Inf" if v > 0 else b"-Inf"
    return b"%r" % v


# a source's cache entry is a list: the host it was made for, its label
# block and HELP prefix, per field its kind, family name and escaped HELP
# text (each sized once; None for a field left out), and (made on first
# use) per str or float field the last value and its text
_HOST = const(0)
_LABELS = const(1)
_HELP = const(2)
_KINDS = const(3)
_FAMS = const(4)
_HELPS = const(5)
_VALS = const(6)


def _entry(enc, registry, src):
    # the cache entry of src, made again when it has new fields or the
    # registry another host
    e = enc._cache.get(src)
    n = len(src.names)
    if e and len(e[_KINDS]) == n and e[_HOST] is registry.host:
        return e
    if len(enc._cache) > 2 * len(registry.sources) + 8:
        enc._cache = {}  # forget removed sources
    lab = '{host="%s"' % escape_label_value(registry.host)
    keys = []
    for kv in src.labels:
        keys.append(kv[0])
    keys = label_keys(keys)
    for i in range(len(keys)):
        lab += ',%s="%s"' % (keys[i], escape_label_value(src.labels[i][1]))
    kinds = bytearray(n)
    fams = [None] * n
    helps = [None] * n
    for i in range(n):
        f = src.names[i]
        kind = (_INFO if type(src.fields.get(f)) is str else
                _COUNTER if f in src.counters else _GAUGE)
        fam = metric_name(src.name, f, kind).encode()
        # a family written for another registered source already?
        for s in registry.sources:
            other = enc._cache.get(s)
            if other and s is not src and fam in other[_FAMS]:
                kind = _OUT
        if kind == _OUT:
            enc.clashes += 1
        else:
            fams[i] = fam
            helps[i] = escape_help(f).encode()
        kinds[i] = kind
    e = enc._cache[src] = [registry.host, lab.encode(),
                           escape_help(" " + src.name + ": ").encode(), kinds, fams, helps, None]
    return e


def _text(e, j, v):
    # the text of float or str field j: the last one while v is the same
    vals = e[_VALS]
    if vals is None:
        vals = e[_VALS] = [None] * (2 * len(e[_KINDS]))
    j *= 2
    last = vals[j]
    if last is not v and last != v:  # (a field keeps its type)
        vals[j] = v
        vals[j + 1] = (float_text(v) if type(v) is float
                       else escape_label_value(v).encode())
    return vals[j + 1]


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

    def chunks(self, registry, buf):
        """Generator: fill ``buf`` (a bytearray) with the exposition of
        ``registry``'s active sources, yielding the number of bytes ready
        each time the next family does not fit, and once at the end (if
        anything is left). Each source's sampler runs just before it is
        written."""
        p = 0
        for src in registry.sources:
            if not src.active:
                continue
            src.sample()
            e = _entry(self, registry, src)
            kinds = e[_KINDS]
            for j in range(len(kinds)):
                kind = kinds[j]
                if kind == _OUT:
                    continue
                v = src.fields[src.names[j]]
                t = type(v)
                val = None
                if t is bool:
                    vlen = 1
                elif t is int:
                    # below 10**18 in magnitude: at most 19 digits and a sign
                    vlen = 20 if abs(v) < 10 ** 18 else len(b"%d" % v)
                elif t is float or t is str:
                    val = _text(e, j, v)
                    vlen = len(val)
                else:
                    continue
                fam = e[_FAMS][j]
                # "# HELP " fam HELP prefix, HELP text "\n# TYPE " fam type fam
                # labels, then ',value="' val '"} 1\n' or "} " val "\n"
                need = (3 * len(fam) + len(e[_HELP]) + len(e[_HELPS][j]) + len(_TYPES[kind]) +
                        len(e[_LABELS]) + vlen + (28 if kind == _INFO else 18))
                if need > len(buf):
                    self.too_long += 1
                    continue
                if p + need > len(buf):
                    yield p
                    p = 0
                p = _put(buf, p, b"# HELP ", fam, e[_HELP])
                p = _put(buf, p, e[_HELPS][j], b"\n# TYPE ", fam)
                p = _put(buf, p, _TYPES[kind], fam, e[_LABELS])
                if kind == _INFO:
                    p = _put(buf, p, b',value="', val, b'"} 1\n')
                elif val is None:  # an int or a bool
                    p = _put_int(buf, p, v)
                else:
                    p = _put(buf, p, b"} ", val, b"\n")
        if p:
            yield p


def _req_line(head):
    # the request line of head, without its line end
    end = head.find(b"\n")
    return (head if end < 0 else head[:end]).rstrip(b"\r")


def route(head):
    """Status for a request head (bytes up to, not including, the blank
    line): 200 for ``GET /metrics`` (a query string is ignored; the
    absolute form ``GET http://host/metrics``, which HTTP/1.1 servers must
    take, too), 404 for a GET of any other path, 405 for another method,
    400 for a request line that is not HTTP."""
    parts = _req_line(head).split(b" ")
    if len(parts) != 3:
        return 400
    method, path, version = parts
    if path[:7].lower() == b"http://" or path[:8].lower() == b"https://":
        i = path.find(b"/", path.find(b"//") + 2)
        path = path[i:] if i > 0 else b"/"
    if not (version.startswith(b"HTTP/1.") and path.startswith(b"/") and
            method.isalpha() and method.isupper()):
        return 400
    if method != b"GET":
        return 405
    return 200 if path == b"/metrics" or path.startswith(b"/metrics?") else 404


def body_length(head):
    """The bytes of body the request head announces (``Content-Length``; 0
    without one); -1 when it cannot be told: a bad length, or a
    ``Transfer-Encoding`` (a body of chunks, which this server does not
    read)."""
    n = 0
    for line in head.split(b"\n")[1:]:
        k = line.find(b":")
        name = line[:k].strip().lower()
        if name == b"transfer-encoding":
            return -1
        if name == b"content-length":
            v = line[k + 1:].strip()
            if not v.isdigit() or len(v) > 9:
                return -1
            n = int(v)
    return n


def wants_chunked(head):
    """True when the request line of ``head`` says HTTP/1.1: the answer
    then goes out in chunked transfer encoding, whose closing chunk tells
    the scraper the exposition is whole."""
    return _req_line(head).endswith(b" HTTP/1.1")


def chunk_header(out, n):
    """Write the chunk-size line for ``n`` bytes (hex, CRLF) into the
    bytearray ``out`` (at least 10 bytes); returns its length."""
    k = 1
    while n >> 4 * k:
        k += 1
    i = k
    while i:
        i -= 1
        d = n & 15
        out[i] = d + (48 if d < 10 else 87)
        n >>= 4
    out[k] = 13
    out[k + 1] = 10
    return k + 2


def response_head(status, chunked=False):
    """The response status line and headers (``Connection: close``) for
    ``status`` (200, 400, 404, 405, 408 or 413); an error response
    carries its status line as a text body. A 200 is HTTP/1.1 with
    chunked transfer encoding when ``chunked``, else HTTP/1.0 ended by
    closing the connection."""
    if status == 200:
        return (b"HTTP/1.%d 200 OK\r\nContent-Type: %s\r\n%s" %
                (bool(chunked), CONTENT_TYPE,
                 b"Transfer-Encoding: chunked\r\n" if chunked else b"") + _CLOSE)
    for line in (b"400 Bad Request", b"404 Not Found", b"405 Method Not Allowed",
                 b"408 Request Timeout", b"413 Request Entity Too Large"):
        if int(line[:3]) == status:
            break
    return (b"HTTP/1.0 %s\r\nContent-Type: text/plain\r\n%sContent-Length: %d\r\n" %
            (line, b"Allow: GET\r\n" if status == 405 else b"", len(line) + 1) +
            _CLOSE + line + b"\n")
