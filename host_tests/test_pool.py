"""Every capability through a socket pool with exactly CircuitPython's
``socketpool`` API (host_tests/mp/cppool.py: real sockets behind
socketpool's methods and constants only), under the MicroPython Unix port,
in the CircuitPython profile (host_tests/cpyprofile.py: CircuitPython's
time and supervisor ticks, the bundle's asyncio and adafruit_logging) and
under CPython, against the real peers: points stored by InfluxDB over UDP and
HTTP, records parsed by rsyslog over UDP, TCP (octet counting) and RELP, ``l*``
and ``m*`` over the control port, a trace session, a Prometheus scrape; the
ESP32's connect and end of input; a pool whose every call fails and a name
that does not resolve (senders count, back off and retry, the application
runs on; a listener that cannot bind raises at start). Each program prints
the names the library asked of the pool beyond socketpool's API
(``misses``): always none."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from peers import Prometheus, connect, free_port, parse_rsyslog_line, read_lines, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# A board: the sections and the pool (cppool.Pool's keywords) from the JSON
# file argv[1] (the Unix port dies of an argument over 256 bytes), run until
# the file argv[2] exists or for "seconds"; then its
# counters, as JSON on a RESULT line. A start() that raises prints START
# and the error instead (and whether anything was left running).
BOARD = r"""
import asyncio, json, os, sys
import monitoring, cppool
from monitoring.compat import sleep_ms, ticks_diff, ticks_ms
from monitoring.metrics import Source
try:
    import cpyboot  # the CircuitPython profile: the bundle's adafruit_logging
    import adafruit_logging as logging
except ImportError:
    if sys.implementation.name == "micropython":
        from mplogging import logging  # adafruit_logging, as on CircuitPython
    else:
        import logging

with open(sys.argv[1]) as f:
    CFG = json.load(f)
STOP = sys.argv[2]
pool = cppool.Pool(**CFG.get("pool", {}))
app = Source("pooltest", tags=("demo",))
log = logging.getLogger("pooltest")
log.setLevel(logging.INFO)


def say(line):
    print(line)
    try:
        sys.stdout.flush()
    except AttributeError:
        pass


def stopped():
    try:
        os.stat(STOP)
        return True
    except OSError:
        return False


async def main():
    try:
        mon = monitoring.start(hostname="cp-1", pool=pool, logging=logging, **CFG["sections"])
    except Exception as e:
        say("START " + json.dumps({"error": type(e).__name__, "text": str(e),
                                   "current": monitoring.current is not None,
                                   "misses": pool.misses}))
        return
    say("READY")
    ticks = 0
    t0 = ticks_ms()
    for i in range(int(CFG.get("seconds", 30) * 20)):
        app.set("seq", i)
        app.incr("ticks")
        if i < CFG.get("records", 0):
            log.info("record %d through the pool", i)
        ticks += 1
        await sleep_ms(50)
        if stopped():
            break
    elapsed = ticks_diff(ticks_ms(), t0)
    if mon.influx is not None:
        await mon.influx.aclose()
    if mon.syslog is not None:
        for _ in range(100):
            if not mon.syslog.queue.used:
                break
            await sleep_ms(20)
    c = mon.counters
    res = {"ticks": ticks, "elapsed_ms": elapsed, "misses": pool.misses, "sockets": pool.sockets,
           "points_sent": c.points_sent, "send_errors": c.send_errors,
           "log_sent": c.log_sent, "reconnects": c.reconnects}
    for name in ("influx", "syslog"):
        svc = getattr(mon, name)
        if svc is not None:
            res[name + "_error"] = svc.last_error
            res[name + "_wait"] = getattr(svc._conn, "blocking_connect", False)
    if mon.control is not None:
        res["commands"] = mon.control.commands
        res["control_error"] = mon.control.last_error
    if mon.trace is not None:
        t = mon.trace
        res.update(sessions=t.sessions, samples=t.samples, trace_error=t.last_error)
    if mon.prometheus is not None:
        p = mon.prometheus
        res.update(scrapes=p.scrapes, prom_errors=p.errors, prom_error=p.last_error)
    say("RESULT " + json.dumps(res))
    mon.stop()


asyncio.run(main())
"""


class Board:
    """BOARD under the Unix port (or CPython: ``python=True``)."""

    def __init__(self, mp, tmp_path, sections, pool=None, seconds=30, records=0, python=False):
        n = free_port()
        self.stop = str(tmp_path / ("stop-%d" % n))
        cfg = str(tmp_path / ("board-%d.json" % n))
        with open(cfg, "w") as f:
            json.dump({"sections": sections, "pool": pool or {}, "seconds": seconds,
                       "records": records}, f)
        if python:
            path = str(tmp_path / "pool_board.py")
            with open(path, "w") as f:
                f.write(BOARD)
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                [os.path.join(ROOT, "lib"), os.path.join(HERE, "mp"), mp.extdir,
                 os.path.join(ROOT, "boards", "unix")]))
            self.proc = subprocess.Popen([sys.executable, path, cfg, self.stop], cwd=ROOT, env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True)
        else:
            self.proc = mp.spawn(BOARD, args=[cfg, self.stop])
        self.first = self.proc.stdout.readline()

    def ready(self):
        if self.first.strip() != "READY":
            out = self.first + self.finish_text()
            raise AssertionError("board did not start:\n" + out)
        return self

    def finish_text(self, timeout=30):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return out

    def result(self, stop=True, timeout=30):
        """Its RESULT (or START) line as a dict, once it ends: at once with
        ``stop``, else after its ``seconds``."""
        if stop:
            with open(self.stop, "w"):
                pass
        out = self.first + self.finish_text(timeout)
        assert self.proc.returncode == 0, out
        for line in out.splitlines():
            if line.startswith(("RESULT ", "START ")):
                d = json.loads(line.split(" ", 1)[1])
                d["out"] = out
                return d
        raise AssertionError("no RESULT line:\n" + out)


@pytest.fixture(params=["unix", "circuitpython"])
def rt(request, mp, cpy):
    """The runtime a board program runs in: the Unix port, or the
    CircuitPython profile of it."""
    return mp if request.param == "unix" else cpy


def check_clean(res):
    # nothing asked of the pool beyond socketpool's API, and sockets made
    assert res["misses"] == [], res
    assert res["sockets"] > 0, res


# -- Influx --------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "http"])
def test_influx_points_stored(rt, tmp_path, influxdb, influx_db, transport):
    port = influxdb.udp_port if transport == "udp" else influxdb.http_port
    db = influxdb.udp_db if transport == "udp" else influx_db
    sec = {"host": "127.0.0.1", "port": port, "transport": transport, "interval_s": 0.1}
    if transport == "http":
        sec["db"] = influx_db
    b = Board(rt, tmp_path, {"influx": sec}, seconds=1.5).ready()
    res = b.result(stop=False)
    check_clean(res)
    assert res["send_errors"] == 0 and res["points_sent"] >= 20, res
    assert wait_until(lambda: len(influxdb.rows(db, "pooltest")) >= 5, 5)
    rows = influxdb.rows(db, "pooltest")
    assert {r["host"] for r in rows} == {"cp-1"}
    # every flush's point, in order: the last one holds the last sequence number
    assert max(r["seq"] for r in rows) >= res["ticks"] - 3, (rows[-3:], res)
    if transport == "http":
        stored = sum(influxdb.count(db, m) for m in influxdb.measurements(db))
        assert stored == res["points_sent"], (stored, res)


def test_influx_tcp_over_the_esp32s_connect(mp, tmp_path):
    """CircuitPython on ESP32: a non-blocking connect raises ETIMEDOUT and
    its socket never connects. The client learns it at the first connect
    and connects with a timeout from then on; every line arrives (on the
    second connection: the first one's socket was given up)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    got = []

    def serve():
        srv.settimeout(10)
        try:
            while True:
                conn, _ = srv.accept()
                conn.settimeout(10)
                data = b""
                while True:
                    d = conn.recv(65536)
                    if not d:
                        break
                    data += d
                got.append(data)
                conn.close()
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    b = Board(mp, tmp_path, {"influx": {"host": "127.0.0.1", "port": port, "transport": "tcp",
                                        "interval_s": 0.1}},
              pool={"esp32": True}, seconds=1).ready()
    res = b.result(stop=False)
    wait_until(lambda: len(got) >= 2, 5)
    srv.close()
    t.join(5)
    check_clean(res)
    assert res["influx_wait"] is True, res
    assert res["send_errors"] == 0 and res["reconnects"] == 0, res
    # the socket given up connected nothing; the other one carried every line
    assert got[0] == b"" and len(got) == 2, got
    lines = [ln for ln in got[1].decode().split("\n") if ln]
    assert len(lines) == res["points_sent"] >= 10, res
    assert all(ln.startswith(("pooltest,", "memory,", "system,", "monitoring,", "net,"))
               for ln in lines), lines[:5]


# -- syslog --------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_syslog_records_parsed(rt, tmp_path, rsyslog, transport):
    port = rsyslog.udp_port if transport == "udp" else rsyslog.tcp_port
    sec = {"host": "127.0.0.1", "port": port, "transport": transport, "framing": "octet",
           "loggers": ["pooltest"], "app_name": "pool-app"}
    b = Board(rt, tmp_path, {"syslog": sec}, seconds=1, records=10).ready()
    res = b.result(stop=False)
    check_clean(res)
    assert res["send_errors"] == 0 and res["log_sent"] == 10, res
    lines = rsyslog.wait_lines(10)
    assert len(lines) == 10, lines
    assert [ln["msg"] for ln in lines] == ["record %d through the pool" % i for i in range(10)]
    assert {(ln["host"], ln["app"], ln["msgid"]) for ln in lines} == {("cp-1", "pool-app",
                                                                         "pooltest")}


def test_syslog_relp_records_acknowledged(rt, tmp_path):
    from peers import Rsyslog

    r = Rsyslog(relp_port=True).start()
    try:
        sec = {"host": "127.0.0.1", "port": r.relp_port, "transport": "relp",
               "loggers": ["pooltest"], "app_name": "pool-app"}
        b = Board(rt, tmp_path, {"syslog": sec}, seconds=1, records=10).ready()
        res = b.result(stop=False)
        check_clean(res)
        # log_sent: acknowledged by imrelp, which wrote each before answering
        assert res["send_errors"] == 0 and res["log_sent"] == 10, res
        lines = r.wait_lines(10)
        assert [ln["msg"] for ln in lines] == ["record %d through the pool" % i for i in range(10)]
    finally:
        r.cleanup()


def test_syslog_tcp_end_of_input_as_the_esp32_says_it(mp, tmp_path, rsyslog):
    """On ESP32 a non-blocking read at end of input raises ENOTCONN: a
    restarted server must still be noticed before the next record."""
    sec = {"host": "127.0.0.1", "port": rsyslog.tcp_port, "transport": "tcp",
           "loggers": ["pooltest"]}
    b = Board(mp, tmp_path, {"syslog": sec}, pool={"esp32": True}, seconds=1, records=5).ready()
    res = b.result(stop=False)
    check_clean(res)
    assert res["send_errors"] == 0 and res["log_sent"] == 5 and res["syslog_wait"], res
    assert len(rsyslog.wait_lines(5)) == 5


# -- control, trace, Prometheus --------------------------------------------






@pytest.mark.parametrize("runtime", ["unix", "circuitpython", "cpython"])
def test_control_port_answers(mp, cpy, tmp_path, runtime):
    port = free_port()
    b = Board(cpy if runtime == "circuitpython" else mp, tmp_path,
              {"control": {"port": port, "addr": "127.0.0.1"}}, python=runtime == "cpython").ready()
    s = connect(port)
    try:
        s.sendall(b"l*\nm*\n")
        levels, metrics = read_lines(s, 2)
        # a second client at once, while the first stays connected
        s2 = connect(port)
        s2.sendall(b"mpooltest\n")
        one = read_lines(s2, 1)[0]
        s2.close()
    finally:
        s.close()
    res = b.result()
    check_clean(res)
    assert levels.startswith("ok: ") and "pooltest:info" in levels, levels
    assert metrics.startswith("ok: ") and "pooltest:enabled" in metrics, metrics
    assert one == "ok: pooltest:enabled", one
    assert res["commands"] == 3 and res["control_error"] is None, res


def test_trace_session(rt, tmp_path):
    port = free_port()
    b = Board(rt, tmp_path, {"trace": {"port": port, "addr": "127.0.0.1", "interval_ms": 50}}
              ).ready()
    s = connect(port)
    try:
        lines = read_lines(s, 8)
    finally:
        s.close()
    time.sleep(0.3)  # the session sees the client leave
    res = b.result()
    check_clean(res)
    header = json.loads(lines[0])
    assert header["buffer_size"] == 1024 and header["interval_ms"] == 50, header
    samples = [ln.split("\t") for ln in lines[1:] if ln.startswith("S\t")]
    assert len(samples) >= 5, lines
    assert all(int(r[2]) > 0 and int(r[3]) > 0 for r in samples), samples  # free, alloc
    assert res["sessions"] == 1 and res["samples"] >= 5 and res["trace_error"] is None, res


def test_prometheus_scrape(rt, tmp_path):
    port = free_port()
    b = Board(rt, tmp_path, {"prometheus": {"port": port, "addr": "127.0.0.1"}}).ready()
    prom = None
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            body = r.read().decode()
        assert r.status == 200 and "pooltest_ticks_total" in body, body[:500]
        prom = Prometheus(["127.0.0.1:%d" % port]).start()
        got = wait_until(lambda: prom.query("pooltest_ticks_total"), 20, 0.25)
        assert got and got[0]["metric"]["host"] == "cp-1", got
        assert float(got[0]["value"][1]) > 0
    finally:
        if prom is not None:
            prom.cleanup()
    res = b.result()
    check_clean(res)
    assert res["scrapes"] >= 2 and res["prom_errors"] == 0, res


# -- failures ------------------------------------------------------------

SENDERS = {
    "influx": {"host": "127.0.0.1", "port": 9, "transport": "tcp", "interval_s": 0.1,
               "timeout_ms": 200},
    "syslog": {"host": "127.0.0.1", "port": 9, "transport": "udp", "loggers": ["pooltest"]},
}


@pytest.mark.parametrize("fail", ["all", "sockets"])
@pytest.mark.parametrize("influx", ["tcp", "udp", "http"])
def test_failing_pool_senders_count_and_the_application_runs(rt, tmp_path, fail, influx):
    sections = json.loads(json.dumps(SENDERS))
    sections["influx"]["transport"] = influx
    sections["influx"]["db"] = "x"
    b = Board(rt, tmp_path, sections, pool={"fail": fail}, seconds=1.5, records=20).ready()
    res = b.result(stop=False)
    assert res["misses"] == [], res
    # the application's loop ran on, on time (30 sleeps of 50 ms)
    assert res["ticks"] == 30 and res["elapsed_ms"] < 2500, res
    assert res["send_errors"] >= 2 and res["points_sent"] == 0 and res["log_sent"] == 0, res
    assert "[Errno 5] EIO" in res["influx_error"] and "[Errno 5] EIO" in res["syslog_error"], res


def test_name_that_does_not_resolve(mp, tmp_path):
    sections = json.loads(json.dumps(SENDERS))
    sections["influx"]["host"] = "influx.invalid"
    sections["syslog"]["host"] = "syslog.invalid"
    b = Board(mp, tmp_path, sections, seconds=1.5, records=5).ready()
    res = b.result(stop=False)
    # no socket is ever made: the lookup fails first
    assert res["misses"] == [] and res["sockets"] == 0, res
    assert res["ticks"] == 30 and res["elapsed_ms"] < 2500, res
    # failed, counted and retried (backing off): more than one attempt each
    assert res["send_errors"] >= 4 and res["points_sent"] == 0, res
    assert "Name or service not known" in res["influx_error"], res
    assert "Name or service not known" in res["syslog_error"], res


def test_refused_connections_counted(rt, tmp_path):
    # a TCP peer that is not there: connecting by attempts reports why
    sections = json.loads(json.dumps(SENDERS))
    sections["syslog"]["transport"] = "tcp"
    b = Board(rt, tmp_path, sections, seconds=1.5, records=5).ready()
    res = b.result(stop=False)
    check_clean(res)
    assert res["ticks"] == 30 and res["elapsed_ms"] < 2500, res
    assert res["send_errors"] >= 4 and res["points_sent"] == 0 and res["log_sent"] == 0, res
    assert res["influx_error"] == res["syslog_error"] == "[Errno 111] ECONNREFUSED", res


@pytest.mark.parametrize("cap", ["control", "trace", "prometheus"])
@pytest.mark.parametrize("how", ["fail", "name", "taken"])
def test_listener_that_cannot_bind_raises_at_start(mp, tmp_path, cap, how):
    pool = {}
    addr = "127.0.0.1"
    held = None
    port = free_port()
    if how == "fail":
        pool = {"fail": "sockets"}
    elif how == "name":
        addr = "board.invalid"
    else:
        held = socket.socket()
        held.bind(("127.0.0.1", port))
        held.listen(1)
    sections = {"influx": SENDERS["influx"], cap: {"port": port, "addr": addr}}
    try:
        res = Board(mp, tmp_path, sections, pool=pool).result()
    finally:
        if held is not None:
            held.close()
    assert res["misses"] == [], res
    assert res["error"] in ("OSError", "gaierror"), res
    assert res["current"] is False, res  # nothing left running
    if how == "name":
        assert "Name or service not known" in res["text"], res
    else:
        assert "cannot listen on %s:%d" % (addr, port) in res["text"], res


def test_no_pool_and_no_socket_module_fails_at_start():
    """CircuitPython has no socket module: start() without a pool raises
    the ImportError naming it, and leaves nothing running (CPython, where a
    module can be made missing)."""
    code = """
import asyncio, sys
import monitoring
sys.modules["socket"] = None  # as on CircuitPython
async def main():
    try:
        monitoring.start(influx={"host": "127.0.0.1", "transport": "udp"})
    except ImportError as e:
        print("IMPORTERROR", e, monitoring.current)
asyncio.run(main())
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "lib")))
    assert p.stdout == ("IMPORTERROR no socket module: give monitoring.start a pool (CircuitPython: "
                        "pool=socketpool.SocketPool(wifi.radio)) None\n"), p.stdout + p.stderr


def test_cppool_refuses_what_socketpool_lacks(mp):
    """The test pool is as strict as the brief says: a name outside
    socketpool's API raises AttributeError naming it, and is recorded."""
    p = mp.run("""
import cppool
pool = cppool.Pool()
s = pool.socket(pool.AF_INET, pool.SOCK_DGRAM)
for name in ("fileno", "readinto", "write", "recv", "makefile"):
    try:
        getattr(s, name)
        print("HAS", name)
    except AttributeError as e:
        print("NO", name, "|", e)
try:
    pool.SO_SNDBUF
except AttributeError:
    print("NO SO_SNDBUF")
s.close()
print("MISSES", pool.misses)
""")
    out = p.stdout
    assert "HAS" not in out, out
    assert "NO fileno | socketpool.Socket has no 'fileno'" in out, out
    assert "NO SO_SNDBUF" in out
    assert "MISSES ['fileno', 'readinto', 'write', 'recv', 'makefile', 'SO_SNDBUF']" in out, out
