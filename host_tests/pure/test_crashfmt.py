"""Crash reports written into the preallocated record, on CPython and
MicroPython: the header line, the traceback (cut in the middle when too
long), the last log records, the header fields and counters."""

from monitoring import crashfmt
from monitoring.crashfmt import HEAD, Report


def boom(depth):
    if depth:
        boom(depth - 1)
    raise ValueError("sensor %d gone" % 7)


def caught(depth=0):
    try:
        boom(depth)
    except ValueError as e:
        return e


class _Counters:
    NAMES = ("points_sent", "log_sent")

    def __init__(self):
        self.points_sent = 0
        self.log_sent = 0


def text(r):
    return bytes(r.report_view()).decode()


def test_report_holds_header_traceback_and_records():
    r = Report(1024, 3, 60)
    r.add_record(20, "app", "starting", 0)
    r.add_record(30, "sensor", "running hot: 25.1 C", 12)
    r.add_record(40, "http", "request 17 failed\nsecond line", 13)
    r.add_record(50, "http", "fatal", 14)  # the ring keeps the last three
    n = r.write_report(caught(), 15, 1200, 3400, -1, "demo-1.0")
    t = text(r)
    assert len(t) == n == r.pending(), (n, r.pending())
    lines = t.split("\n")
    assert lines[0] == ("ValueError after 15 s; heap free 1200 B, alloc 3400 B, largest ?; "
                        "firmware demo-1.0"), lines[0]
    assert lines[1] == "Traceback (most recent call last):", lines
    assert "ValueError: sensor 7 gone" in lines
    i = lines.index("last records:")
    assert lines[i + 1:] == ["12 s W sensor: running hot: 25.1 C",
                             "13 s E http: request 17 failed second line",
                             "14 s C http: fatal"], lines
    assert r.crashes() == 1 and r.last_uptime() == 15


def test_largest_block_and_no_records():
    r = Report(512, 0, 40)
    r.write_report(caught(), 3, 10, 20, 4096, b"fw")
    t = text(r)
    assert t.startswith("ValueError after 3 s; heap free 10 B, alloc 20 B, largest 4096 B; "
                        "firmware fw\nTraceback"), t
    assert "last records" not in t and t.endswith("ValueError: sensor 7 gone"), t


def test_a_long_traceback_keeps_its_head_and_its_end():
    r = Report(300, 2, 40)
    r.add_record(20, "app", "x" * 100, 1)  # cut to the slot
    n = r.write_report(caught(30), 9, 1, 2, -1, "fw")
    t = text(r)
    assert n <= 300 and len(t) == n, n
    lines = t.split("\n")
    assert lines[1] == "Traceback (most recent call last):"
    assert "..." in lines, lines
    k = lines.index("last records:")
    assert lines[k - 1] == "ValueError: sensor 7 gone", lines
    assert lines[k + 1].startswith("1 s I app: xxx") and len(lines[k + 1]) == 40, lines[k + 1]
    # whole lines after the cut
    after = lines[lines.index("...") + 1]
    assert after.startswith("  ") or after == "ValueError: sensor 7 gone", after


def test_reports_count_and_the_record_reloads():
    r = Report(256, 1, 32)
    r.write_report(caught(), 1, 0, 0, -1, "fw")
    r.write_report(caught(), 2, 0, 0, -1, "fw")
    assert r.crashes() == 2 and r.last_uptime() == 2
    blob = bytes(r.blob)
    r2 = Report(256, 1, 32)
    assert r2.load(blob) and r2.crashes() == 2 and text(r2) == text(r)
    r2.set_pending(0)
    assert r2.pending() == 0 and r2.crashes() == 2
    # a record that is not one: a new record
    r3 = Report(256, 1, 32)
    assert not r3.load(b"junk" + bytes(200)) and r3.crashes() == 0 and r3.pending() == 0
    assert not r3.load(None) and not r3.load(b"MCR1")
    # stored with a larger report: the pending length fits this one
    big = Report(1024, 0, 32)
    big.write_report(caught(8), 1, 0, 0, -1, "f" * 600)
    small = Report(256, 0, 32)
    assert small.load(bytes(big.blob)) and small.pending() == 256


def test_heartbeat_and_counters_across_a_sleep():
    r = Report(256, 0, 32)
    assert r.beat_name() is None
    r.set_beat(b"sensor", 42)
    assert r.beat_name() == b"sensor" and r.beat_uptime() == 42
    r.set_beat("a-very-long-task-name-indeed", 43)
    assert r.beat_name() == b"a-very-long-task"
    r.clear_beat()
    assert r.beat_name() is None
    c = _Counters()
    c.points_sent, c.log_sent = 5, 7
    r.save_counters(c, c.NAMES)
    r.save_counters(c, c.NAMES)
    assert r.wakes() == 2
    c2 = _Counters()
    c2.points_sent = 1
    r2 = Report(256, 0, 32)
    r2.load(bytes(r.blob))
    assert r2.restore_counters(c2, c2.NAMES)
    assert (c2.points_sent, c2.log_sent) == (6, 7)
    assert not r2.restore_counters(c2, c2.NAMES)  # once
    assert crashfmt.get_u32(r.blob, 4) == 0


def test_watchdog_text_report():
    r = Report(256, 2, 40)
    r.add_record(30, "sensor", "slow", 5)
    n = r.write_text(b"watchdog reset; last beat: sensor after 6 s", 6)
    assert text(r) == "watchdog reset; last beat: sensor after 6 s\nlast records:\n5 s W sensor: slow"
    assert n == r.pending() and r.crashes() == 1 and r.last_uptime() == 6
    assert HEAD == 104 and len(r.blob) == HEAD + 256


def test_put_int_and_bytes_bounds():
    b = bytearray(8)
    assert crashfmt.put_int(b, 0, 8, 0) == 1 and b[0] == 48
    assert crashfmt.put_int(b, 0, 8, 1234567) == 7 and bytes(b[:7]) == b"1234567"
    assert crashfmt.put_int(b, 0, 3, 1234) == 0  # does not fit: nothing
    assert crashfmt.put_bytes(b, 0, 4, b"ab\x01\ncdef") == 4 and bytes(b[:4]) == b"ab \n"


class _Shown:
    # what the crash section gives the control port: text() of the last report
    def __init__(self, report):
        self.report = report

    def text(self):
        n = self.report.pending()
        return crashfmt.escaped(self.report.report_view(n)) if n else None


def test_control_c_answers_the_report_escaped_as_syslog_does():
    from monitoring.control import execute
    from monitoring.metrics import Registry

    reg = Registry()
    r = Report(512, 1, 40)
    shown = _Shown(r)
    assert execute("c", None, reg, crash=shown) == "ok: none"
    r.add_record(20, "app", "back\\slash", 3)
    r.write_report(caught(), 4, 1, 2, -1, "fw")
    reply = execute(b"c\r\n", None, reg, crash=shown)
    t = text(r)
    assert reply == "ok: " + t.replace("\\", "\\\\").replace("\n", "\\n"), reply
    assert "\n" not in reply and reply.endswith("3 s I app: back\\\\slash"), reply
    assert execute("c", None, reg) == "error: no crash reports"
    assert execute("cx", None, reg, crash=shown) == "error: unknown command"
    assert execute("x", None, reg, crash=shown) == "error: unknown command"


def test_writing_a_report_allocates_at_most_one_memoryview():
    # MicroPython only (CPython's gc has no mem_alloc): the type name's
    # memoryview is all a report allocates, the message's all a record does
    import gc

    if not hasattr(gc, "mem_alloc"):
        return
    r = Report(1024, 4, 80)
    e = caught(3)
    name = b"fw-1"
    for i in range(4):
        r.add_record(20, "app", "record", i)
    r.write_report(e, 1, 2, 3, -1, name)
    gc.collect()
    a = gc.mem_alloc()
    r.write_report(e, 1, 2, 3, -1, name)
    b = gc.mem_alloc()
    msg = "a message"
    gc.collect()
    c = gc.mem_alloc()
    r.add_record(30, "app", msg, 5)
    d = gc.mem_alloc()
    assert b - a <= 32 and d - c <= 32, (b - a, d - c)
