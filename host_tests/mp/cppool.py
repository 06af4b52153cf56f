"""Test-only: a socket pool with exactly CircuitPython's ``socketpool`` API,
over real sockets, for the MicroPython Unix port and CPython alike.

``pool`` (a :class:`Pool`) is what ``socketpool.SocketPool(wifi.radio)``
is on a board: ``getaddrinfo``, ``socket``, the constants (socketpool's
values: ``SOL_SOCKET`` 0xfff and ``SO_REUSEADDR`` 4 are lwIP's, not
Linux's) and ``gaierror``. Its sockets (:class:`Socket`) wrap real ones and
have only socketpool's methods; any other attribute, on the pool or on a
socket, raises AttributeError naming it and is recorded in
``pool.misses``, so a test can tell that the library used nothing else.

They behave as CircuitPython's do (shared-bindings/socketpool/Socket.c and
the ports' common-hal, see lib/monitoring/netpool.py): non-blocking calls
raise OSError(EAGAIN); ``send`` on a socket not connected raises
BrokenPipeError (EPIPE); a non-blocking ``connect`` raises EINPROGRESS,
again EALREADY, then EISCONN once connected (the Pico W). With
``esp32=True``, as on an ESP32: a non-blocking ``connect`` that does not
complete at once raises ETIMEDOUT and leaves the socket never connected
(only a connect given a timeout connects), and a non-blocking
``recv_into`` at end of input raises ENOTCONN instead of returning 0.

``hosts`` maps the names ``getaddrinfo`` knows (default ``localhost``),
and may map an address too (a LAN address of an example to loopback);
any other name that is not a dotted quad raises ``gaierror`` with errno
-2 (EAI_NONAME), as socketpool does, without a DNS query. ``ports`` maps
ports the same way (a server's usual port to a peer's high one). ``fail``:
``"all"``, every pool call raises OSError(EIO); ``"sockets"``,
``getaddrinfo`` works but every socket call raises OSError(EIO).
"""

import errno
import sys

_MP = sys.implementation.name == "micropython"


def _real_socket():
    # the host's socket module. In the CircuitPython profile a file shadows
    # it (and fails, as CircuitPython has none): the built-in is reached
    # with an empty path, and left out of sys.modules, so the library still
    # finds no socket module of its own
    if not _MP:
        import socket
        return socket
    path = sys.path
    had = "socket" in sys.modules
    sys.path = []
    try:
        import socket
    finally:
        sys.path = path
    if not had:
        sys.modules.pop("socket", None)
    return socket


_real = _real_socket()
EIO = errno.EIO
EPIPE = 32
EBADF = errno.EBADF
EISCONN = 106
ETIMEDOUT = errno.ETIMEDOUT
EOPNOTSUPP = getattr(errno, "EOPNOTSUPP", 95)
_IN_PROGRESS = (errno.EINPROGRESS, errno.EALREADY)


def _err(en):
    # OSError(errno) as CircuitPython raises it: errno set (CPython sets it
    # only from two arguments)
    if _MP:
        return OSError(en)
    return OSError(en, errno.errorcode.get(en, "") if isinstance(en, int) else "")


def _broken_pipe():
    # CircuitPython's BrokenPipeError (an OSError, errno EPIPE); MicroPython has none
    try:
        return BrokenPipeError(EPIPE, "EPIPE")
    except NameError:
        return OSError(EPIPE)

SOCKET_API = ("accept", "bind", "close", "connect", "listen", "recvfrom_into", "recv_into",
              "send", "sendall", "sendto", "setblocking", "setsockopt", "settimeout", "type")


class gaierror(OSError):
    """socketpool.SocketPool.gaierror: errors raised by getaddrinfo."""


class _Restricted:
    # any attribute beyond the class's own: refused, recorded
    def __getattr__(self, name):
        self._misses().append(name)
        raise AttributeError("%s has no %r (not in CircuitPython's socketpool API)"
                             % (self._what, name))


def _is_quad(host):
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p.isdigit() or int(p) > 255:
            return False
    return True


class Pool(_Restricted):
    _what = "SocketPool"
    AF_INET = 2
    SOCK_STREAM = 1
    SOCK_DGRAM = 2
    SOL_SOCKET = 0xFFF
    SO_REUSEADDR = 0x0004
    IPPROTO_TCP = 6
    TCP_NODELAY = 1
    EAI_NONAME = -2
    gaierror = gaierror

    def __init__(self, esp32=False, hosts=None, fail=None, ports=None):
        self.misses = []
        self.esp32 = esp32
        self.hosts = {"localhost": "127.0.0.1"} if hosts is None else hosts
        self.ports = ports or {}
        self.fail = fail
        self.sockets = 0  # made so far

    def _misses(self):
        return self.misses

    def _ip(self, host):
        if not isinstance(host, str):
            raise TypeError("host must be a str")
        if host in self.hosts:
            return self.hosts[host]
        if host == "" or _is_quad(host):
            return host or "0.0.0.0"
        raise gaierror(self.EAI_NONAME, "Name or service not known")

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        if self.fail == "all":
            raise _err(EIO)
        if not isinstance(port, int):
            raise TypeError("port must be an int")
        return [(self.AF_INET, type or self.SOCK_STREAM, 0, "",
                 (self._ip(host), self.ports.get(port, port)))]

    def socket(self, family=2, type=1, proto=0):
        if self.fail == "all":
            raise _err(EIO)
        if family != self.AF_INET:
            raise NotImplementedError("Unsupported socket type")
        if type not in (self.SOCK_STREAM, self.SOCK_DGRAM):
            raise NotImplementedError("Unsupported socket type")
        self.sockets += 1
        return Socket(self, type)

    def _real_addr(self, addr):
        # socketpool takes (host, port), a tuple or list of two
        if type(addr) not in (tuple, list) or len(addr) != 2:
            raise TypeError("address must be (host, port)")
        host, port = addr
        ip = self._ip(host)
        if port < 0:
            raise ValueError("port must be >= 0")
        port = self.ports.get(port, port)
        if _MP:
            return _real.getaddrinfo(ip, port)[0][-1]
        return (ip, port)


def _peer(addr):
    # a real socket's address as socketpool gives it: (ip, port)
    if _MP:
        a = _real.sockaddr(addr)
        return (_real.inet_ntop(_real.AF_INET, a[1]), a[2])
    return tuple(addr[:2])


def _errno(e):
    en = e.errno
    if en is None and isinstance(e, OSError) and "timed out" in str(e):
        return ETIMEDOUT  # CPython's socket.timeout
    return en


class Socket(_Restricted):
    _what = "socketpool.Socket"

    def __init__(self, pool, kind, real=None):
        self._pool = pool
        self.type = kind
        self._s = real if real is not None else _real.socket(
            _real.AF_INET, _real.SOCK_STREAM if kind == pool.SOCK_STREAM else _real.SOCK_DGRAM)
        self._timeout = -1  # ms; -1 blocks (socketpool's default), 0 never
        self._connected = real is not None
        self._lost = False  # esp32: a non-blocking connect was tried
        self._closed = False

    def _misses(self):
        return self._pool.misses

    def _check(self):
        if self._pool.fail == "sockets":
            raise _err(EIO)
        if self._closed:
            raise _err(EBADF)

    def accept(self):
        self._check()
        try:
            conn, addr = self._s.accept()
        except OSError as e:
            raise _err(_errno(e))
        s = Socket(self._pool, self.type, conn)
        t = s._timeout = self._timeout  # the listener's, as on the Pico W
        conn.settimeout(None if t < 0 else t / 1000)
        return s, _peer(addr)

    def bind(self, address):
        self._check()
        try:
            self._s.bind(self._pool._real_addr(address))
        except OSError as e:
            raise _err(_errno(e))

    def close(self):
        if not self._closed:
            self._closed = True
            self._connected = False
            self._s.close()

    def connect(self, address):
        self._check()
        real = self._pool._real_addr(address)
        pool = self._pool
        if self.type == pool.SOCK_DGRAM:
            self._s.connect(real)
            self._connected = True
            return
        if pool.esp32 and self._lost:
            # lwip's answer to a second connect; the socket stays unconnected
            try:
                self._s.connect(real)
            except OSError as e:
                raise _err(_errno(e))
            raise _err(EISCONN)
        try:
            self._s.connect(real)
        except OSError as e:
            en = _errno(e)
            if en == EISCONN and not pool.esp32:
                self._connected = True
            if self._timeout == 0 and en in _IN_PROGRESS and pool.esp32:
                self._lost = True
                raise _err(ETIMEDOUT)
            if self._timeout > 0 and en in _IN_PROGRESS:
                # the time given ran out
                raise _err(ETIMEDOUT if pool.esp32 else errno.EINPROGRESS)
            raise _err(en)
        self._connected = True

    def listen(self, backlog):
        self._check()
        self._s.listen(backlog)

    def _recv(self, buf):
        if _MP:
            n = self._s.readinto(buf)
            if n is None:
                raise _err(errno.EAGAIN)
            return n
        return self._s.recv_into(buf)

    def recv_into(self, buffer, bufsize=0):
        self._check()
        mv = memoryview(buffer)
        if 0 < bufsize < len(mv):
            mv = mv[:bufsize]
        if not len(mv):
            return 0
        try:
            n = self._recv(mv)
        except OSError as e:
            raise _err(_errno(e))
        if n == 0 and self._pool.esp32 and self._timeout == 0:
            self._connected = False
            raise _err(errno.ENOTCONN)
        return n

    def recvfrom_into(self, buffer):
        self._check()
        try:
            data, addr = self._s.recvfrom(len(buffer))
        except OSError as e:
            raise _err(_errno(e))
        buffer[:len(data)] = data
        return len(data), _peer(addr)

    def send(self, bytes):
        self._check()
        if not self._connected:
            raise _broken_pipe()
        try:
            return self._s.send(bytes)
        except OSError as e:
            en = _errno(e)
            if en in (EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self._connected = False
            raise _err(en)

    def sendall(self, bytes):
        mv = memoryview(bytes)
        while len(mv):
            n = self.send(mv)
            mv = mv[n:]

    def sendto(self, bytes, address):
        self._check()
        try:
            return self._s.sendto(bytes, self._pool._real_addr(address))
        except OSError as e:
            if self._pool.esp32:
                raise _broken_pipe()
            raise _err(_errno(e))

    def setblocking(self, flag):
        self._check()
        self._timeout = -1 if flag else 0
        self._s.setblocking(bool(flag))

    def settimeout(self, value):
        self._check()
        if value is None:
            self._timeout = -1
            self._s.settimeout(None)
        else:
            self._timeout = int(value * 1000)
            self._s.settimeout(value)

    def setsockopt(self, level, optname, value):
        self._check()
        pool = self._pool
        if (level, optname) == (pool.SOL_SOCKET, pool.SO_REUSEADDR):
            self._s.setsockopt(_real.SOL_SOCKET, _real.SO_REUSEADDR, value)
        elif (level, optname) == (pool.IPPROTO_TCP, pool.TCP_NODELAY):
            self._s.setsockopt(6, 1, value)
        else:
            raise _err(EOPNOTSUPP)


pool = Pool()
