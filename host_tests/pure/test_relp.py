"""RELP frames and the incremental parser of the server's frames, on
CPython and MicroPython. The server bytes are what rsyslog 8.2302's imrelp
(librelp 1.11) sent on loopback (see docs/syslog.md#relp)."""

from monitoring import relp
from monitoring.relp import BAD, MORE, OTHER, RSP, SERVERCLOSE, Parser

# what imrelp answered, captured with a socket client
OPEN_RSP = (b"1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,"
            b"http://librelp.adiscon.com\ncommands=syslog\n")
ACKS = b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n"
CLOSE_RSP = b"4 rsp 0\n0 serverclose 0\n"
REOPEN_RSP = (b"3 rsp 43 500 protocol error: connection already open\n"
              b"3 rsp 26 500 error 10047 on connect\n0 serverclose 0\n")


def frames(data, parser=None, step=None):
    """Every frame in ``data`` as (txnr, cmd, datalen, status, kept text),
    fed ``step`` bytes at a time (all at once when None); BAD ends it."""
    p = parser or Parser()
    buf = bytearray(data)
    out = []
    start = 0
    while start < len(buf):
        end = len(buf) if step is None else min(start + step, len(buf))
        pos = start
        while pos < end:
            r = p.feed(buf, pos, end)
            if r == MORE:
                break
            if r == BAD:
                out.append("BAD")
                return out
            out.append((p.txnr, p.cmd, p.datalen, p.status, bytes(p.text[:p.kept])))
            pos = r
        start = end
    return out


def test_txnr_wraps_after_999999999_to_1():
    assert relp.next_txnr(1) == 2
    assert relp.next_txnr(999999998) == 999999999
    assert relp.next_txnr(999999999) == 1


def test_open_frame():
    buf = bytearray(200)
    n = relp.put_frame(buf, 0, 1, b"open", relp.OFFERS)
    want = (b"1 open 67 relp_version=0\nrelp_software=micropython-monitoring\n"
            b"commands=syslog\n")
    assert bytes(buf[:n]) == want, bytes(buf[:n])
    assert relp.frame_len(1, b"open", len(relp.OFFERS)) == n


def test_syslog_header_and_empty_frame():
    buf = bytearray(64)
    p = relp.put_header(buf, 0, 2, b"syslog", 5)
    assert bytes(buf[:p]) == b"2 syslog 5 "
    p = relp.put_frame(buf, 0, 3, b"close")
    assert bytes(buf[:p]) == b"3 close 0\n"
    assert relp.frame_len(3, b"close", 0) == p
    # the largest transaction number, nine digits
    p = relp.put_frame(buf, 0, 999999999, b"syslog", b"<14>1 x")
    assert bytes(buf[:p]) == b"999999999 syslog 7 <14>1 x\n"
    assert relp.frame_len(999999999, b"syslog", 7) == p


def test_frame_len_matches_written_frames():
    buf = bytearray(2100)
    for txnr in (1, 9, 10, 99, 100, 12345, 999999999):
        for n in (1, 9, 10, 99, 100, 999, 1000, 2048):
            p = relp.put_frame(buf, 0, txnr, b"syslog", b"x" * n)
            assert relp.frame_len(txnr, b"syslog", n) == p, (txnr, n)
    assert relp.digits(0) == 1 and relp.digits(9) == 1 and relp.digits(10) == 2


def test_rsyslog_answers_whole_bytewise_and_split():
    want = [
        (1, RSP, 93, 200, OPEN_RSP[9:-1]),
        (2, RSP, 6, 200, b"200 OK"),
        (3, RSP, 6, 200, b"200 OK"),
        (4, RSP, 0, -1, b""),
        (0, SERVERCLOSE, 0, -1, b""),
    ]
    data = OPEN_RSP + ACKS + CLOSE_RSP
    assert frames(data) == want
    for step in (1, 2, 3, 7, 16, 64):
        assert frames(data, step=step) == want, step
    # split at every position into two reads
    for cut in range(1, len(data)):
        p = Parser()
        buf = bytearray(data)
        got = []
        for a, b in ((0, cut), (cut, len(data))):
            pos = a
            while pos < b:
                r = p.feed(buf, pos, b)
                if r == MORE:
                    break
                assert r != BAD, cut
                got.append((p.txnr, p.cmd, p.datalen, p.status, bytes(p.text[:p.kept])))
                pos = r
        assert got == want, cut


def test_error_answers():
    got = frames(REOPEN_RSP)
    assert [(t, c, s) for t, c, _, s, _ in got] == [(3, RSP, 500), (3, RSP, 500),
                                                     (0, SERVERCLOSE, -1)]
    assert got[0][4] == b"500 protocol error: connection already open"


def test_other_commands_and_status_forms():
    got = frames(b"0 abort 0\n7 RSP 3 200\n8 rsp 4 2001\n9 rsp 3 20x\n5 serverclosed 0\n")
    assert [(t, c, s) for t, c, _, s, _ in got] == [
        (0, OTHER, -1), (7, OTHER, 200), (8, RSP, -1), (9, RSP, -1), (5, OTHER, -1)]


def test_bad_frames():
    for data in (b"x rsp 0\n", b"1234567890 rsp 0\n", b"1 rsp 6 200 OKX", b"1 r$p 0\n",
                 b"1 rsp\n", b"1  rsp 0\n", b"1 rsp 0 \n", b"1 rsp x\n", b"1 rsp 1234567890 x",
                 b"1 " + b"a" * 33 + b" 0\n", b"1 rsp \n", b" 1 rsp 0\n", b"1 rsp 2 OK\r\n"):
        assert frames(data)[-1] == "BAD", data
    # 9 digits and a 32-letter command are the limits, not errors
    assert frames(b"999999999 " + b"a" * 32 + b" 0\n") == [(999999999, OTHER, 0, -1, b"")]
    # after BAD the parser starts a new frame
    p = Parser()
    assert frames(b"1 rsp x\n", p) == ["BAD"]
    assert frames(b"2 rsp 6 200 OK\n", p) == [(2, RSP, 6, 200, b"200 OK")]


def test_long_data_is_kept_in_part_and_skipped():
    body = b"200 OK\n" + b"z" * 300
    data = b"1 rsp %d " % len(body) + body + b"\n" + ACKS
    for step in (None, 1, 5, 100):
        got = frames(data, Parser(16), step)
        assert got[0] == (1, RSP, len(body), 200, body[:16]), (step, got[0])
        assert got[1:] == [(2, RSP, 6, 200, b"200 OK"), (3, RSP, 6, 200, b"200 OK")], step


def test_offers_syslog():
    def offers(data, keep=128):
        p = Parser(keep)
        assert frames(data, p)
        return p.offers_syslog()

    def rsp(body):
        return b"1 rsp %d %s\n" % (len(body), body)

    assert offers(OPEN_RSP)
    assert offers(rsp(b"200 OK\nrelp_version=0\ncommands=a,syslog"))
    assert offers(rsp(b"200 OK\nrelp_version=0\ncommands=syslog,eventlog\nx=1"))
    assert not offers(rsp(b"200 OK\nrelp_version=0\ncommands=eventlog"))
    assert not offers(rsp(b"200 OK\nrelp_version=0\ncommands=syslogx"))
    assert not offers(rsp(b"200 OK\nrelp_version=0\ncommands=xsyslog,a"))
    assert not offers(rsp(b"200 OK\nrelp_version=0"))
    # offers cut before any commands offer: cannot tell, assumed
    assert offers(OPEN_RSP, keep=32)


def test_parsing_acks_leaves_no_garbage():
    import gc

    if not hasattr(gc, "mem_alloc"):
        return  # CPython: nothing to measure

    data = bytearray(b"".join(b"%d rsp 6 200 OK\n" % i for i in range(2, 102)))
    p = Parser()
    n = len(data)
    gc.collect()
    a = gc.mem_alloc()
    pos = count = 0
    while pos < n:
        pos = p.feed(data, pos, n)
        count += 1
    b = gc.mem_alloc()
    assert count == 100 and p.txnr == 101
    assert b - a == 0, b - a
