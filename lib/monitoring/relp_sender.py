"""The syslog sender over RELP (``"transport": "relp"``): a message leaves
the queue only when the server acknowledged it.

:class:`RelpSender` is a :class:`syslog_handler.SyslogSender` (same queue,
handlers, drop notices and counters) whose task speaks RELP
(:mod:`relp`) on one kept-open TCP connection: it opens a session, sends
each queued message as a ``syslog`` command, up to ``window`` of them
unacknowledged, and reads the answers without waiting (the connection is
polled every few milliseconds while answers are due). Every message sent
stays in the queue, pinned (never dropped to make room), until its
``200`` answer: then it is delivered (``LineQueue.deliver``: the
acknowledged messages leave the queue in bulk, not one move per answer)
and counted in ``log_sent``.

Any other answer, a frame that is not RELP, an EOF, ``serverclose`` or no
answer for ``timeout_ms`` while some are due closes the connection; after
the backoff the sender reconnects, opens a new session and sends every
unacknowledged message again (counted in ``log_resent``): the server may
get a message twice, never none. What the server does with a message it
acknowledged is its own business (rsyslog's imrelp answers once the
message is in its queue).
"""

from .compat import sleep_ms, ticks_diff, ticks_ms
from .netio import ETIMEDOUT
from .relp import (BAD, MORE, OFFERS, RSP, SERVERCLOSE, Parser, frame_len, next_txnr,
                   put_frame, put_header)
from .syslog_handler import SyslogSender

_SYSLOG = b"syslog"


class RelpSender(SyslogSender):
    """:class:`SyslogSender` over RELP; takes the same arguments.
    ``window``: the most ``syslog`` commands awaiting their answer (32;
    and never more than half the queue's bytes, but one message);
    ``poll_ms``: how often the connection is read while answers are due."""

    def __init__(self, counters, section, formatter=None, queue=None, hostname="-",
                 backoff_max_ms=60000, pool=None):
        SyslogSender.__init__(self, counters, section, formatter, queue, hostname,
                              backoff_max_ms, pool)
        self.window = 32
        self.poll_ms = 5
        # frames are written into _tx (1 KB; a longer message goes from the
        # queue in place); _ends: where each frame of one write ends in _tx
        self._tx = memoryview(bytearray(1024))
        self._ends = [0] * 32
        self._rx = memoryview(bytearray(128))  # the server's answers, as they come
        self._parser = Parser(128)
        self._reset()

    def _reset(self):
        # the session's state, for a new connection: nothing awaited. The
        # messages sent and not acknowledged stay pinned in the queue.
        self._opening = False
        self._base = self._next = 1  # oldest awaited, next transaction number
        self._out = 0  # frames awaiting their answer
        self._sent = 0  # queue bytes sent on this connection, after q.done
        self._notice = 0  # the drop notice's transaction number while awaited
        self._notice_n = self._notice_len = 0
        self._ack_t = ticks_ms()
        self._parser.reset()

    # -- sending -----------------------------------------------------------

    async def send(self):
        """One step: connect and open a session if needed, take the
        answers that came, send what the window allows. Returns True when
        the queue emptied (every message acknowledged)."""
        q = self.queue
        if q.used == 0 and not self._out:
            return True
        if not self.backoff.ready():
            return False
        conn = self._conn
        try:
            if conn.sock is None:
                self._reset()
                await conn.connect()
                n = put_frame(self._tx, 0, 1, b"open", OFFERS)
                self._opening = True
                self._ack_t = ticks_ms()
                await conn.send(self._tx[0:n])
            self._read(conn)
            if conn.sock is not None:
                if not self._opening:
                    await self._fill(conn)
                if ((self._out or self._opening)
                        and ticks_diff(ticks_ms(), self._ack_t) >= conn.timeout_ms):
                    raise OSError(ETIMEDOUT)
        except Exception as e:  # never raise into the loop
            self._fail(e)
            self._reset()
        return q.used == 0

    async def _fill(self, conn):
        # send the drop notice, then the queued messages not sent on this
        # connection, as many as the window has room for, in one write
        q = self.queue
        c = self.counters
        tx = self._tx
        used = q.used
        src = q.done + self._sent
        if self.lost and not self._notice and src < used and self._out < self.window:
            lost = self.lost
            msg = self.formatter.format(30, "monitoring", "%d messages dropped" % lost, None,
                                        False)
            t = self._next
            n = put_frame(tx, 0, t, _SYSLOG, msg)
            self._start_wait()
            await conn.send(tx[0:n])
            self._notice = t
            self._notice_n = lost
            self._notice_len = n
            self._out += 1
            self._next = next_txnr(t)
            # records logged during that send may have dropped unsent ones
            # (and moved the queue: the delivered bytes before them went)
            used = q.used
        # the queue's offsets hold until the next await: a record logged
        # meanwhile may remove the delivered bytes (q.done) and move the rest
        done = q.done
        src = done + self._sent
        buf = q.buf
        mv = q.mv
        ends = self._ends
        pinned = q.pinned  # sent at least once, not acknowledged
        room = self.window - self._out
        if room > len(ends):
            room = len(ends)
        t = self._next
        p = k = again = 0
        # in flight: half the queue at most (one message whatever its
        # size), so that during an outage the newest records can still
        # take the place of older unsent ones
        half = q.capacity // 2
        while src < used and k < room:
            e = buf.find(b"\n", src, used)
            if e - done >= half and (k or self._out):
                break
            n = e - src
            if p + frame_len(t, _SYSLOG, n) > len(tx):
                if k:
                    break
                # longer than _tx: the header from _tx, then the message
                # and its LF (the frame's) from the queue in place, which
                # must not move meanwhile: the delivered bytes go first
                if done:
                    q.reclaim()
                    src -= done
                    e -= done
                    pinned = q.pinned
                h = put_header(tx, 0, t, _SYSLOG, n)
                if e + 1 > pinned:
                    q.pin(e + 1)
                self._start_wait()
                await conn.send(tx[0:h])
                await conn.send(mv[src:e + 1])
                if e + 1 <= pinned:
                    c.log_resent += 1
                self._sent = e + 1
                self._out += 1
                self._next = next_txnr(t)
                return
            p = put_header(tx, p, t, _SYSLOG, n)
            tx[p:p + n + 1] = mv[src:e + 1]  # the message and its LF
            p += n + 1
            src = e + 1
            if src <= pinned:
                again += 1
            ends[k] = p
            k += 1
            t = next_txnr(t)
        if not k:
            return
        if src > pinned:
            q.pin(src)  # from now on a drop never takes them
        self._start_wait()
        try:
            await conn.send(tx[0:p])
        except OSError:
            # resent frames wholly handed over before the failure
            part = conn.partial
            i = 0
            while i < again and ends[i] <= part:
                i += 1
            c.log_resent += i
            raise
        c.log_resent += again
        self._sent = src - done
        self._out += k
        self._next = t

    def _start_wait(self):
        # the first frame awaited: the timeout runs from now
        if not self._out:
            self._ack_t = ticks_ms()

    # -- answers -------------------------------------------------------------

    def _read(self, conn):
        # every answer waiting on the connection, without blocking
        rx = self._rx
        pr = self._parser
        while True:
            n = conn.read_now(rx)
            if n < 0:
                return
            if n == 0:
                self._gone(conn, "EOF")
                return
            pos = 0
            while pos < n:
                pos = pr.feed(rx, pos, n)
                if pos == MORE:
                    break
                if pos == BAD:
                    raise ValueError("RELP: not a frame")
                self._answer(conn, pr)
                if conn.sock is None:
                    return

    def _gone(self, conn, why):
        # the server closed the session: with answers due, a failure;
        # idle, closed here too (the next message reconnects at once)
        if self._out or self._opening:
            raise OSError("RELP: " + why)
        conn.close()
        self._reset()

    def _answer(self, conn, pr):
        # one frame from the server
        if pr.cmd == SERVERCLOSE and pr.txnr == 0:
            return self._gone(conn, "serverclose")
        if pr.txnr == 0:
            return  # another hint: nothing to do
        if pr.cmd != RSP or pr.txnr != self._base or not (self._out or self._opening):
            raise ValueError("RELP: unexpected frame %d, awaiting %d" % (pr.txnr, self._base))
        if pr.status != 200:
            t = bytes(pr.text[:pr.kept])
            try:
                t = t.decode()
            except UnicodeError:
                t = repr(t)
            raise ValueError("RELP: " + t)
        self._ack_t = ticks_ms()
        if self._opening:
            if not pr.offers_syslog():
                raise ValueError("RELP: the server does not offer syslog")
            self._opening = False
            self._base = self._next = 2
            return
        c = self.counters
        t = self._base
        if t == self._notice:
            self.lost -= self._notice_n
            c.log_bytes_sent += self._notice_len
            self._notice = 0
        else:
            # the oldest message not delivered: delivered now
            q = self.queue
            d = q.done
            n = q.buf.find(b"\n", d, q.used) - d
            c.log_sent += q.deliver(n + 1)
            c.log_bytes_sent += frame_len(t, _SYSLOG, n)
            self._sent -= n + 1
        self._out -= 1
        self._base = next_txnr(t)
        self.backoff.succeeded()

    # -- task ----------------------------------------------------------------

    async def run(self):
        """Send whatever is queued, as it comes, until cancelled."""
        self._note_loop()
        q = self.queue
        b = self.backoff
        while True:
            if q.used == 0 and not self._out:
                self._event.clear()
                await self._event.wait()
                continue
            if not b.ready():
                await sleep_ms(max(ticks_diff(b._next, ticks_ms()), 0))
                continue
            try:
                await self.send()
            except Exception as e:  # defensive: the sender must not die
                self._error(e, b"syslog")
                b.failed()
            # answers due and nothing more to send now: read again in a few ms
            await sleep_ms(self.poll_ms if self._opening or self._out and (
                self._out >= self.window or q.done + self._sent >= q.used) else 0)

    async def aclose(self):
        """Stop the task, keep sending and reading answers until the queue
        is empty or ``timeout_ms`` passed, close the session, then
        :meth:`stop` (what is still unacknowledged counts as dropped)."""
        self._cancel()
        self.backoff.succeeded()
        conn = self._conn
        t0 = ticks_ms()
        while ticks_diff(ticks_ms(), t0) < conn.timeout_ms:
            if await self.send():
                break
            await sleep_ms(self.poll_ms)
        if conn.sock is not None and not self._out and not self._opening:
            try:
                # close, answered by a rsp (and a serverclose)
                n = put_frame(self._tx, 0, self._next, b"close")
                await conn.send(self._tx[0:n])
                t0 = ticks_ms()
                while conn.sock is not None and ticks_diff(ticks_ms(), t0) < conn.timeout_ms:
                    if conn.read_now(self._rx) == 0:
                        break
                    await sleep_ms(self.poll_ms)
            except Exception:
                pass
        self.stop()
