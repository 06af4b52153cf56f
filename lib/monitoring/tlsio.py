"""TLS for the TCP clients of :mod:`netio`: one place where a pool's
socket is wrapped, for every sender (syslog ``"transport": "tls"``,
Influx ``"transport": "https"``). Loaded only when a section asks for TLS.

A :class:`Tls` is made once per sender from its section's keys (``ca``,
``insecure``, ``cert``, ``key``, ``server_name``): one context, the CA
and the client certificate loaded once, reused by every reconnect.
:meth:`Tls.wrap` wraps a connected non-blocking socket; the handshake is
not done there but by the client's first writes: each write runs
mbedTLS's handshake as far as the bytes received allow and returns None
(EAGAIN) until it is over, so the event loop runs between the steps
(one step's computation, the key exchange and the signature checks,
cannot be split: about 9 ms on a PC, see docs/syslog.md#tls).

Verification is on unless ``insecure``: the server's certificate must
chain to ``ca`` and name ``server_name`` (default the host; also the
SNI), and be valid now (mbedTLS checks the dates against the clock).
:func:`why` turns what mbedTLS, CPython's ``ssl`` or the socket raised
into a ``last_error`` that says what went wrong (unknown CA, name
mismatch, expired, handshake timeout, peer closed, not a TLS server).

MicroPython's ``ssl`` (mbedTLS) is built without PEM parsing on several
ports: PEM files are turned into DER here (:func:`der`). CPython's
``ssl`` works through :class:`_CPython` (its "not yet" errors are not
EAGAIN). A pool that is not a ``socket`` module (CircuitPython) takes
:func:`connect_blocking`, with ``ssl.create_default_context()``.
"""

import errno

INSECURE = "insecure: TLS certificates are not verified (for testing only)"
_DASH = b"-----"


def der(data):
    """The DER blocks of ``data`` (bytes): itself when it is DER, else
    every PEM block (``-----BEGIN ...-----``) decoded, in order."""
    if data[:5] != _DASH:
        return [data]
    from binascii import a2b_base64

    out = []
    i = 0
    while True:
        i = data.find(b"-----BEGIN", i)
        if i < 0:
            return out
        s = data.find(b"\n", i) + 1
        e = data.find(b"-----END", s)
        out.append(a2b_base64(data[s:e]))
        i = e + 8


def _pem(data):
    # PEM text of a DER or PEM certificate (CircuitPython's cadata)
    if data[:5] == _DASH:
        return data.decode()
    from binascii import b2a_base64

    b = b2a_base64(data).replace(b"\n", b"")
    lines = [b[i:i + 64].decode() for i in range(0, len(b), 64)]
    return "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % "\n".join(lines)


def _read(v):
    # a path's bytes, or the bytes given
    if type(v) is str:
        with open(v, "rb") as f:
            return f.read()
    return bytes(v)


def check(o):
    """The TLS keys of the checked section ``o`` against its transport:
    ``(key, why)`` or None, as an options ``cross`` returns. Files are
    read at start (:func:`tls_for`), where the board has them."""
    tls = o["transport"] in ("tls", "https")
    keys = ("ca", "insecure", "cert", "key", "server_name")
    for k in keys:
        if o[k] and not tls:
            return k, "only with a TLS transport (tls, https)"
    if not tls:
        return None
    if o["insecure"] and o["ca"] is not None:
        return "insecure", "not with ca (ca verifies the server)"
    if not o["insecure"] and o["ca"] is None:
        return "ca", "required for TLS (the CA certificate, a DER or PEM file or bytes), " \
                     "or insecure: true"
    if (o["cert"] is None) != (o["key"] is None):
        return ("key" if o["key"] is None else "cert"), "cert and key go together"
    if o.get("framing", "octet") != "octet":
        return "framing", "octet only over TLS (RFC 5425)"
    return None


def tls_for(sender, o, host, pool, section):
    """The :class:`Tls` of ``sender``'s checked section ``o`` (named
    ``section``); with ``insecure`` a warning printed and left in its
    ``last_error``. A file that cannot be read or parsed raises
    ValueError naming the key (``start`` then stops what it started)."""
    from .compat import use_pool

    use_pool(sender, pool)  # (sets pool and io, which the client sets again)
    for k in ("ca", "cert", "key"):
        v = o[k]
        if type(v) is str:
            try:
                open(v, "rb").close()
            except OSError as e:
                raise ValueError("%s.%s: cannot read %r (%s)" % (section, k, v, e))
    try:
        t = Tls(o, host, sender.io)
    except ValueError as e:  # mbedTLS: "invalid cert", "invalid key"
        raise ValueError("%s.%s: %s" % (section, "ca" if "cert" in str(e) and o["cert"] is None
                                        else "cert", e))
    if t.insecure:
        print("warning:", INSECURE, "to", host)
        sender.last_error = INSECURE
    return t


class Tls:
    """The TLS context of one sender: ``o`` is its checked section,
    ``host`` the peer's host (the name checked unless ``server_name``),
    ``io`` how its pool's sockets are used (:func:`compat.use_pool`: 0, a
    pool that is not a ``socket`` module, takes :func:`connect_blocking`
    and keeps the CA as PEM text in ``pem``)."""

    settle_ms = 50  # after the handshake, how long a refusal is waited for

    def __init__(self, o, host, io=2):
        self.name = o["server_name"] or host
        self.insecure = o["insecure"]
        self.probe = memoryview(bytearray(1))
        if not io:
            self.pem = None if self.insecure else _pem(_read(o["ca"]))
            if o["cert"] is not None:
                raise OSError("TLS: client certificates need MicroPython's or CPython's ssl")
            return
        try:
            import tls as m  # MicroPython's own (ssl.py wraps it)

            self.mp = True
        except ImportError:
            import ssl as m

            self.mp = False
        self.m = m
        if not hasattr(m, "SSLContext"):
            raise OSError("TLS: this ssl module has no SSLContext")
        ctx = self.ctx = m.SSLContext(m.PROTOCOL_TLS_CLIENT)
        if self.insecure:
            if not self.mp:
                ctx.check_hostname = False
            ctx.verify_mode = m.CERT_NONE
        else:
            ctx.verify_mode = m.CERT_REQUIRED
            data = _read(o["ca"])
            if self.mp:
                for block in der(data):
                    ctx.load_verify_locations(block)
            else:
                ctx.load_verify_locations(cadata=data if data[:5] != _DASH else data.decode())
        if o["cert"] is not None:
            if self.mp:
                ctx.load_cert_chain(der(_read(o["cert"]))[0], der(_read(o["key"]))[0])
            else:
                ctx.load_cert_chain(o["cert"], o["key"])

    def wrap(self, client, s):
        """The TLS socket over ``client``'s connected non-blocking socket
        ``s`` (kept as its ``_raw``), its handshake under way (done by the
        first writes: ``client.handshaking``)."""
        client._raw = s
        try:
            t = self.ctx.wrap_socket(s, server_hostname=self.name, do_handshake_on_connect=False)
        except BaseException:
            client.close()
            raise
        client.handshaking = True
        return t if self.mp else _CPython(t, self.m)

    async def settle(self, client):
        """The handshake is over and one byte went: a server that refuses
        the client once its handshake is done (rsyslog's x509/name with a
        client certificate it does not permit) closes now, before the rest
        is sent and counted."""
        from .compat import sleep_ms

        client.handshaking = False
        await sleep_ms(self.settle_ms)
        n = client.read_now(self.probe)
        if n >= 0:
            raise OSError("TLS: peer closed after the handshake (client certificate refused?)"
                          if n == 0 else "TLS: peer sent data unasked")
        client._connected()

    def error(self, client, e):
        """Raise what a TLS connection of ``client`` raised, named."""
        hs = client.handshaking
        client.handshaking = False
        raise why(e, hs)

    def connect_blocking(self, client):
        """:func:`connect_blocking`, its failures named."""
        pool = client.pool
        if client._addr is None:
            client._addr = pool.getaddrinfo(client.host, client.port, 0, pool.SOCK_STREAM)[0][-1]
        try:
            return connect_blocking(client, client._addr)
        except Exception as e:
            raise why(e, True)


def why(e, handshaking):
    """A ``last_error`` text (an OSError to raise) for ``e``, raised by a
    TLS socket; ``handshaking``: before the handshake was over."""
    from .compat import error_text

    a = e.args if isinstance(e, OSError) else ()
    # mbedTLS's OSError(code, text): the text
    t = str(a[1]) if len(a) == 2 and type(a[0]) is int and a[0] < 0 else error_text(e)
    t = t.strip().replace("\n", "; ")
    if t[:4] == "TLS:":
        return e
    low = t.lower()
    what = None
    if "expired" in low:
        what = "certificate expired"
    elif "future" in low or "not yet valid" in low:
        what = "certificate not yet valid"
    elif "common name" in low or "cn)" in low or "hostname mismatch" in low or "match" in low:
        what = "name mismatch"
    elif "trusted ca" in low or "issuer" in low or "self-signed" in low or "self signed" in low:
        what = "unknown CA"
    elif "not correctly signed" in low or "verify" in low:
        what = "certificate refused"
    elif isinstance(e, OSError) and e.args and e.args[0] == errno.ETIMEDOUT:
        what = "handshake timeout" if handshaking else None
    elif "eof" in low or "reset" in low or "close" in low or "epipe" in low:
        what = "peer closed during the handshake" if handshaking else "peer closed"
    elif handshaking and ("record" in low or "wrong version" in low or "bad" in low
                          or "unexpected" in low or "invalid" in low or "packet" in low):
        what = "not a TLS server (plain TCP?)"
    elif handshaking:
        what = "handshake failed"
    if what is None:
        return e
    return OSError("TLS: %s (%s)" % (what, t) if t else "TLS: " + what)


class _CPython:
    """CPython's ``ssl.SSLSocket`` as a pool's socket: "not yet" as
    OSError(EAGAIN), the handshake driven by the first send."""

    def __init__(self, s, m):
        self.s = s
        self.m = m
        self.done = False

    def _step(self, op, b):
        m = self.m
        try:
            if not self.done:
                self.s.do_handshake()
                self.done = True
            return op(b)
        except (m.SSLWantReadError, m.SSLWantWriteError):
            raise OSError(errno.EAGAIN, "EAGAIN")  # (errno set on CPython too)
        except m.SSLZeroReturnError:
            return 0

    def send(self, b):
        return self._step(self.s.send, b)

    def recv_into(self, b):
        return self._step(self.s.recv_into, b)

    def close(self):
        self.s.close()


def connect_blocking(client, addr):
    """A pool without a ``socket`` module (CircuitPython): a new socket
    wrapped with ``ssl.create_default_context()`` and connected, the
    handshake done inside the connect (blocking, at most the client's
    ``timeout_ms``: CircuitPython's ``ssl`` cannot do it otherwise)."""
    try:
        import ssl
    except ImportError:
        raise OSError("TLS: no ssl module (CircuitPython's has ssl.create_default_context())")
    if not hasattr(ssl, "create_default_context"):
        raise OSError("TLS: this ssl module has no create_default_context()")
    t = client.tls
    ctx = ssl.create_default_context()
    if t.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cadata=t.pem)
    pool = client.pool
    s = ctx.wrap_socket(pool.socket(pool.AF_INET, pool.SOCK_STREAM), server_hostname=t.name)
    try:
        s.settimeout(client.timeout_ms / 1000)
        s.connect(addr)
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s
