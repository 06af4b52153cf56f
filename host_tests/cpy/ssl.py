"""Test-only: CircuitPython's ``ssl`` in the CircuitPython profile, over
MicroPython's ``tls`` (mbedTLS) and the real socket behind a socket of
host_tests/mp/cppool.py. What the library may use of it, as CircuitPython
10 has it (shared-bindings/ssl): ``create_default_context()``; an
``SSLContext`` with ``load_verify_locations(cadata=PEM text)``,
``check_hostname`` and ``verify_mode``; ``wrap_socket(sock,
server_hostname=...)`` over a socket not yet connected, whose ``connect``
does the TCP connect and the whole handshake (blocking, within the
socket's timeout), and then ``send``, ``recv_into``, ``setblocking``,
``settimeout``, ``close`` (non-blocking: OSError(EAGAIN) when nothing can
go or come). Certificates refused raise as mbedTLS raises them. Not a
``create_default_context`` of a ``socket`` module: only cppool's
sockets."""

import errno

import tls
from binascii import a2b_base64

CERT_NONE = 0
CERT_REQUIRED = 2


def create_default_context():
    return SSLContext()


class SSLContext:
    def __init__(self):
        self.check_hostname = True
        self.verify_mode = CERT_REQUIRED
        self._ca = None

    def load_verify_locations(self, cafile=None, capath=None, cadata=None):
        if type(cadata) is not str:
            raise TypeError("cadata: PEM text")
        b = cadata.encode()
        s = b.find(b"\n", b.find(b"-----BEGIN")) + 1
        self._ca = a2b_base64(b[s:b.find(b"-----END")])  # (mbedTLS here: DER only)

    def wrap_socket(self, sock, server_side=False, server_hostname=None):
        return SSLSocket(self, sock, server_hostname)


class SSLSocket:
    def __init__(self, ctx, sock, name):
        self._ctx = ctx
        self._sock = sock
        self._name = name
        self._t = None

    def settimeout(self, value):
        self._sock.settimeout(value)

    def setblocking(self, flag):
        self._sock.setblocking(flag)

    def connect(self, address):
        self._sock.connect(address)
        ctx = self._ctx
        c = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        if ctx.verify_mode == CERT_NONE:
            c.verify_mode = tls.CERT_NONE
        else:
            c.load_verify_locations(ctx._ca)
        real = self._sock._s
        real.setblocking(True)  # the handshake, blocking
        self._t = c.wrap_socket(real, server_hostname=self._name)

    def send(self, b):
        n = self._t.write(b)
        if n is None:
            raise OSError(errno.EAGAIN)
        return n

    def recv_into(self, b, bufsize=0):
        n = self._t.readinto(b)
        if n is None:
            raise OSError(errno.EAGAIN)
        return n

    def close(self):
        if self._t is not None:
            self._t.close()
        self._sock.close()
