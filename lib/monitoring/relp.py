"""RELP, the Reliable Event Logging Protocol (librelp; rsyslog's imrelp), as
a client speaks it: frames written into a preallocated buffer, and the
server's frames parsed incrementally, across reads. Pure module: no
sockets, no asyncio (the sender is :mod:`relp_sender`).

A frame is ``TXNR SP COMMAND SP DATALEN [SP DATA] LF`` (librelp's
doc/relp.md: TXNR and DATALEN 1 to 9 digits, COMMAND 1 to 32 letters,
no DATA when DATALEN is 0). The client opens a session with
``1 open LEN relp_version=0 LF relp_software=... LF commands=syslog``;
the server answers ``1 rsp LEN 200 OK LF`` and the offers it accepts.
Each message then goes as ``N syslog LEN MSG``, N counting up from 2
(after 999,999,999 comes 1); the server answers every command, in the
order received, with ``N rsp LEN STATUS [SP TEXT] [LF DATA]``, 200 for
OK. Transaction number 0 carries the server's hints: ``0 serverclose 0``
says it is closing the session.
"""

from .compat import const
from .syslog import put_int

TXNR_MAX = const(999999999)
# what the client offers in its open command
OFFERS = b"relp_version=0\nrelp_software=micropython-monitoring\ncommands=syslog"

# the commands a server sends, as Parser.cmd holds them
RSP = const(1)
SERVERCLOSE = const(2)
OTHER = const(3)
# Parser.feed's results besides a position
MORE = const(-1)  # every byte read, the frame not complete yet
BAD = const(-2)  # not a RELP frame: close the connection

_RSP = b"rsp"
_SERVERCLOSE = b"serverclose"
_COMMANDS = b"\ncommands="


def next_txnr(t):
    """The transaction number after ``t``: 999,999,999 is followed by 1."""
    return 1 if t >= TXNR_MAX else t + 1


def digits(n):
    """How many decimal digits ``n >= 0`` has."""
    d = 1
    while n >= 10:
        n //= 10
        d += 1
    return d


def frame_len(txnr, cmd, n):
    """Bytes of the frame ``TXNR SP CMD SP N [SP DATA] LF`` with ``n``
    bytes of data."""
    return digits(txnr) + len(cmd) + digits(n) + (n + 4 if n else 3)


def put_header(buf, p, txnr, cmd, n):
    """Write ``TXNR SP CMD SP N`` at ``buf[p:]``, and the SP before the
    data when ``n`` is not 0; returns the position after. The data and the
    trailing LF are the caller's. Allocates nothing."""
    p = put_int(buf, p, txnr)
    buf[p] = 32
    p += 1
    for i in range(len(cmd)):
        buf[p] = cmd[i]
        p += 1
    buf[p] = 32
    p = put_int(buf, p + 1, n)
    if n:
        buf[p] = 32
        p += 1
    return p


def put_frame(buf, p, txnr, cmd, data=b""):
    """Write the whole frame ``TXNR SP CMD SP LEN [SP DATA] LF`` at
    ``buf[p:]``; returns the position after it."""
    n = len(data)
    p = put_header(buf, p, txnr, cmd, n)
    buf[p:p + n] = data
    buf[p + n] = 10
    return p + n + 1


# Parser states
_BEGIN = const(0)
_TXNR = const(1)
_CMD = const(2)
_LEN = const(3)
_DATA = const(4)
_TRAILER = const(5)


class Parser:
    """The frames a RELP server sends, parsed a byte at a time as they
    arrive (a frame may be split over any number of reads; several may
    come in one). Allocates nothing.

    After :meth:`feed` returns a position, the frame's fields are:
    ``txnr``, ``cmd`` (:data:`RSP`, :data:`SERVERCLOSE` or
    :data:`OTHER`), ``datalen``, ``status`` (the 3-digit code a ``rsp``
    starts with, -1 when its data has none) and the first ``kept`` bytes
    of the data in ``text`` (``keep`` bytes at most; the rest is
    skipped)."""

    def __init__(self, keep=128):
        self.text = bytearray(keep)
        self.reset()

    def reset(self):
        """Forget any partial frame (a new connection)."""
        self._st = _BEGIN
        self.txnr = self.cmd = self.datalen = self.kept = 0
        self.status = -1
        self._i = self._m = 0

    def feed(self, buf, pos, end):
        """Parse ``buf[pos:end]`` up to the end of one frame; returns the
        position after that frame, :data:`MORE` when every byte was taken
        without completing one (feed the next read), or :data:`BAD`."""
        st = self._st
        i = self._i
        while pos < end:
            if st == _DATA:
                # as many data bytes as this read holds: the head kept in
                # text, the rest skipped
                n = min(self.datalen - i, end - pos)
                k = self.kept
                lim = min(i + n, len(self.text))
                t = self.text
                while k < lim:
                    t[k] = buf[pos + k - i]
                    k += 1
                self.kept = k
                pos += n
                i += n
                if i >= self.datalen:
                    st = _TRAILER
                continue
            c = buf[pos]
            pos += 1
            if st == _BEGIN:
                if not 48 <= c <= 57:
                    return self._bad()
                self.txnr = self.datalen = self.kept = i = 0
                self.status = -1
                st = _TXNR
            if st == _TXNR:
                if 48 <= c <= 57:
                    if i == 9:
                        return self._bad()
                    self.txnr = self.txnr * 10 + c - 48
                    i += 1
                elif c == 32:
                    st = _CMD
                    i = 0
                    self._m = 3  # still matching: 1 "rsp", 2 "serverclose"
                else:
                    return self._bad()
            elif st == _CMD:
                if 97 <= c <= 122 or 65 <= c <= 90:
                    if i == 32:
                        return self._bad()
                    m = self._m
                    if i >= 3 or _RSP[i] != c:
                        m &= 2
                    if i >= 11 or _SERVERCLOSE[i] != c:
                        m &= 1
                    self._m = m
                    i += 1
                elif c == 32 and i:
                    m = self._m
                    self.cmd = (RSP if m & 1 and i == 3 else
                                SERVERCLOSE if m & 2 and i == 11 else OTHER)
                    st = _LEN
                    i = 0
                else:
                    return self._bad()
            elif st == _LEN:
                if 48 <= c <= 57:
                    if i == 9:
                        return self._bad()
                    self.datalen = self.datalen * 10 + c - 48
                    i += 1
                elif not i:
                    return self._bad()
                elif self.datalen == 0:
                    if c != 10:
                        return self._bad()
                    return self._done(pos)
                elif c == 32:
                    st = _DATA
                    i = 0
                else:
                    return self._bad()
            else:  # _TRAILER
                if c != 10:
                    return self._bad()
                return self._done(pos)
        self._st = st
        self._i = i
        return MORE

    def _done(self, pos):
        # a whole frame: the status of its data, ready for the next frame
        t = self.text
        if self.kept >= 3 and 49 <= t[0] <= 57 and 48 <= t[1] <= 57 and 48 <= t[2] <= 57 and (
                self.kept == 3 or t[3] == 32 or t[3] == 10):
            self.status = (t[0] - 48) * 100 + (t[1] - 48) * 10 + t[2] - 48
        else:
            self.status = -1
        self._st = _BEGIN
        self._i = 0
        return pos

    def _bad(self):
        self._st = _BEGIN
        self._i = 0
        return BAD

    def offers_syslog(self):
        """Whether the open answer just parsed lets the client send
        ``syslog``: its ``commands`` offer names it, or the offers were
        longer than ``text`` before any ``commands`` (unknown: assumed)."""
        t = self.text
        k = self.kept
        i = t.find(_COMMANDS, 0, k)
        if i < 0:
            return k == len(t)
        i += len(_COMMANDS)
        e = t.find(b"\n", i, k)
        if e < 0:
            e = k
        # the comma-separated list holds "syslog" as one item
        while i < e:
            j = t.find(b",", i, e)
            if j < 0:
                j = e
            if j - i == 6 and t.find(b"syslog", i, j) == i:
                return True
            i = j + 1
        return False
