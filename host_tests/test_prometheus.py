"""Prometheus endpoint under the MicroPython Unix port, scraped by a real
Prometheus 2.x (1 s interval); what Prometheus stored is compared with what
the program set. Bad requests go through raw sockets."""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from peers import Prometheus, free_port, wait_until

HEAD_TIMEOUT_MS = 1000

LABELS = {"ro om": 'hall "A"\\B', "zone": "é"}
STATE = 'say "hi"\\\nbye é'

PROGRAM = r"""
import asyncio, json, os, sys
import monitoring
from monitoring.metrics import Source

PORT = int(sys.argv[1])
TRIGGER = sys.argv[2]
BUILTIN = sys.argv[3] == "1"
app = Source("my-app", tags=("demo",), labels=%r)
extra = Source("extra", tags=("demo",))


def exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


async def main():
    mon = monitoring.start(hostname="pico-1", prometheus={"port": PORT, "addr": "127.0.0.1"},
                           sources={"builtin": BUILTIN, "net": BUILTIN})
    mon.prometheus.head_timeout_ms = %d
    app.incr("requests", 42)
    app.set("spa ce", 1 / 3)
    app.set("ok", True)
    app.set("state", %r)
    app.set("neg", -7)
    extra.set("value", 5)
    print("READY")
    disabled = False
    for i in range(900):
        await asyncio.sleep_ms(100)
        app.incr("ticks")
        if not disabled and exists(TRIGGER + ".disable"):
            mon.registry.set_active("extra", False)
            disabled = True
            print("DISABLED")
        if exists(TRIGGER + ".stop"):
            break
    p = mon.prometheus
    print("STATS " + json.dumps({"scrapes": p.scrapes, "bytes": p.bytes_sent, "rejected": p.rejected,
                                 "timeouts": p.timeouts, "errors": p.errors}))
    mon.stop()


asyncio.run(main())
""" % (LABELS, HEAD_TIMEOUT_MS, STATE)


class Board:
    """The program above running under the Unix port."""

    def __init__(self, mp, builtin=True):
        self.port = free_port()
        self.trigger = tempfile.mktemp(prefix="mpmon-prom-")
        self.proc = mp.spawn(PROGRAM, args=[str(self.port), self.trigger, "1" if builtin else "0"])
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            self.proc.kill()
            raise AssertionError("board did not start: " + line + self.proc.stdout.read())

    def url(self, path="/metrics"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path="/metrics"):
        with urllib.request.urlopen(self.url(path), timeout=5) as r:
            return r.status, r.headers, r.read().decode()

    def touch(self, suffix):
        with open(self.trigger + suffix, "w"):
            pass

    def stop(self):
        """Stop the program; returns its STATS dict."""
        self.touch(".stop")
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        finally:
            for s in (".stop", ".disable"):
                if os.path.exists(self.trigger + s):
                    os.unlink(self.trigger + s)
        assert self.proc.returncode == 0, out
        lines = [ln for ln in out.splitlines() if ln.startswith("STATS ")]
        assert lines, out
        return json.loads(lines[-1][6:])


@pytest.fixture(scope="module")
def board(mp):
    b = Board(mp)
    yield b
    if b.proc.poll() is None:
        b.stop()


@pytest.fixture(scope="module")
def prom(board):
    p = Prometheus(["127.0.0.1:%d" % board.port]).start()
    yield p
    p.cleanup()


def query_one(prom, q, timeout=12):
    res = wait_until(lambda: prom.query(q), timeout, 0.25)
    assert res, "no result for %s" % q
    assert len(res) == 1, res
    return res[0]["metric"], res[0]["value"][1]


def parse_body(text):
    """{(name, frozenset(labels)): value} of an exposition (simple parser
    for what the board writes: no timestamps)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels = {}
        rest = rest[:-1]
        i = 0
        while i < len(rest):
            eq = rest.index("=", i)
            key = rest[i:eq]
            j = eq + 2
            val = []
            while rest[j] != '"':
                if rest[j] == "\\":
                    j += 1
                    val.append({"n": "\n"}.get(rest[j], rest[j]))
                else:
                    val.append(rest[j])
                j += 1
            labels[key] = "".join(val)
            i = j + 2
        out[(name, frozenset(labels.items()))] = value
    return out


def test_prometheus_stores_the_series_with_values_and_labels(board, prom):
    status, headers, text = board.get()
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    want = dict(LABELS)
    want = {"host": "pico-1", "ro_om": LABELS["ro om"], "zone": LABELS["zone"]}
    metric, value = query_one(prom, "my_app_requests_total")
    assert value == "42"
    assert metric == dict(want, __name__="my_app_requests_total", job="board",
                          instance="127.0.0.1:%d" % board.port)
    metric, value = query_one(prom, "my_app_spa_ce")
    assert float(value) == 1 / 3
    assert query_one(prom, "my_app_ok")[1] == "1"
    assert query_one(prom, "my_app_neg")[1] == "-7"
    metric, value = query_one(prom, "my_app_state_info")
    assert value == "1" and metric["value"] == STATE
    assert {k: metric[k] for k in want} == want
    # what the board wrote in its own scrape is what Prometheus stored
    body = parse_body(text)
    key = ("my_app_requests_total", frozenset(want.items()))
    assert body[key] == "42"
    # the built-in sources too, and Prometheus' own view of the target
    metric, value = query_one(prom, "memory_total")
    assert int(value) > 0 and metric["host"] == "pico-1"
    assert query_one(prom, 'system_platform_info{value="linux"}')[1] == "1"
    assert float(query_one(prom, "asyncio_lag_samples")[1]) >= 1
    assert query_one(prom, "up")[1] == "1"
    # a counter that moves: Prometheus sees it grow scrape after scrape
    assert wait_until(lambda: float(prom.query("net_prometheus_scrapes_total")[0]["value"][1]) >= 3,
                      8, 0.25)
    ticks = prom.query("my_app_ticks_total[10s]")
    samples = [float(v) for _, v in ticks[0]["values"]]
    assert samples == sorted(samples) and samples[-1] > samples[0]


def families(text):
    """{family name: its lines} of an exposition."""
    out = {}
    name = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            out[name] = []
        out[name].append(line)
    return out


def promtool(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode()


def test_promtool_accepts_the_exposition(board):
    _, _, text = board.get()
    rc, out = promtool(text)
    # no parse error (1); lint problems (3) only from the names of the
    # foundation's built-in sources (memory, system)
    assert rc in (0, 3), out
    problems = [ln for ln in out.splitlines() if ln.strip()]
    for ln in problems:
        assert ln.startswith(("memory_", "system_")), out
    # the families of the built-in sources and of user sources lint clean
    fam = families(text)
    mine = [n for n in fam if n.startswith(("my_app_", "extra_", "net_", "asyncio_"))]
    assert len(mine) >= 10, fam.keys()
    rc, out = promtool("".join("\n".join(fam[n]) + "\n" for n in mine))
    assert rc == 0, out


def raw(port, data, read_timeout=5, pause=None):
    """Send ``data`` (or its parts with pauses), return (response bytes,
    seconds until the connection closed)."""
    s = socket.create_connection(("127.0.0.1", port), 2)
    t0 = time.monotonic()
    try:
        for part in ([data] if isinstance(data, bytes) else data):
            try:
                s.sendall(part)
            except OSError:  # the server closed on us: read its answer
                break
            if pause:
                time.sleep(pause)
        s.settimeout(read_timeout)
        out = b""
        while True:
            try:
                b = s.recv(4096)
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
        return out, time.monotonic() - t0
    finally:
        s.close()


def test_bad_requests_answered_and_the_board_keeps_serving(board, prom):
    port = board.port
    out, _ = raw(port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 404 Not Found\r\n"), out
    out, _ = raw(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 405 "), out
    assert b"\r\nAllow: GET\r\n" in out
    out, _ = raw(port, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 400 Bad Request\r\n"), out
    out, _ = raw(port, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 413 "), out
    assert b"my_app" not in out
    # a slowloris: the head trickles in, never complete; closed with 408
    # after the head timeout even though bytes keep coming
    parts = [b"GET /metrics HTTP/1.1\r\n"] + [b"X-a: b\r\n"] * 8
    out, secs = raw(port, parts, pause=0.2)
    assert out.startswith(b"HTTP/1.0 408 "), out
    assert HEAD_TIMEOUT_MS / 1000 - 0.1 <= secs < HEAD_TIMEOUT_MS / 1000 + 1.5, secs
    # an idle connection is closed too
    out, secs = raw(port, b"GE")
    assert out.startswith(b"HTTP/1.0 408 ") and secs < HEAD_TIMEOUT_MS / 1000 + 1.5, (out, secs)
    # still serving, to us and to Prometheus
    status, _, text = board.get()
    assert status == 200 and "my_app_requests_total" in text
    n = float(prom.query("net_prometheus_scrapes_total")[0]["value"][1])
    assert wait_until(lambda: float(prom.query("net_prometheus_scrapes_total")[0]["value"][1]) >= n + 2,
                      6, 0.25)
    assert prom.query("up")[0]["value"][1] == "1"


def test_disabling_a_source_removes_its_series(board, prom):
    assert query_one(prom, "extra_value")[1] == "5"
    assert "extra_value" in board.get()[2]
    board.touch(".disable")
    assert board.proc.stdout.readline().strip() == "DISABLED"
    # the next scrape has no extra_* family; the others are still there
    text = board.get()[2]
    assert "extra_" not in text and "my_app_requests_total" in text
    # and Prometheus marks the series stale at its next scrape
    assert wait_until(lambda: prom.query("extra_value") == [], 6, 0.25), prom.query("extra_value")
    assert prom.query("my_app_requests_total")
    stats = board.stop()
    assert stats["scrapes"] >= 5 and stats["errors"] == 0, stats
    assert stats["rejected"] >= 4 and stats["timeouts"] >= 2, stats


def dechunk(body):
    """The payload of a chunked body, checked strictly: hex sizes, CRLF
    after each chunk, and the closing zero-size chunk."""
    out = b""
    while True:
        line, sep, body = body.partition(b"\r\n")
        assert sep, "no chunk-size line"
        n = int(line, 16)
        if n == 0:
            assert body == b"\r\n", body[:50]
            return out
        assert body[n:n + 2] == b"\r\n", body[n - 10:n + 10]
        out += body[:n]
        body = body[n + 2:]


def test_http_1_1_scrape_is_chunked_and_whole(mp):
    b = Board(mp, builtin=False)
    try:
        out11, _ = raw(b.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        out10, _ = raw(b.port, b"GET /metrics HTTP/1.0\r\n\r\n")
    finally:
        stats = b.stop()
    head11, _, body11 = out11.partition(b"\r\n\r\n")
    assert head11.startswith(b"HTTP/1.1 200 OK\r\n") and b"Transfer-Encoding: chunked" in head11
    head10, _, body10 = out10.partition(b"\r\n\r\n")
    assert head10.startswith(b"HTTP/1.0 200 OK\r\n") and b"Transfer-Encoding" not in head10
    text = dechunk(body11)
    assert text.count(b"\n") > 3 and b"my_app_requests_total" in text
    # the same families, in the same order, either way
    assert [ln.split(b" ")[2] for ln in text.split(b"\n") if ln.startswith(b"# TYPE")] == \
        [ln.split(b" ")[2] for ln in body10.split(b"\n") if ln.startswith(b"# TYPE")]
    assert stats["scrapes"] == 2 and stats["errors"] == 0, stats


def exchange(port, request):
    """Send the whole ``request``, then read to the end: (response bytes,
    True when the connection was reset instead of closed)."""
    s = socket.create_connection(("127.0.0.1", port), 2)
    s.settimeout(5)
    out = b""
    try:
        s.sendall(request)
        while True:
            b = s.recv(65536)
            if not b:
                return out, False
            out += b
    except ConnectionResetError:
        return out, True
    finally:
        s.close()


def test_a_request_body_is_read_before_the_close_and_the_absolute_form_served(mp):
    """A GET with a body (600 B, 64 KB) gets the whole exposition and a
    clean close: the server reads the body before it closes, which would
    otherwise reset the connection under the answer. A longer body or a
    body of chunks gets 413. ``GET http://host/metrics`` (the absolute form,
    which HTTP/1.1 servers must take) is a scrape."""
    b = Board(mp)
    try:
        for size in (600, 65536) * 4:
            req = (b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
                   + b"x" * size)
            out, reset = exchange(b.port, req)
            assert not reset, (size, len(out))
            head, _, body = out.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
            assert b"my_app_requests_total" in dechunk(body)
        out, _ = exchange(b.port, b"GET /metrics HTTP/1.1\r\nContent-Length: 65537\r\n\r\n" + b"x" * 100)
        assert out.startswith(b"HTTP/1.0 413 "), out
        out, _ = exchange(b.port, b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert out.startswith(b"HTTP/1.0 413 "), out
        for target in (b"http://127.0.0.1/metrics", b"http://127.0.0.1:%d/metrics?x=1" % b.port,
                       b"HTTP://board.local/metrics"):
            out, reset = exchange(b.port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target)
            assert out.startswith(b"HTTP/1.1 200 OK\r\n") and not reset, (target, out[:80])
        out, _ = exchange(b.port, b"GET http://127.0.0.1/nope HTTP/1.1\r\n\r\n")
        assert out.startswith(b"HTTP/1.0 404 "), out
    finally:
        stats = b.stop()
    assert stats["scrapes"] == 11 and stats["errors"] == 0 and stats["rejected"] == 3, stats


def test_third_connection_waits_for_a_free_slot(mp):
    b = Board(mp, builtin=False)
    try:
        port = b.port
        slow = [socket.create_connection(("127.0.0.1", port), 2) for _ in range(2)]
        for s in slow:
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
        time.sleep(0.2)  # both accepted: the two slots are taken
        t0 = time.monotonic()
        out, secs = raw(port, b"GET /metrics HTTP/1.1\r\n\r\n")
        # queued in the backlog, served once a slowloris timed out
        assert out.startswith(b"HTTP/1.1 200 OK\r\n") and b"my_app_requests_total" in out, out
        assert HEAD_TIMEOUT_MS / 1000 - 0.4 <= secs <= HEAD_TIMEOUT_MS / 1000 + 1.5, secs
        for s in slow:
            s.settimeout(2)
            assert s.recv(100).startswith(b"HTTP/1.0 408 ")
            s.close()
        # two at once are served in parallel, without waiting
        t0 = time.monotonic()
        a = socket.create_connection(("127.0.0.1", port), 2)
        a.sendall(b"GET /metrics HTTP/1.1\r\n")
        out, secs = raw(port, b"GET /metrics HTTP/1.0\r\n\r\n")
        assert out.startswith(b"HTTP/1.0 200 OK\r\n") and secs < 0.5, secs
        a.close()
        assert time.monotonic() - t0 < 1
    finally:
        stats = b.stop()
    assert stats["scrapes"] == 2 and stats["timeouts"] == 2, stats


def test_demo_firmware_serves_metrics_from_its_config(mp, tmp_path):
    # firmware/main.py on the Unix port (board-sized heap, .mpy lib) with a
    # "prometheus" section in its configuration, scraped by Prometheus
    from mpy import compiled_lib

    port = free_port()
    cfg = tmp_path / "config.json"
    # free ports for the control and trace listeners too (the Unix board's
    # defaults, 2323 and 4242, may be taken by a `make run` on this machine)
    cfg.write_text(json.dumps({"hostname": "demo-board", "prometheus": {"port": port},
                               "control": {"port": free_port()}, "trace": {"port": free_port()}}))
    env = mp.env({"MONITORING_CONFIG": str(cfg), "MONITORING_DURATION": "30"}, compiled=True)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["MICROPYPATH"] = ":".join([".frozen", compiled_lib(), os.path.join(root, "boards", "unix"),
                                   mp.extdir])
    log = open(tmp_path / "console.log", "w")
    proc = subprocess.Popen([mp.binary, "-X", "heapsize=128k", os.path.join(root, "firmware", "main.py")],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    prom = None
    try:
        def up():
            try:
                return socket.create_connection(("127.0.0.1", port), 0.2).close() or True
            except OSError:
                return False

        assert wait_until(up, 15), (tmp_path / "console.log").read_text()
        prom = Prometheus(["127.0.0.1:%d" % port]).start()
        # the demo's simulated sensor: 21 +- 4 C, 45 +- 10 %
        metric, value = query_one(prom, "demo_temperature")
        assert metric["host"] == "demo-board" and metric["board"] == "unix"
        assert 16 < float(value) < 26
        assert 34 < float(query_one(prom, "demo_humidity")[1]) < 56
        assert query_one(prom, 'system_firmware_info{value="demo-0.1"}')[0]["host"] == "demo-board"
        assert query_one(prom, "up")[1] == "1"
    finally:
        if prom is not None:
            prom.cleanup()
        proc.kill()
        proc.wait()
        log.close()


def test_bad_port_raises_and_starts_nothing(mp):
    """A port given as a string (as a hand-written config might) is refused
    by start() naming it, as the control and trace ports are; so is a bad
    client count; nothing runs."""
    out = mp.run(r"""
import monitoring
for sec in ({"port": "9100"}, {"port": -1}, {"port": 70000}, {"port": 9.5},
            {"port": 9100, "clients": 9}, {"port": 9100, "prometheus_port": 9100}):
    try:
        monitoring.start(hostname="pico-1", prometheus=dict(sec, addr="127.0.0.1"))
        print("NO ERROR", sec)
    except ValueError as e:
        print("error:", e)
print("current", monitoring.current)
""").stdout
    exp = "error: prometheus.port: expected an integer from 0 to 65535, got "
    assert out.splitlines() == [exp + "'9100'", exp + "-1", exp + "70000", exp + "9.5",
                                "error: prometheus.clients: expected an integer from 1 to 8, got 9",
                                "error: prometheus.prometheus_port: unknown key (known: port, "
                                "addr, clients)",
                                "current None"], out
