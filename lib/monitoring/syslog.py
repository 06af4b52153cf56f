"""Syslog message formatting and framing (pure: no sockets, no asyncio).

:class:`SyslogFormatter` writes one record into a preallocated buffer:

- RFC 5424 (default)::

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [meta sequenceId="N"] MSG

  PRI is ``facility * 8 + severity`` (:func:`severity` maps logging levels:
  debug 7, info 6, warning 4, error 3, critical 2). TIMESTAMP is RFC 3339
  UTC with milliseconds (``2026-01-02T03:04:05.678Z``) once the clock is
  set (year >= 2024, see :mod:`clock`), the NILVALUE ``-`` before. PROCID
  is always ``-``. MSGID is the logger name cut to 32 characters.
  ``sequenceId`` counts records from 1 (wrapping after 2147483647 back to
  1), so a receiver sees gaps. MSG is UTF-8, preceded by a BOM only when
  ``bom=True``.
- RFC 3164 (``rfc="rfc3164"``)::

    <PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG

  with TAG the logger name cut to 32 characters and the time in UTC.
  While the clock is unset TIMESTAMP and HOSTNAME are left out
  (``<PRI>TAG: MSG``), so the receiver stamps the record with its own
  time and the sender's address, as RFC 3164 section 4.3.3 says a relay does.

Header fields (HOSTNAME, APP-NAME, MSGID, TAG) are printable US-ASCII
without spaces: any other character is written as ``_`` (and in a TAG
also ``:``, ``[`` and ``]``); an empty field is ``-``.

Escaping, so that no record can forge another on any framing: in MSG,
every control character (bytes 0-31 and 127) is written as text: LF as
``\\n``, CR as ``\\r``, TAB as ``\\t``, any other as ``\\xNN`` (two
lowercase hex digits); a backslash is doubled (``\\\\``) so the escaping
can be undone without ambiguity (``\\n`` is an LF, ``\\\\n`` a backslash
and an ``n``). A formatted message therefore never
contains LF, CR or NUL: with LF framing it is exactly one line, with
octet counting its length is exact, and a UDP datagram holds one record.
Structured-data parameter values escape ``"``, ``\\`` and ``]`` with a
backslash, as RFC 5424 section 6.3.3 requires.

Truncation: a whole message (header included, framing excluded) is at
most ``max_len`` bytes (default 480, the size RFC 5424 says every receiver
must accept over UDP; give 2048 for TCP). MSG is cut so the message fits,
at a UTF-8 character boundary and never inside an escape sequence.

Framing (:func:`frame_into`, RFC 6587): ``"octet"`` writes ``LEN SP MSG``,
``"lf"`` writes ``MSG LF``, ``"none"`` (UDP, one message per datagram)
writes ``MSG`` alone.

Formatting a record allocates only a memoryview of the message (and, on
CPython, its UTF-8 encoding), the time tuple when the clock is set, and
the logger name's header field the first time a name is seen (cached).
"""

from . import clock
from .compat import ticks_diff, ticks_ms


def check_option(ok, what, value):
    """Raise ``ValueError("bad syslog WHAT: VALUE")`` unless ``ok``."""
    if not ok:
        raise ValueError("bad syslog %s: %r" % (what, value))


def severity(levelno):
    """Syslog severity of a logging level number: critical (>= 50) 2,
    error (>= 40) 3, warning (>= 30) 4, info (>= 20) 6, else debug 7."""
    return b"\x07\x06\x04\x03\x02"[min(max(levelno // 10 - 1, 0), 4)]


def pri(facility, sev):
    """The PRI value ``facility * 8 + severity``."""
    return facility * 8 + sev


def facility_code(facility):
    """A facility number from a number 0-23 or a name (``"daemon"``,
    ``"local0"``...); raises ValueError otherwise."""
    if type(facility) is int and 0 <= facility <= 23:
        return facility
    # by number ("-" where RFC 5424 names none we accept)
    names = ("kern user mail daemon auth syslog lpr news uucp cron authpriv ftp "
             "- - - - local0 local1 local2 local3 local4 local5 local6 local7").split()
    check_option(isinstance(facility, str) and facility != "-" and facility in names,
                 "facility", facility)
    return names.index(facility)


def header_token(s, maxlen, extra_bad=""):
    """``s`` as a header field: printable US-ASCII (33-126) without the
    characters of ``extra_bad``, any other character replaced by ``_``,
    cut to ``maxlen`` characters; ``b"-"`` (the NILVALUE) when empty."""
    if not isinstance(s, str):
        s = str(s)
    out = bytearray()
    for ch in s:
        if len(out) >= maxlen:
            break
        o = ord(ch)
        out.append(o if 33 <= o <= 126 and ch not in extra_bad else 95)
    return bytes(out) if out else b"-"


def escape_param_value(s):
    """An RFC 5424 SD-PARAM value: ``"``, ``\\`` and ``]`` get a backslash
    before them; returns UTF-8 bytes (without the surrounding quotes)."""
    return s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"]", b"\\]")


def put_int(buf, pos, n, width=1):
    """Write the decimal digits of ``n >= 0`` at ``buf[pos:]``, zero-padded
    to ``width``; returns the position after them. Allocates nothing."""
    end = pos + width
    k = 10 ** width
    while k <= n:
        end += 1
        k *= 10
    i = end - 1
    while i >= pos:
        buf[i] = 48 + n % 10
        n //= 10
        i -= 1
    return end


def put_msg(buf, pos, end, msg, whole=False):
    """Write ``msg`` (a str) escaped at ``buf[pos:end]``, cut to fit at a
    UTF-8 character boundary; returns the position after it. With
    ``whole``, a message that does not fit is not cut: -1 is returned
    (``buf[pos:end]`` then holds a part of it)."""
    # MicroPython: a str exposes its UTF-8 bytes through the buffer
    # protocol (no copy); CPython needs the encoding
    try:
        src = memoryview(msg)
    except TypeError:
        src = msg.encode()
    n = len(src)
    room = end - pos
    if room <= 0:
        return -1 if whole and n else pos
    k = n
    if k > room:
        if whole:
            return -1
        k = room
        while k > 0 and (src[k] & 0xC0) == 0x80:
            k -= 1
    # fast path: copy, then look for bytes that need escaping
    buf[pos:pos + k] = src if k == n else src[0:k]
    i = pos
    stop = pos + k
    while i < stop:
        c = buf[i]
        if c < 32 or c == 127 or c == 92:  # a control byte or a backslash
            return _put_escaped(buf, i, end, src, i - pos, whole)
        i += 1
    return stop


def _put_escaped(buf, p, end, src, j, whole):
    # put_msg's slow path: src[j:] (j the first byte needing an escape)
    # escaped at buf[p:end], character by character
    bs = 92  # backslash
    n = len(src)
    while j < n:
        c = src[j]
        if c < 32 or c == 127 or c == bs:
            # "\\", "\n", "\r", "\t" (the letter from the table by byte
            # value), or "\xNN" (e = 0)
            e = (bs if c == bs else
                 b"\0\0\0\0\0\0\0\0\0tn\0\0r"[c] if c < 14 else 0)
            w = 2 if e else 4
            if p + w > end:
                break
            buf[p] = bs
            if e:
                buf[p + 1] = e
            else:
                buf[p + 1] = 120  # x
                buf[p + 2] = b"0123456789abcdef"[c >> 4]
                buf[p + 3] = b"0123456789abcdef"[c & 15]
            p += w
            j += 1
        else:
            # one whole UTF-8 character
            w = 1 + (c >= 0xC0) + (c >= 0xE0) + (c >= 0xF0)
            if p + w > end:
                break
            buf[p:p + w] = src[j:j + w]
            p += w
            j += w
    return -1 if whole and j < n else p


class SyslogFormatter:
    """Formats records as RFC 5424 (default) or RFC 3164 messages.

    ``hostname``: the device name; ``app_name``: APP-NAME (RFC 5424,
    cut to 48 characters); ``facility``: a number 0-23 or a name
    (default 3, daemon); ``rfc``: ``"rfc5424"`` or ``"rfc3164"``;
    ``max_len``: the longest message in bytes (at least 64, and at least
    the longest header); ``bom``: put a UTF-8 BOM before MSG (RFC 5424
    only). Bad options raise ValueError.
    """

    def __init__(self, hostname="-", app_name="-", facility=3,
                 rfc="rfc5424", max_len=480, bom=False):
        check_option(rfc in ("rfc5424", "rfc3164"), "format", rfc)
        self.facility = facility_code(facility)
        r = self.rfc5424 = rfc == "rfc5424"
        self.max_len = max_len
        self.bom = bool(bom) and r
        # " HOST APP - " (RFC 5424) or " HOST " (RFC 3164), and the longest
        # header: PRI, version, timestamp, MSGID/TAG, structured data, BOM
        host = header_token(hostname, 255)
        if r:
            m = b" " + host + b" " + header_token(app_name, 48) + b" - "
            hmax = 95 + len(m) + 3 * self.bom
        else:
            m = b" " + host + b" "
            hmax = 54 + len(m)
        self._mid = m
        # the header is written here when a caller's room may be shorter
        self._hmax = hmax
        self._hbuf = bytearray(hmax)
        check_option(type(max_len) is int and max(64, hmax) <= max_len <= 65535,
                     "max_len", max_len)
        self._names = {}
        self.seq = 0
        # the second of the time fields _tm (reused within it), and the tick
        # of the last clock reading for _time (-1: none yet); both lists are
        # made once and written over: a new tuple each second would be left
        # wherever the heap had reached, for a second
        self._sec = self._now_tick = -1
        self._tm = [0] * 7
        self._now_tm = [0] * 7
        self._now_set = False

    def format_into(self, buf, pos, levelno, name, msg, ns=None, sd=True, room=None):
        """Write one message for a record at ``buf[pos:]`` (which must
        have ``max_len`` bytes of room); returns the position after it.
        With ``room`` (a number) less than ``max_len``, only ``room`` bytes are there:
        a message that does not fit whole is not written and -1 returned
        (the sequence counter then unchanged), so the caller can make room
        and call again.

        ``levelno``: the logging level number; ``name``: the logger name;
        ``msg``: the message text (a str); ``ns``: the record's time in
        ns since 1970 UTC, ignored while the clock is unset; by default
        now: :mod:`clock` read at most once a second, milliseconds within
        the second from the tick counter (so a clock set or stepped shows
        within a second). With ``sd=False`` the RFC 5424 structured data
        is the NILVALUE and the sequence counter is left alone (for the
        sender's own notices)."""
        if not isinstance(msg, str):
            msg = str(msg)  # first: if this fails, nothing has changed
        ms = self._time(ns)
        seq = 0  # this record's sequenceId; 0: none
        if sd and self.rfc5424:
            seq = self.seq + 1 if self.seq < 2147483647 else 1  # wraps after 2**31 - 1
        end = pos + self.max_len
        whole = room is not None and room < self.max_len
        out = buf
        start = pos
        if whole:
            if room <= 0:
                return -1
            end = pos + room
            if room < self._hmax:
                # the header might not fit: written aside first
                buf = self._hbuf
                pos = 0
        p = self._put_header(buf, pos, levelno, ms)
        # the MSGID or TAG of the logger name, cached for the first 16 seen
        f = self._names.get(name)
        if f is None:
            f = header_token(name, 32, "" if self.rfc5424 else ":[]")
            if len(self._names) < 16:
                self._names[name] = f
        p = self._put_name_sd(buf, p, f, seq)
        if buf is not out:
            if p > room:
                return -1
            out[start:start + p] = memoryview(buf)[0:p]
            p += start
        p = put_msg(out, p, end, msg, whole)
        if seq and p >= 0:
            self.seq = seq
        return p

    # The steps of format_into. On MicroPython a function whose arguments,
    # locals and stack take more than 11 words gets its frame from the heap
    # at every call: _put_header is the one step that large, the others
    # are kept small.

    def _time(self, ns):
        # the milliseconds of the record's time ns (None: now); sets _t to
        # its time tuple, None while the clock is unset
        if ns is not None:
            if not clock.is_set(ns):
                self._t = None
                return 0
            # the time tuple of the last second formatted, reused
            s = ns // 1000000000
            if s != self._sec:
                self._sec = s
                clock.utc_fields(ns, self._tm)
            self._t = self._tm
            return (ns // 1000000) % 1000
        # now: the clock is read (allocating big ints on boards) at most
        # once a second; within it, milliseconds come from the tick counter
        el = ticks_diff(ticks_ms(), self._now_tick)
        if self._now_tick < 0 or not 0 <= el < 1000 - self._now_ms:
            ns = clock.unix_ns()
            self._now_tick = ticks_ms()
            t = self._now_set = clock.is_set(ns)
            if t:
                clock.utc_fields(ns, self._now_tm)
            self._now_ms = self._now_tm[6] if t else 0  # utc_fields ends with the milliseconds
            el = 0
        self._t = self._now_tm if self._now_set else None
        return self._now_ms + el

    def _put_header(self, buf, p, levelno, ms):
        # "<PRI>", then RFC 5424: "1 TIMESTAMP HOST APP - ", TIMESTAMP
        # YYYY-MM-DDThh:mm:ss.mmmZ ("-" while the clock is unset); RFC 3164:
        # "Mmm dd hh:mm:ss HOST " (left out while it is unset). The time is
        # _t with ms. Returns the end.
        t = self._t
        r = self.rfc5424
        buf[p] = 60  # <
        p = put_int(buf, p + 1, self.facility * 8 + severity(levelno))
        buf[p] = 62  # >
        p += 1
        if r:
            buf[p] = 49  # version 1
            buf[p + 1] = 32
            p += 2
        if t is None:
            if not r:
                return p
            buf[p] = 45  # NILVALUE
            p += 1
        else:
            if r:
                p = put_int(buf, p, t[0], 4)  # the year
                j = 1
            else:
                # "Mmm dd" (the day space-padded)
                k = t[1] * 3 - 3
                for i in range(3):
                    buf[p + i] = b"JanFebMarAprMayJunJulAugSepOctNovDec"[k + i]
                k = t[2]  # the day
                buf[p + 3] = 32
                buf[p + 4] = 48 + k // 10 if k >= 10 else 32
                buf[p + 5] = 48 + k % 10
                p += 6
                j = 3
            # the two-digit fields up to the second (all < 100), each after
            # its separator
            sep = b"---T::" if r else b"    ::"
            while j < 6:
                k = t[j]
                buf[p] = sep[j]
                buf[p + 1] = 48 + k // 10
                buf[p + 2] = 48 + k % 10
                p += 3
                j += 1
            if r:
                buf[p] = 46  # .
                buf[p + 1] = 48 + ms // 100
                buf[p + 2] = 48 + ms // 10 % 10
                buf[p + 3] = 48 + ms % 10
                buf[p + 4] = 90  # Z
                p += 5
        m = self._mid
        buf[p:p + len(m)] = m
        return p + len(m)

    def _put_name_sd(self, buf, p, f, seq):
        # the MSGID or TAG f, then RFC 5424: the structured data with
        # sequenceId seq (0: the NILVALUE) and any BOM; RFC 3164: ": ".
        # Returns the end.
        buf[p:p + len(f)] = f
        p += len(f)
        if not self.rfc5424:
            buf[p] = 58  # :
            buf[p + 1] = 32
            return p + 2
        if seq:
            buf[p:p + 19] = b' [meta sequenceId="'
            p = put_int(buf, p + 19, seq)
            buf[p:p + 3] = b'"] '
        else:
            buf[p:p + 3] = b" - "
        p += 3
        if self.bom:
            buf[p:p + 3] = b"\xef\xbb\xbf"
            p += 3
        return p

    def format(self, levelno, name, msg, ns=None, sd=True):
        """The message as bytes (allocates; for tests and tools)."""
        b = bytearray(self.max_len)
        return bytes(b[:self.format_into(b, 0, levelno, name, msg, ns, sd)])


def frame_into(dst, pos, msg, n, framing):
    """Write the first ``n`` bytes of ``msg`` framed at ``dst[pos:]``;
    returns the position after the frame. ``framing``: ``"octet"``
    (``LEN SP MSG``), ``"lf"`` (``MSG LF``) or ``"none"`` (``MSG``)."""
    if framing == "octet":
        pos = put_int(dst, pos, n)
        dst[pos] = 32
        pos += 1
    dst[pos:pos + n] = msg[0:n]
    pos += n
    if framing == "lf":
        dst[pos] = 10
        pos += 1
    return pos


def frame(msg, framing):
    """``msg`` (bytes) framed, as bytes (allocates)."""
    b = bytearray(len(msg) + 12)  # room for "LEN SP" or LF
    return bytes(b[:frame_into(b, 0, msg, len(msg), framing)])
