"""Influx reporter: every ``interval_s`` seconds, encode the active sources
and send them in one batch over TCP, UDP or HTTP.

The asyncio edge around :mod:`lineproto` (encoding), :mod:`linequeue`
(the RAM-capped buffer of unsent lines) and :mod:`netio` (sockets).

Transports:

- ``tcp``: newline-separated lines on one kept-open connection (Telegraf
  ``socket_listener``; default port 8094);
- ``udp``: datagrams of whole lines, each at most ``mtu`` bytes (a single
  longer line goes alone in its own datagram; default port 8089);
- ``http``: ``POST`` to InfluxDB 1.x ``/write?db=...`` (given ``db``) or
  2.x ``/api/v2/write?org=...&bucket=...`` with ``Authorization: Token``
  (given ``org`` and ``bucket``), or basic auth (``username``,
  ``password``); default port 8086. 2xx is success; 4xx other than 408
  and 429 means InfluxDB refused the batch (a bad line): it is dropped and
  counted, not retried; anything else is retried. One connection per batch.
- ``https``: the same requests over TLS (:mod:`tlsio`; the certificate
  verified against ``ca``), default port 443, on one connection kept open
  across flushes (reopened, with backoff, when the server closed it or a
  request failed).

String values go as they are; an LF inside one only over ``http`` (a
listener splits lines at every LF): it waits in the queue as
:data:`lineproto.STANDIN` and is sent as LF. Over ``tcp`` and ``udp``, or
with ``string_newlines`` ``"drop"``, such a field is left out and counted.

When the sink is down or refuses, unsent lines stay in the queue (oldest
dropped first when it is full, every dropped point counted in
``counters.points_dropped``) and connecting is retried with exponential
backoff and jitter. Nothing here raises into the caller or blocks the loop.
"""

from . import clock
from .compat import sleep_ms, ticks_add, ticks_diff, ticks_ms
from .lineproto import PRECISIONS, STANDIN, LineEncoder, timestamp_suffix
from .linequeue import LineQueue
from .netio import Sender, TcpClient, UdpClient

DEFAULT_PORTS = {"tcp": 8094, "udp": 8089, "http": 8086, "https": 443}


def _quote(s):
    # percent-encoding of all but the unreserved characters (RFC 3986)
    out = []
    for b in s.encode():
        c = chr(b)
        out.append(c if b < 128 and (c.isalpha() or c.isdigit() or c in "-_.~")
                   else "%%%02X" % b)
    return "".join(out)


# the ``influx`` section: key, default, rule, ...; see docs/influx.md
OPTIONS = (
    "host", ..., "host",
    "port", None, (1, 65535),  # None: the transport's default port
    "transport", "http", ("http", "https", "tcp", "udp"),
    "db", None, "text",
    "org", None, "text",
    "bucket", None, "text",
    "token", None, "text",
    "username", None, "text",
    "password", None, "text",
    "interval_s", 10, (0.01, 86400),
    "precision", "ns", ("s", "ms", "us", "ns"),
    "buffer_bytes", 4096, (256, 1048576),
    "mtu_bytes", 512, (64, 65507),
    "timeout_ms", 5000, (1, 600000),
    "string_newlines", None, ("raw", "drop"),  # None: raw over http(s), else drop
    # TLS (transport https): see monitoring.tlsio
    "ca", None, "file",
    "insecure", False, "bool",
    "cert", None, "file",
    "key", None, "file",
    "server_name", None, "host",  # None: host
)


def _cross(o):
    t = o["transport"]
    if t in ("http", "https") and not (o["db"] or (o["org"] and o["bucket"])):
        return "db", "required for http (InfluxDB 1.x), or org and bucket (2.x)"
    if o["string_newlines"] == "raw" and t not in ("http", "https"):
        return "string_newlines", '"raw" only over http and https'
    if (o["username"] is None) != (o["password"] is None):
        return ("password" if o["password"] is None else "username"), \
            "username and password go together"
    if o["username"] is not None and o["token"]:
        return "token", "not with username and password (one Authorization)"
    from .netio import tls_keys

    return tls_keys(o)


def check(section):
    """The ``influx`` section checked: every key, defaults filled in."""
    from . import options

    return options.check("influx", OPTIONS, section, _cross)


def start(mon, o):
    """Run the reporter of the checked section ``o`` on :class:`Monitor` ``mon``."""
    mon.influx = mon._add(InfluxReporter(mon.registry, mon.counters, o, pool=mon.pool))


class InfluxReporter(Sender):
    """Pushes the registry's active sources to an Influx sink.

    ``registry``: a :class:`metrics.Registry`; ``counters``: a
    :class:`sources.Counters` (points sent/dropped, bytes, errors);
    ``section``: the ``influx`` options (the dict :func:`check`
    returns). Timestamps are left out while the clock is unset, so
    the server stamps the points. ``line_max`` is the longest line
    (a longer point is split), ``backoff_max_ms`` the longest wait between
    reconnects; ``pool``: where the sockets come from (None: the ``socket``
    module; see :mod:`netpool`).
    """

    def __init__(self, registry, counters, section, line_max=1024, backoff_max_ms=60000,
                 pool=None):
        o = section
        host = o["host"]
        transport = o["transport"]
        precision = o["precision"]
        timeout_ms = o["timeout_ms"]
        port = o["port"] or DEFAULT_PORTS[transport]
        db, org, bucket, token = o["db"], o["org"], o["bucket"], o["token"]
        self._http_head = None
        https = transport == "https"
        if https or transport == "http":
            if not (org and bucket):  # InfluxDB 1.x
                path = "/write?db=%s&precision=%s" % (_quote(db), PRECISIONS[precision][1])
            else:
                path = "/api/v2/write?org=%s&bucket=%s&precision=%s" % (
                    _quote(org), _quote(bucket), precision)
            auth = ""
            if token:
                auth = "Authorization: Token %s\r\n" % token
            elif o["username"] is not None:
                from binascii import b2a_base64

                auth = "Authorization: Basic %s\r\n" % b2a_base64(
                    ("%s:%s" % (o["username"], o["password"])).encode())[:-1].decode()
            self._http_head = (
                "POST %s HTTP/1.1\r\nHost: %s:%d\r\n%s"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "%sContent-Length: "
                % (path, o["server_name"] or host, port, auth,
                   "" if https else "Connection: close\r\n")
            ).encode()
        Sender.__init__(self, counters, backoff_max_ms)
        self.registry = registry
        tls = None
        if https:
            from .tlsio import tls_for

            tls = tls_for(self, o, host, pool, "influx")
        # UDP, TCP and HTTPS keep one client; HTTP connects it for each batch
        self._conn = (UdpClient(host, port, pool) if transport == "udp" else
                      TcpClient(host, port, timeout_ms,
                                counters if transport in ("tcp", "https") else None, pool, tls))
        self.transport = transport
        self._keep = False  # the HTTPS connection can take the next request
        self.interval = o["interval_s"]
        self.precision = precision
        self.mtu = o["mtu_bytes"]
        self.timeout_ms = timeout_ms
        self.queue = LineQueue(o["buffer_bytes"])
        # an LF in a string value: over HTTP its stand-in in the queue, an LF
        # on the wire; else (or with "drop") the field is left out, counted
        nl = o["string_newlines"] or ("raw" if transport in ("http", "https") else "drop")
        self.encoder = LineEncoder(line_max, STANDIN if nl == "raw" else None)
        self.wrong_peer = None  # why the peer can store nothing, once seen
        # bytes at the queue's head sent whole over HTTP whose answer has not
        # come (awaited, or lost with the connection): the server may have
        # stored them; dropped later, they count as unconfirmed, not dropped
        self._unknown = 0
        # what the peer answers is read into it (HTTP responses; on TCP, a
        # wrong peer's): allocated now, while the heap is whole
        self._rbuf = bytearray(512 if self._http_head else 8)
        self._rmv = memoryview(self._rbuf)

    # -- gathering -----------------------------------------------------

    def collect(self):
        """Encode every active source into the queue (one point each).

        The ``monitoring`` source, if active, is encoded last so that its
        counters include this batch's drops. Returns the points queued.
        """
        ns = clock.unix_ns()
        ts = timestamp_suffix(ns, self.precision) if clock.is_set(ns) else b""
        queued = 0
        last = None
        for src in self.registry.sources:
            if src.active:
                if src.name == "monitoring":
                    last = src
                else:
                    queued += self._encode_one(src, ts)
        if last is not None:
            queued += self._encode_one(last, ts)
        self.counters.fields_dropped = self.encoder.fields_dropped
        return queued

    def _encode_one(self, src, ts):
        # encode straight into the queue, dropping its oldest lines while
        # the point does not fit
        if not src.sample():
            self.counters.send_errors += 1
        enc = self.encoder
        q = self.queue
        c = self.counters
        host = self.registry.host
        too_long = enc.points_too_long
        first = queued = 0
        while True:
            # a point longer than a line goes out as several lines (split)
            end = enc.encode_into(q.mv, q.used, q.capacity, src, host, ts, first, True)
            if end > 0:
                q.commit(end - q.used)
                c.points_produced += 1
                queued += 1
                first = enc.rest
                if not first:
                    return queued
                continue
            # 0: no valid field (no loss), or longer than line_max (a loss)
            if end == 0 and enc.points_too_long == too_long:
                return queued
            # a loss: too long, or it cannot fit beside what is in flight
            if end == 0:
                self.last_error = "point too long: " + src.name
            used = q.used
            # (while a batch is in flight, drops come after it)
            u = q.count(self._unknown) if self._unknown and not q.pinned else 0
            n = q.drop_oldest() if end else -1
            if n < 0:
                c.points_produced += 1
                c.points_dropped += 1
                return queued
            # the lines of an eighth of the queue at least
            c.points_dropped += n - (self._unconfirmed(used, u) if u else 0)

    def _unconfirmed(self, used, lines):
        # a drop took ``used - q.used`` bytes from the head, where the
        # batch without an answer (``lines`` lines) was: those of its lines
        # it took are unconfirmed, not dropped; returns how many
        q = self.queue
        u = self._unknown - (used - q.used)
        self._unknown = u = u if u > 0 else 0
        m = lines - (q.count(u) if u else 0)
        self.counters.points_unconfirmed += m
        return m

    # -- sending -------------------------------------------------------

    def _sent(self, k):
        # the first k bytes of the queue went out
        self.counters.points_sent += self.queue.consume(k)
        self.counters.bytes_sent += k

    async def send(self):
        """Try to send what is queued; returns True when the queue emptied."""
        q = self.queue
        if q.used == 0:
            return True
        if self.wrong_peer:
            self.counters.points_dropped += q.clear()
            self.last_error = self.wrong_peer
            return False
        if self._sending or not self.backoff.ready():
            # one send at a time: a second caller leaves its points queued
            # for the send in progress or the next one
            return False
        self._sending = True
        t = self.transport
        try:
            if t == "udp":
                self._send_udp(q)
            elif t == "tcp":
                await self._send_tcp(q)
            else:
                await self._send_http(q)
            self.backoff.succeeded()
        except Exception as e:  # never raise into the loop
            self._fail(e)
        finally:
            q.pin(0)
            self._sending = False
        return q.used == 0

    def _send_udp(self, q):
        conn = self._conn
        while q.used:
            k = q.head(self.mtu)
            conn.send(q.view(k))
            self._sent(k)

    async def _send_tcp(self, q):
        conn = self._conn
        if conn.sock is not None:
            self._check_peer(conn)
        if conn.sock is None:
            await conn.connect()
        k = q.used
        q.pin(k)
        try:
            await conn.send(q.view(k))
        except OSError:
            # keep the lines not wholly sent; a fragment of one may have
            # gone out on the dead connection and is sent again
            self._sent(q.buf.rfind(b"\n", 0, conn.partial) + 1)
            raise
        self._sent(k)

    async def _send_http(self, q):
        conn = self._conn
        https = self.transport == "https"
        # a kept connection the server closed (idle): a new one
        if https and (not self._keep or conn.closed(self._rmv)):
            conn.close()
        if conn.sock is None:
            await conn.connect()
        k = q.used
        q.pin(k)
        try:
            await conn.send(self._http_head)
            await conn.send(b"%d\r\n\r\n" % k)
            await self._send_body(conn, q, k)
            # sent whole: until an answer, whether it is stored is unknown
            # (kept so when the answer is lost)
            self._unknown = k
            self._keep = False
            status, body = await self._response(conn)
            self._unknown = 0
        finally:
            if not (self._keep and https):
                conn.close()
        if 200 <= status < 300:
            self._sent(k)
            return
        err = "HTTP %d %s" % (status, body)
        if not 400 <= status < 500 or status in (408, 429):
            raise OSError(err)  # retried
        # refused (a bad line): dropped, not retried
        self.counters.points_dropped += q.consume(k)
        self._error(err)

    async def _send_body(self, conn, q, k):
        # the first k bytes of the queue, each stand-in for an LF inside a
        # string value sent as that LF (one send when there is none)
        i = 0
        while True:
            j = q.buf.find(b"\xff", i, k)
            if j < 0:
                j = k
            await conn.send(q.mv[i:j])
            if j == k:
                return
            await conn.send(b"\n")
            i = j + 1

    def _check_peer(self, conn):
        # a line-protocol listener never writes: bytes from the peer mean
        # the wrong peer (InfluxDB's HTTP port answers 400 and closes);
        # an EOF, a closed connection to reopen
        buf = self._rbuf
        n = conn.read_now(self._rmv)
        if n < 0:
            return
        conn.close()
        if buf.find(b"HTTP/", 0, n) == 0:
            # a configuration error: no batch could ever be stored, so
            # none is sent again (each is dropped, counted) until restart
            self.wrong_peer = 'peer answered HTTP: use transport "http"'
            raise OSError(self.wrong_peer)
        if n:
            raise OSError("peer sent data: not a line-protocol listener")

    async def _response(self, conn):
        """(status, first bytes of the body as text) of an HTTP response,
        read into a preallocated buffer: a 2xx costs no allocation beyond
        the status number; an error's body is read as far as
        Content-Length says (at most 200 bytes kept)."""
        buf = self._rbuf
        mv = self._rmv
        n = 0
        end = -1
        want = 0  # bytes of an error's body to read
        while n < 512:
            got = await conn.recv_into(mv[n:])
            if not got:
                break
            n += got
            if end < 0:
                end = buf.find(b"\r\n\r\n", 0, n)
                if end < 0:
                    continue
                try:
                    status = int(bytes(mv[9:12]))
                except ValueError:
                    end = -1  # not HTTP
                    break
                if 200 <= status < 300:
                    # kept open when the whole answer was read (a 204, or
                    # no body) and the server keeps it open too
                    self._keep = (n == end + 4 and buf.find(b"onnection: close", 0, end) < 0
                                  and (status == 204 or buf.find(b"ength: 0\r", 0, end) > 0))
                    return status, ""
                head = bytes(buf[:end + 2]).lower()
                i = head.find(b"\r\ncontent-length:")
                if i >= 0:
                    want = min(int(head[i + 17:head.find(b"\r\n", i + 2)]), 200)
            if n - end - 4 >= want:
                break
        if end < 0:
            raise OSError("bad HTTP response")
        return status, bytes(mv[end + 4:n])[:200].decode()

    # -- task ------------------------------------------------------------

    async def flush(self):
        """Collect and send once."""
        self.collect()
        await self.send()

    async def run(self):
        """Flush every ``interval`` seconds until cancelled."""
        interval_ms = int(self.interval * 1000)
        nxt = ticks_ms()
        while True:
            try:
                await self.flush()
            except Exception as e:  # defensive: the reporter must not die
                self._error(e, b"influx")
            nxt = ticks_add(nxt, interval_ms)
            wait = ticks_diff(nxt, ticks_ms())
            if wait < 0:
                nxt = ticks_ms()
                wait = 0
            await sleep_ms(wait)

    def stop(self):
        """Cancel the task and close the connection. Points still queued
        are counted as dropped (``flush()`` first to send them), except a
        batch sent whole over HTTP whose answer had not come: the server
        may have stored it, so it counts in ``points_unconfirmed`` (as do
        the points of one whose answer was lost with its connection, when
        they are dropped later or at stop)."""
        q = self.queue
        unknown = q.count(self._unknown) if self._unknown else 0
        self.counters.points_unconfirmed += unknown
        self.counters.points_dropped += self._shut() - unknown
