"""Influx reporter under the MicroPython Unix port, against a real InfluxDB 1.6.

Every program here runs under the `micropython` binary; what InfluxDB stored
(or what a test listener received, for TCP and the v2 API) is compared with
what the program set.
"""

import json
import socket
import threading
import time

import pytest

from peers import free_port, wait_until

# Names and values that need every kind of escaping the line protocol has.
TRICKY_MEASUREMENT = 'we ird"m=é\\x'
TRICKY_LABELS = {"ro om": "hall, 1=a", "qu\"o": "naïve \\o/"}
TRICKY_FIELDS = {
    "spa ce": 1,
    "com,ma": -7,
    "eq=uals": 2.5,
    'quo"te': True,
    "back\\slash": False,
    "ünï": 'say "hi", a=b \\ é',
    "big": 1234567890123,
    "tiny": 1e-300,
    "third": 1 / 3,
}


def program(sink, transport, flushes=3, interval=0.1, extra="", start_args="", body=""):
    """A MicroPython program: a tricky user source updated between flushes;
    prints a JSON summary of the reporter's counters at the end."""
    return """
import asyncio, gc, json, monitoring
from monitoring.metrics import Source
# the sampler runs once per flush: "flush" numbers the points
app = Source(%r, tags=("demo",), labels=%r, sampler=lambda s: s.incr("flush"))
FIELDS = %r
%s
async def main():
    mon = monitoring.start(hostname="pico-1", influx={"host": %r, "port": %d,
                           "transport": %r, "interval_s": %r%s})
    for k in FIELDS:
        app.set(k, FIELDS[k])
    for i in range(%d):
        await asyncio.sleep(%r)
%s
    # stop the periodic task, pushing what is still queued
    await mon.influx.aclose()
    c = mon.counters
    print(json.dumps({"sent": c.points_sent, "dropped": c.points_dropped,
                      "errors": c.send_errors, "queued": len(mon.influx.queue),
                      "fields_dropped": c.fields_dropped, "reconnects": c.reconnects,
                      "last_error": mon.influx.last_error}))
    mon.stop()
asyncio.run(main())
""" % (TRICKY_MEASUREMENT, TRICKY_LABELS, TRICKY_FIELDS, extra, sink[0], sink[1], transport,
       interval, start_args, flushes, interval, body)


def summary(out):
    return json.loads(out.strip().splitlines()[-1])


def check_tricky_rows(influxdb, db, min_rows):
    rows = influxdb.rows(db, TRICKY_MEASUREMENT)
    assert len(rows) >= min_rows, rows
    last = rows[-1]
    for k, v in TRICKY_FIELDS.items():
        assert last[k] == v, (k, last[k], v)
    for k, v in TRICKY_LABELS.items():
        assert last[k] == v
    assert last["host"] == "pico-1"
    types = influxdb.field_types(db, TRICKY_MEASUREMENT)
    assert types["spa ce"] == "integer" and types["eq=uals"] == "float"
    assert types['quo"te'] == "boolean" and types["ünï"] == "string"
    # every flush stored as its own point, none missing
    flushes = sorted(r["flush"] for r in rows)
    assert flushes == list(range(1, len(rows) + 1)), flushes
    return rows


def test_http_v1_stores_exact_values_types_and_tags(mp, influxdb, influx_db):
    p = mp.run(program(("127.0.0.1", influxdb.http_port), "http", start_args=", 'db': %r" % influx_db))
    s = summary(p.stdout)
    assert s["errors"] == 0 and s["dropped"] == 0 and s["queued"] == 0, s
    rows = check_tricky_rows(influxdb, influx_db, 3)
    # built-ins arrive too, with the host tag
    mem = influxdb.rows(influx_db, "memory")
    assert mem and all(r["host"] == "pico-1" for r in mem)
    assert mem[-1]["total"] == mem[-1]["free"] + mem[-1]["alloc"]
    system = influxdb.rows(influx_db, "system")
    assert system[-1]["platform"] == "linux"
    mon = influxdb.rows(influx_db, "monitoring")
    assert mon[-1]["send_errors"] == 0
    # every point the board counted as sent is stored
    stored = sum(influxdb.count(influx_db, m) for m in
                 (TRICKY_MEASUREMENT, "memory", "system", "monitoring"))
    assert stored == s["sent"], (stored, s)
    assert len(rows) >= 3


def test_udp_datagrams_arrive_whole(mp, influxdb):
    # a small MTU forces several datagrams per flush; no line may be split
    p = mp.run(program(("127.0.0.1", influxdb.udp_port), "udp", start_args=", 'mtu_bytes': 300"))
    s = summary(p.stdout)
    assert s["errors"] == 0 and s["sent"] >= 12, s
    wait_until(lambda: len(influxdb.rows(influxdb.udp_db, TRICKY_MEASUREMENT)) >= 3, 5)
    check_tricky_rows(influxdb, influxdb.udp_db, 3)
    stats = influxdb.query("SHOW STATS FOR 'udp'")
    for series in stats[0].get("series", []):
        cols = series["columns"]
        for v in series["values"]:
            row = dict(zip(cols, v))
            assert row.get("pointsParseFail", 0) == 0, row


class Listener:
    """A TCP listener thread recording every byte each connection sends.

    ``mode``: "record" keeps reading; "stall" accepts and never reads.
    """

    def __init__(self, port=None, mode="record"):
        self.port = port or free_port()
        self.mode = mode
        self.data = bytearray()
        self.conns = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if mode == "stall":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(c)
            if self.mode == "record":
                threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
        c.settimeout(0.2)
        while not self.stopped:
            try:
                b = c.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not b:
                return
            self.data += b

    def close(self):
        self.stopped = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


class HttpSink:
    """A thread standing for an InfluxDB HTTP API: accepts one connection
    per reply of ``replies``, reads one request off it, records it in
    ``requests`` as (head text, body bytes), answers with the reply and
    closes; then stops."""

    def __init__(self, replies):
        self.port = free_port()
        self.replies = replies
        self.requests = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(10)
        for reply in self.replies:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                data += c.recv(4096)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int([h for h in head.split(b"\r\n")
                          if h.lower().startswith(b"content-length:")][0][15:])
            while len(body) < length:
                body += c.recv(4096)
            self.requests.append((head.decode(), body))
            c.sendall(reply)
            c.close()

    def close(self):
        self.thread.join(5)
        self.sock.close()


def test_tcp_stream_is_accepted_by_influxdb(mp, influxdb, influx_db):
    lst = Listener()
    try:
        p = mp.run(program(("127.0.0.1", lst.port), "tcp", flushes=4))
        s = summary(p.stdout)
        wait_until(lambda: bytes(lst.data).count(b"\n") >= s["sent"], 5)
    finally:
        lst.close()
    data = bytes(lst.data)
    assert data.endswith(b"\n") and data.count(b"\n") == s["sent"], (s, data[-200:])
    assert len(lst.conns) == 1  # one kept-open connection
    # forwarded unchanged to the real InfluxDB: every line accepted
    status, body = influxdb.write(influx_db, data)
    assert status == 204, body
    check_tricky_rows(influxdb, influx_db, 4)


def test_http_v2_request_is_exact(mp, influxdb, influx_db):
    sink = HttpSink([NO_CONTENT])
    port = sink.port
    try:
        p = mp.run(program(("127.0.0.1", port), "http", flushes=1, interval=0.3,
                           start_args=", 'org': 'my org', 'bucket': 'b/1', 'token': 's3cr=t', 'precision': 'ms'"))
    finally:
        sink.close()
    s = summary(p.stdout)
    assert s["errors"] == 0 and s["queued"] == 0, s
    head, body = sink.requests[0]
    lines = head.split("\r\n")
    assert lines[0] == "POST /api/v2/write?org=my%20org&bucket=b%2F1&precision=ms HTTP/1.1"
    headers = dict(h.split(": ", 1) for h in lines[1:])
    assert headers["Authorization"] == "Token s3cr=t"
    assert headers["Host"] == "127.0.0.1:%d" % port
    assert headers["Content-Type"].startswith("text/plain")
    assert int(headers["Content-Length"]) == len(body)
    # timestamps in ms (13 digits) since the Unix port's clock is set
    first = body.split(b"\n")[0]
    assert len(first.rsplit(b" ", 1)[1]) == 13
    status, err = influxdb.write(influx_db, body, precision="ms")
    assert status == 204, err
    check_tricky_rows(influxdb, influx_db, 1)


def test_outage_buffers_then_delivers_and_counts_drops(mp, influxdb, influx_db):
    """The sink is down for several intervals, then comes back: what the
    buffer held arrives in order, and every point produced is either
    delivered, counted as dropped, or still queued."""
    port = free_port()
    code = """
import asyncio, gc, json, monitoring
from monitoring.metrics import Source
# the sampler runs once per flush: "n" numbers the points produced
app = Source("app", sampler=lambda s: s.incr("n"))
async def main():
    mon = monitoring.start(hostname="pico-1", sources={"builtin": False}, influx={
        "host": "127.0.0.1", "port": %d, "transport": "tcp", "interval_s": 0.05,
        "buffer_bytes": 1024})
    mon.influx.backoff.max_ms = 100
    app.set("pad", "x" * 20)
    peak = 0
    for i in range(120):
        await asyncio.sleep(0.05)
        gc.collect()
        peak = max(peak, gc.mem_alloc())
        if i == 10:
            base = gc.mem_alloc()
    mon.influx.stop()
    c = mon.counters
    print(json.dumps({"produced": app.get("n"), "sent": c.points_sent, "dropped": c.points_dropped,
                      "queued": len(mon.influx.queue), "errors": c.send_errors,
                      "reconnects": c.reconnects, "peak": peak, "base": base}))
asyncio.run(main())
""" % port
    proc = mp.spawn(code)
    try:
        # the board runs ~60 intervals (3 s) against nothing, then the sink appears
        time.sleep(3.0)
        lst = Listener(port)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.3)
    lst.close()
    assert proc.returncode == 0, out
    s = summary(out)
    data = bytes(lst.data)
    ns = [int(line.split(b"n=")[1].split(b"i")[0]) for line in data.splitlines()]
    assert len(ns) == s["sent"], (len(ns), s)
    # in order, no duplicates
    assert ns == sorted(set(ns)), ns
    # 1 KB cannot hold 3 s of points: some were dropped, and exactly those are missing
    assert s["dropped"] > 0, s
    assert s["produced"] == s["sent"] + s["dropped"] + s["queued"], s
    assert s["errors"] >= 1
    # the oldest were dropped: what arrived first after the outage is recent
    assert ns[0] > 1
    # heap bounded while buffering
    assert s["peak"] - s["base"] < 4096, s
    # and the real InfluxDB accepts what arrived
    status, body = influxdb.write(influx_db, data)
    assert status == 204, body
    assert influxdb.count(influx_db, "app") == len(ns)


def test_http_400_drops_batch_500_retries(mp, influxdb, influx_db):
    """A 400 from the real InfluxDB (field type conflict) drops the batch and
    counts it; the reporter carries on. Then a 500 from a test server is
    retried until it succeeds."""
    # make "seq" a string field in this database: the board's int is refused
    st, body = influxdb.write(influx_db, ('%s,host=x seq="text"\n' % "confl").encode())
    assert st == 204, body
    code = """
import asyncio, json, monitoring
from monitoring.metrics import Source
app = Source("confl")
async def main():
    mon = monitoring.start(hostname="pico-1", sources={"builtin": False}, influx={
        "host": "127.0.0.1", "port": %d, "db": %r, "interval_s": 0.1})
    for i in range(3):
        app.set("seq", i)
        await asyncio.sleep(0.1)
    await mon.influx.aclose()
    c = mon.counters
    print(json.dumps({"sent": c.points_sent, "dropped": c.points_dropped,
                      "queued": len(mon.influx.queue), "errors": c.send_errors,
                      "last_error": mon.influx.last_error}))
    mon.stop()
asyncio.run(main())
""" % (influxdb.http_port, influx_db)
    s = summary(mp.run(code).stdout)
    assert s["sent"] == 0 and s["queued"] == 0, s
    assert s["dropped"] == s["errors"] >= 3, s  # one point per flush, each refused once
    assert "HTTP 400" in s["last_error"] and "conflict" in s["last_error"], s
    assert influxdb.count(influx_db, "confl") == 1  # only the pre-existing point

    # 500 twice, then 204: the same lines are retried and delivered once
    error = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!"
    sink = HttpSink([error, error, NO_CONTENT])
    code2 = """
import asyncio, json, monitoring
from monitoring.metrics import Source
app = Source("retry")
async def main():
    mon = monitoring.start(hostname="pico-1", sources={"builtin": False}, influx={
        "host": "127.0.0.1", "port": %d, "db": "x", "interval_s": 5})
    mon.influx.backoff.min_ms = 50
    app.set("v", 1)
    for i in range(40):
        await asyncio.sleep(0.05)
        await mon.influx.send()
    c = mon.counters
    print(json.dumps({"sent": c.points_sent, "dropped": c.points_dropped,
                      "queued": len(mon.influx.queue), "errors": c.send_errors}))
    mon.stop()
asyncio.run(main())
""" % sink.port
    s2 = summary(mp.run(code2).stdout)
    sink.close()
    bodies = [body for _, body in sink.requests]
    assert s2 == {"sent": 1, "dropped": 0, "queued": 0, "errors": 2}, s2
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]
    st, err = influxdb.write(influx_db, bodies[2])
    assert st == 204, err


def test_sink_that_never_reads_does_not_stall_the_board(mp):
    lst = Listener(mode="stall")
    code = """
import asyncio, gc, json, monitoring, monitoring.influx, monitoring.netio
from monitoring.compat import ticks_ms, ticks_diff
from monitoring.metrics import Source
app = Source("app")

class BoardSizedTcp(monitoring.netio.TcpClient):
    # a board's TCP stack buffers a few KB, Linux megabytes: shrink SO_SNDBUF
    async def connect(self):
        await super().connect()
        self.sock.setsockopt(1, 7, 4096)  # SOL_SOCKET, SO_SNDBUF

monitoring.influx.TcpClient = BoardSizedTcp
async def main():
    mon = monitoring.start(hostname="pico-1", influx={
        "host": "127.0.0.1", "port": %d, "transport": "tcp", "interval_s": 0.02,
        "timeout_ms": 300, "buffer_bytes": 2048})
    app.set("pad", "y" * 400)
    worst = 0
    peak = 0
    for i in range(250):
        t0 = ticks_ms()
        await asyncio.sleep_ms(10)
        worst = max(worst, ticks_diff(ticks_ms(), t0) - 10)
        if i %% 25 == 0:
            gc.collect()
            peak = max(peak, gc.mem_alloc())
    c = mon.counters
    print(json.dumps({"sent": c.points_sent, "dropped": c.points_dropped, "errors": c.send_errors,
                      "worst_ms": worst, "peak": peak}))
    mon.stop()
asyncio.run(main())
""" % lst.port
    try:
        p = mp.run(code, heapsize="128k", timeout=60)
    finally:
        lst.close()
    s = summary(p.stdout)
    assert s["errors"] >= 1, s  # the stalled writes timed out
    assert s["dropped"] > 0, s  # and the 2 KB buffer overflowed, counted
    assert s["worst_ms"] < 100, s  # the loop kept running (sanity bound, not a budget)
    assert s["peak"] < 100 * 1024, s


def test_nan_field_dropped_and_counted(mp, influxdb, influx_db):
    code = """
import asyncio, json, monitoring
from monitoring.metrics import Source
app = Source("nan")
async def main():
    mon = monitoring.start(hostname="pico-1", sources={"builtin": False}, influx={
        "host": "127.0.0.1", "port": %d, "db": %r, "interval_s": 0.1})
    app.set("good", 1.5)
    app.set("bad", float("nan"))
    await asyncio.sleep(0.25)
    c = mon.counters
    print(json.dumps({"sent": c.points_sent, "fields_dropped": c.fields_dropped,
                      "errors": c.send_errors}))
    mon.stop()
asyncio.run(main())
""" % (influxdb.http_port, influx_db)
    s = summary(mp.run(code).stdout)
    assert s["errors"] == 0 and s["sent"] >= 2 and s["fields_dropped"] == s["sent"], s
    rows = influxdb.rows(influx_db, "nan")
    assert rows and all(r["good"] == 1.5 and "bad" not in r for r in rows)


def test_unset_clock_leaves_timestamps_to_the_server(mp):
    lst = Listener()
    code = """
import asyncio, monitoring, monitoring.clock
monitoring.clock.unix_ns = lambda: 5 * 10**9  # 1970: not set
from monitoring.metrics import Source
app = Source("app")
async def main():
    mon = monitoring.start(hostname="h", sources={"builtin": False}, influx={
        "host": "127.0.0.1", "port": %d, "transport": "tcp", "interval_s": 0.1})
    app.set("v", 3)
    await asyncio.sleep(0.15)
    mon.stop()
asyncio.run(main())
""" % lst.port
    try:
        mp.run(code)
        wait_until(lambda: lst.data.count(b"\n") >= 1, 3)
    finally:
        lst.close()
    assert bytes(lst.data).split(b"\n")[0] == b"app,host=h v=3i"


DATA_KB = 26


@pytest.mark.parametrize("transport", ["http", "udp"])
def test_sixty_intervals_in_a_board_sized_heap(mp, influxdb, influx_db, transport):
    """Sixty flushes on a board-sized heap, nothing dropped: the reporter's
    code (as measured) and DATA_KB KB of data (a 64 KB heap held 23 KB of
    data when this test was written; the code's size is a bench figure,
    bench/RESULTS.md)."""
    port = influxdb.http_port if transport == "http" else influxdb.udp_port
    db = influx_db if transport == "http" else influxdb.udp_db
    code = """
import asyncio, gc, monitoring
from monitoring.metrics import Source
app = Source("heap64_%s", tags=("demo",))
async def main():
    mon = monitoring.start(hostname="pico-64k", influx={
        "host": "127.0.0.1", "port": %d, "transport": %r, "db": %r, "interval_s": 0.05})
    for i in range(60):
        app.set("seq", i)
        app.incr("n")
        app.set("t", 20.0 + i / 10)
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)
    c = mon.counters
    print("sent", c.points_sent, "dropped", c.points_dropped, "errors", c.send_errors, "free", gc.mem_free(),
          "last_error", repr(mon.influx.last_error).replace(" ", "_"))
    mon.stop()
asyncio.run(main())
""" % (transport, port, transport, db)
    heap = mp.heap_for(("asyncio", "monitoring", "monitoring.influx", "monitoring.lineproto",
                        "monitoring.linequeue", "monitoring.netio", "monitoring.backoff",
                        "monitoring.clock"), DATA_KB)
    p = mp.run(code, heapsize=heap, timeout=60)
    assert "MemoryError" not in p.stdout + p.stderr
    words = p.stdout.split()
    sent = int(words[words.index("sent") + 1])
    assert int(words[words.index("dropped") + 1]) == 0, p.stdout
    assert int(words[words.index("errors") + 1]) == 0, p.stdout
    measurement = "heap64_" + transport
    assert wait_until(lambda: influxdb.count(db, measurement) >= 55, 5)
    rows = influxdb.rows(db, measurement)
    assert sent >= 4 * 55
    assert {r["host"] for r in rows} == {"pico-64k"}


def test_concurrent_flushes_send_each_point_once(mp, influxdb, influx_db):
    """flush() called by the application while the reporter's own task
    is sending: one send at a time, every point stored exactly once."""
    code = """
import asyncio, monitoring
from monitoring.metrics import Source
app = Source("conc", tags=("demo",))
async def main():
    mon = monitoring.start(hostname="h", sources={"builtin": False}, influx={
        "host": "127.0.0.1", "port": %d, "db": %r, "interval_s": 0.02})
    for i in range(40):
        app.set("seq", i)
        await asyncio.gather(mon.influx.flush(), mon.influx.flush())
        await asyncio.sleep_ms(7)
    await mon.influx.aclose()
    c = mon.counters
    print("produced", c.points_produced, "sent", c.points_sent, "dropped", c.points_dropped,
          "errors", c.send_errors, "last", mon.influx.last_error)
asyncio.run(main())
""" % (influxdb.http_port, influx_db)
    p = mp.run(code, timeout=60)
    w = p.stdout.split()
    produced, sent = int(w[w.index("produced") + 1]), int(w[w.index("sent") + 1])
    assert w[w.index("dropped") + 1] == "0" and w[w.index("errors") + 1] == "0", p.stdout
    assert w[w.index("last") + 1] == "None", p.stdout
    assert produced == sent >= 80
    # points flushed within the same timestamp unit overwrite each other in
    # InfluxDB: compare the distinct sequence numbers, which must all be there
    rows = influxdb.rows(influx_db, "conc")
    assert {r["seq"] for r in rows} == set(range(40))


def test_error_bookkeeping_survives_a_heap_with_no_room(mp):
    """A sender records the error that ended a send; with no heap left (a
    locked heap raises MemoryError at any allocation) the record is the
    constant "MemoryError" and the count still goes up, so the sending
    task, which calls this from its last-resort handler, does not die."""
    p = mp.run(
        "import micropython\n"
        "from monitoring.compat import error_text\n"
        "from monitoring.netio import Sender\n"
        "from monitoring.sources import Counters\n"
        "e = OSError(110)\n"
        "c = Counters()\n"
        "s = Sender(c, 1000)\n"
        "free = error_text(e)\n"
        "locked = None  # (a new global would need room)\n"
        "micropython.heap_lock()\n"
        "try:\n"
        "    locked = error_text(e)\n"
        "    s._error(e)\n"
        "finally:\n"
        "    micropython.heap_unlock()\n"
        "print(free == str(e), locked, c.send_errors, s.last_error)\n")
    assert p.stdout.split() == ["True", "MemoryError", "1", "MemoryError"], p.stdout + p.stderr


def test_bad_influx_options_are_refused_at_start_naming_the_key(mp):
    """Every influx option of the wrong type or out of range (a str from a
    hand-made configuration, 0, a negative, an unknown key, a missing
    host) is refused by ``start`` with a ValueError naming
    ``influx.KEY``, and nothing is left running; before, ``interval="10"``
    killed the task at its first flush, ``interval=0`` flushed in a tight
    loop and ``mtu="512"`` started a reporter whose every send failed."""
    p = mp.run(r"""
import asyncio, monitoring
BASE = {"host": "127.0.0.1", "port": 9, "transport": "udp"}
async def main():
    for kw in ({"interval_s": "10"}, {"interval_s": 0}, {"interval_s": True},
               {"buffer_bytes": "4096"}, {"buffer_bytes": 0}, {"mtu_bytes": "512"},
               {"timeout_ms": 0}, {"port": "8094"}, {"port": 0}, {"host": ""},
               {"transport": "tls"}, {"interval": 10}, {"transport": "http"},
               {"string_newlines": "raw"}, {"string_newlines": "cr"}):
        sec = dict(BASE)
        sec.update(kw)
        try:
            mon = monitoring.start(influx=sec)
        except ValueError as e:
            print("refused", e, monitoring.current)
        else:
            print("started", kw)
            mon.stop()
    for sec in ("192.168.1.10", {"port": 8089}):
        try:
            monitoring.start(influx=sec)
        except ValueError as e:
            print("refused", e, monitoring.current)
    mon = monitoring.start(influx={"host": "127.0.0.1", "transport": "udp", "interval_s": 0.05})
    print("default port", mon.influx._conn.port)
    await asyncio.sleep(0.22)
    mon.stop()
    print("flushes", mon.counters.points_produced // 3)
asyncio.run(main())
""")
    out = p.stdout + p.stderr
    lines = out.strip().splitlines()
    assert lines[:-1] == [
        "refused influx.interval_s: expected a number from 0.01 to 86400, got '10' None",
        "refused influx.interval_s: expected a number from 0.01 to 86400, got 0 None",
        "refused influx.interval_s: expected a number from 0.01 to 86400, got True None",
        "refused influx.buffer_bytes: expected an integer from 256 to 1048576, got '4096' None",
        "refused influx.buffer_bytes: expected an integer from 256 to 1048576, got 0 None",
        "refused influx.mtu_bytes: expected an integer from 64 to 65507, got '512' None",
        "refused influx.timeout_ms: expected an integer from 1 to 600000, got 0 None",
        "refused influx.port: expected an integer from 1 to 65535, got '8094' None",
        "refused influx.port: expected an integer from 1 to 65535, got 0 None",
        "refused influx.host: expected a host name or address, got '' None",
        "refused influx.transport: expected one of http, https, tcp, udp, got 'tls' None",
        "refused influx.interval: unknown key (known: host, port, transport, db, org, bucket, "
        "token, username, password, interval_s, precision, buffer_bytes, mtu_bytes, "
        "timeout_ms, string_newlines, ca, insecure, cert, key, server_name) None",
        "refused influx.db: required for http (InfluxDB 1.x), or org and bucket (2.x) None",
        "refused influx.string_newlines: \"raw\" only over http and https None",
        "refused influx.string_newlines: expected one of raw, drop, got 'cr' None",
        "refused influx: expected an object of options, got '192.168.1.10' None",
        "refused influx.host: required None",
        "default port 8089",
    ], out
    assert lines[-1] in ("flushes 4", "flushes 5"), out


def test_a_point_too_long_is_named_in_last_error(mp):
    """A point that cannot go out even split into lines (one field longer
    than the 1024-byte line) is dropped at every flush; the reporter's
    ``last_error`` names its source, where before only ``points_dropped``
    grew and nothing said which source never arrived."""
    p = mp.run(r"""
import asyncio, monitoring
from monitoring.metrics import Source
notes = Source("notes")
async def main():
    mon = monitoring.start(influx={"host": "127.0.0.1", "port": 9, "transport": "udp"})
    notes.set("text", "x" * 1100)
    mon.influx.collect()
    c = mon.counters
    print(c.points_produced, c.points_dropped, c.send_errors, mon.influx.last_error)
    mon.stop()
asyncio.run(main())
""")
    assert p.stdout.strip() == "4 1 0 point too long: notes", p.stdout + p.stderr


def test_a_point_longer_than_a_line_is_split_and_stored_whole(mp, influxdb, influx_db):
    """A source whose point passes the 1024-byte line (30 regions: the
    library's own ``regions`` point, 90 fields; and a user source of 80
    fields) goes out as several lines of the same measurement, tags and
    timestamp, which InfluxDB stores as one point with every field; before,
    the whole point was dropped at every flush."""
    p = mp.run(r"""
import asyncio, monitoring
from monitoring.metrics import Source
big = Source("big", labels={"room": "hall"})
async def main():
    mon = monitoring.start(hostname="pico-1", influx={
        "host": "127.0.0.1", "port": %d, "db": %r, "precision": "ms"})
    for k in range(80):
        big.set("field_%%02d" %% k, 1000000 + k)
    for k in range(30):
        with monitoring.region("handler%%02d" %% k):
            x = bytearray(100)
    mon.influx.collect()
    await mon.influx.aclose()
    c = mon.counters
    print(c.points_produced, c.points_sent, c.points_dropped, mon.influx.last_error)
    mon.stop()
asyncio.run(main())
""" % (influxdb.http_port, influx_db))
    produced, sent, dropped, err = p.stdout.split(None, 3)
    assert dropped == "0" and produced == sent and int(sent) > 5 and err.strip() == "None", p.stdout
    rows = influxdb.rows(influx_db, "big")
    assert len(rows) == 1 and rows[0]["room"] == "hall" and rows[0]["host"] == "pico-1", rows
    assert {k: v for k, v in rows[0].items() if k.startswith("field_")} == {
        "field_%02d" % k: 1000000 + k for k in range(80)}
    rows = influxdb.rows(influx_db, "regions")
    assert len(rows) == 1, rows
    assert [rows[0]["handler%02d_count" % k] for k in range(30)] == [1] * 30
    assert all(rows[0]["handler%02d_bytes" % k] > 0 for k in range(30)), rows[0]


def test_tcp_to_influxdb_http_port_says_use_http_and_drops(mp, influxdb, influx_db):
    """Line protocol over TCP to InfluxDB's HTTP port (the wrong transport)
    stores nothing: InfluxDB answers ``HTTP/1.1 400`` and closes. The
    reporter reads that answer, says what to change in ``last_error``,
    and counts every later point as dropped instead of sent; before,
    ``points_sent`` grew, nothing was stored and ``last_error`` said ``32``."""
    p = mp.run(r"""
import asyncio, monitoring
from monitoring.metrics import Source
app = Source("wrongpeer")
async def main():
    mon = monitoring.start(sources={"builtin": False}, influx={
        "host": "127.0.0.1", "port": %d, "transport": "tcp", "interval_s": 0.1})
    mon.influx.backoff.max_ms = 50
    for i in range(12):
        app.set("v", i)
        await asyncio.sleep(0.1)
    c = mon.counters
    print("RESULT", c.points_produced, c.points_sent, c.points_dropped, len(mon.influx.queue))
    print("ERROR", mon.influx.last_error)
    mon.stop()
asyncio.run(main())
""" % influxdb.http_port)
    out = p.stdout
    produced, sent, dropped, queued = map(int, out.split("RESULT ")[1].split()[:4])
    assert 'ERROR peer answered HTTP: use transport "http"' in out, out
    assert sent == 1 and dropped >= produced - 2 and sent + dropped + queued == produced, out


def test_last_error_names_the_errno(mp):
    """A refused connection reads ``[Errno 111] ECONNREFUSED`` in
    ``last_error`` (MicroPython's own text was the bare number for some
    errors, ``32`` for EPIPE)."""
    from peers import free_port

    p = mp.run(r"""
import asyncio, monitoring
from monitoring.compat import error_text
async def main():
    mon = monitoring.start(influx={"host": "127.0.0.1", "port": %d, "transport": "tcp",
                                   "interval_s": 0.05})
    await asyncio.sleep(0.2)
    print("ERROR", mon.influx.last_error)
    mon.stop()
    print("EPIPE", error_text(OSError(32)))
asyncio.run(main())
""" % free_port())
    assert "ERROR [Errno 111] ECONNREFUSED" in p.stdout, p.stdout
    assert "EPIPE [Errno 32] EPIPE" in p.stdout, p.stdout


def _forward_to(influxdb, db, answer_after):
    """A listener that writes each HTTP request's body to the real
    InfluxDB at once, then answers the board 204 ``answer_after`` seconds
    later, or (None) closes the connection without an answer: the two ways
    a stored batch's answer is lost or late. Returns (socket, port)."""
    fwd = socket.socket()
    fwd.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    fwd.bind(("127.0.0.1", 0))
    fwd.listen(2)

    def serve():
        while True:
            try:
                c, _ = fwd.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                data += c.recv(4096)
            head, _, body = data.partition(b"\r\n\r\n")
            n = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")][0][15:])
            while len(body) < n:
                body += c.recv(4096)
            influxdb.write(db, body)
            if answer_after is not None:
                time.sleep(answer_after)
                try:
                    c.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    return fwd, fwd.getsockname()[1]


def test_a_batch_whose_answer_was_lost_counts_unconfirmed_when_dropped(mp, influxdb, influx_db):
    """InfluxDB stores a batch, and its answer is lost with the connection
    (a restart between the two); the batch waits for its retry while the
    buffer fills and its oldest lines go: they count as unconfirmed, not
    dropped (before: dropped, though InfluxDB had them)."""
    fwd, port = _forward_to(influxdb, influx_db, answer_after=None)
    try:
        p = mp.run(r"""
import asyncio, monitoring
from monitoring.metrics import Source
lost = Source("lost")
later = Source("later")
async def main():
    mon = monitoring.start(sources={"builtin": False}, influx={
        "host": "127.0.0.1", "port": %d, "db": "x", "interval_s": 3600, "buffer_bytes": 512})
    r = mon.influx
    lost.set("v", 1)
    await r.flush()  # collected, stored, its answer lost: retried after a backoff
    mon.registry.set_active("lost", False)
    for i in range(40):  # the buffer fills; the oldest lines go
        later.set("v", i)
        r.collect()
    c = mon.counters
    print("RESULT", c.points_produced, c.points_sent, c.points_dropped, c.points_unconfirmed,
          len(r.queue))
    mon.stop()
asyncio.run(main())
""" % port)
    finally:
        fwd.close()
    produced, sent, dropped, unconfirmed, queued = [int(x) for x in p.stdout.split("RESULT")[1].split()]
    assert influxdb.count(influx_db, "lost") == 1
    assert unconfirmed == 1 and sent == 0, p.stdout
    assert produced == sent + dropped + unconfirmed + queued and dropped > 0, p.stdout


def test_stop_while_an_answer_is_pending_counts_unconfirmed(mp, influxdb, influx_db):
    """``mon.stop()`` while InfluxDB's answer to a batch is on its way: the
    batch was stored (the real InfluxDB has it), so it is not counted as
    dropped but as unconfirmed; before, it counted as dropped."""
    fwd, port = _forward_to(influxdb, influx_db, answer_after=1.5)
    try:
        p = mp.run(r"""
import asyncio, monitoring
from monitoring.metrics import Source
app = Source("pending")
async def main():
    mon = monitoring.start(sources={"builtin": False}, influx={
        "host": "127.0.0.1", "port": %d, "db": "x", "interval_s": 60})
    app.set("v", 1)
    await asyncio.sleep(0.5)  # the first flush is sent, its answer pending
    mon.stop()
    c = mon.counters
    print("RESULT", c.points_produced, c.points_sent, c.points_dropped, c.points_unconfirmed)
asyncio.run(main())
""" % port)
    finally:
        fwd.close()
    assert "RESULT 1 0 0 1" in p.stdout, p.stdout
    assert influxdb.count(influx_db, "pending") == 1
