"""TLS against real peers: syslog over TLS (RFC 5425) to rsyslog's imtcp
with rsyslog-gnutls (``anon`` and ``x509/name``), Influx over HTTPS to
InfluxDB 1.6 (``https-enabled``) and VictoriaMetrics (``-tls``,
``-httpAuth.*``), certificates made by openssl (peers.Certs); on the
MicroPython Unix port (mbedTLS), and the syslog sender on CPython.

Each failure (unknown CA, name mismatch, expired certificate, a plain
TCP server on the TLS port, a server that stalls in the handshake, a
server refusing the client's certificate, a server restarted) is named
in ``last_error``, counted, retried with backoff, and the accounting adds
up: every record logged is sent, dropped or still queued.
"""

import asyncio
import logging
import os
import signal
import socket
import time

import pytest

from peers import Certs, InfluxDB, Rsyslog, VictoriaMetrics, wait_until
from test_influx import check_tricky_rows, program, summary
from test_syslog import FIXED_NS, HEADER, MESSAGES, expected_text, records, wait_records
from test_victoria import PROGRAM as VM_PROGRAM
from test_victoria import _check as vm_check


@pytest.fixture(scope="module")
def certs():
    c = Certs()
    yield c
    c.cleanup()


@pytest.fixture
def rsyslog_tls(certs):
    """rsyslog with plain UDP/TCP inputs and two TLS inputs (tls_port:
    anon, mtls_port: x509/name permitting board.test)."""
    r = Rsyslog(certs=certs).start()
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def influxdb_tls(certs):
    db = InfluxDB(certs=certs).start()
    yield db
    db.cleanup()


VM_AUTH = ("board-1", "s3cret: pw")


@pytest.fixture(scope="module")
def victoria_tls(certs):
    vm = VictoriaMetrics(certs=certs, auth=VM_AUTH).start()
    yield vm
    vm.cleanup()


SYSLOG = HEADER + """
clock.unix_ns = lambda: %d
async def main():
    log = logging.getLogger("sensor")
    log.setLevel(logging.DEBUG)
    sec = {"host": "127.0.0.1", "transport": "tls", "loggers": log, "app_name": "demo-app",
           "facility": 3}
    sec.update(%r)
    mon = monitoring.start(hostname="pico-7", syslog=sec)
    s = mon.syslog
    s.backoff.max_ms = 300
    print("START", repr(s.last_error))
    for lv, text in %r:
        log.log(lv, text)
    for i in range(%d):
        log.info("more %%d", i)
        await asyncio.sleep_ms(50)
    for _ in range(200):
        if s.queue.used == 0:
            break
        await asyncio.sleep_ms(10)
    c = mon.counters
    print("COUNTERS", c.log_queued, c.log_sent, c.log_dropped, c.send_errors, c.reconnects,
          len(s.queue))
    print("LAST", repr(s.last_error))
    mon.stop()
asyncio.run(main())
"""


def run_syslog(mp, sec, more=0, heapsize=None):
    p = mp.run(SYSLOG % (FIXED_NS, sec, MESSAGES, more), heapsize=heapsize)
    out = {"stdout": p.stdout}
    for line in p.stdout.splitlines():
        if line.startswith("COUNTERS "):
            q, s, d, e, r, left = (int(x) for x in line.split()[1:])
            out.update(queued=q, sent=s, dropped=d, errors=e, reconnects=r, left=left)
        if line.startswith("LAST "):
            out["last_error"] = eval(line[5:])
        if line.startswith("START "):
            out["start_error"] = eval(line[6:])
    # nothing lost uncounted: every record is sent, dropped or still queued
    assert out["queued"] == out["sent"] + out["dropped"] + out["left"], out
    return out


def check_fields(lines):
    assert len(lines) == len(MESSAGES), lines
    sevs = {10: 7, 20: 6, 30: 4, 40: 3, 50: 2}
    for i, ((lv, text), got) in enumerate(zip(MESSAGES, lines)):
        assert got["sev"] == str(sevs[lv]) and got["fac"] == "3", got
        assert got["host"] == "pico-7" and got["ver"] == "1"
        assert got["app"] == "demo-app" and got["msgid"] == "sensor" and got["procid"] == "-"
        assert got["sd"] == '[meta sequenceId="%d"]' % (i + 1)
        assert got["msg"] == expected_text(text), got
        assert got["ts"][:20] == "2025-03-04T05:06:07.", got


@pytest.mark.parametrize("ca", ["der", "pem", "bytes"])
def test_syslog_over_tls_arrives_as_logged(mp, rsyslog_tls, certs, ca):
    """Octet-counted frames over TLS (anon server): every field as over
    TCP; the CA as a DER file, a PEM file, or DER bytes from Python."""
    der = certs.path("ca", "der")
    if ca == "bytes":
        with open(der, "rb") as f:
            cav = f.read()
    else:
        cav = der if ca == "der" else certs.path("ca")
    out = run_syslog(mp, {"port": rsyslog_tls.tls_port, "ca": cav})
    n = len(MESSAGES)
    assert out["sent"] == n and out["dropped"] == 0 and out["errors"] == 0, out
    assert out["reconnects"] == 0 and out["last_error"] is None and out["start_error"] is None
    wait_records(rsyslog_tls, n)
    time.sleep(0.3)
    check_fields(records(rsyslog_tls))


def test_syslog_mutual_tls_with_a_client_certificate(mp, rsyslog_tls, certs):
    """rsyslog's x509/name input takes a client whose certificate the CA
    signed and whose name it permits."""
    out = run_syslog(mp, {"port": rsyslog_tls.mtls_port, "ca": certs.path("ca", "der"),
                          "cert": certs.path("client", "der"),
                          "key": certs.path("client", "key.der")})
    assert out["sent"] == len(MESSAGES) and out["errors"] == 0, out
    wait_records(rsyslog_tls, len(MESSAGES))
    time.sleep(0.3)
    check_fields(records(rsyslog_tls))


def test_syslog_default_port_is_6514(mp):
    p = mp.run("""
from monitoring.syslog_handler import check
print(check({"host": "h", "transport": "tls", "insecure": True})["port"])
""")
    assert p.stdout.split() == ["6514"]


def _stalling_server():
    # accepts connections (the kernel does, into the backlog) and never
    # answers: a server stalled in the handshake
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s


@pytest.mark.parametrize("case", ["unknown CA", "name mismatch", "expired", "plain TCP",
                                  "stalled", "client refused"])
def test_syslog_tls_failures_are_named_counted_and_retried(mp, certs, influxdb, case):
    """Each failure: nothing reaches the server, the records stay queued
    (counted), every attempt is counted and retried with backoff, and
    last_error says what went wrong. The board keeps logging."""
    ca = certs.path("ca", "der")
    stall = None
    r = Rsyslog(certs=certs, server="expired" if case == "expired" else "server").start()
    try:
        sec = {"port": r.tls_port, "ca": ca, "timeout_ms": 400}
        want = {"unknown CA": "TLS: unknown CA", "name mismatch": "TLS: name mismatch",
                "expired": "TLS: certificate expired", "plain TCP": "TLS: not a TLS server",
                "stalled": "TLS: handshake timeout",
                "client refused": "TLS: peer closed after the handshake"}[case]
        if case == "unknown CA":
            sec["ca"] = certs.path("other_ca", "der")
        elif case == "name mismatch":
            sec["server_name"] = "elsewhere.example"
        elif case == "plain TCP":
            sec["port"] = influxdb.http_port  # answers the ClientHello with HTTP 400
        elif case == "stalled":
            stall = _stalling_server()
            sec["port"] = stall.getsockname()[1]
        elif case == "client refused":
            sec["port"] = r.mtls_port  # x509/name, and no client certificate given
        out = run_syslog(mp, sec, more=30)
        assert out["sent"] == 0 and out["dropped"] == 0, out
        assert out["left"] == len(MESSAGES) + 30, out
        assert out["errors"] >= 2 and out["reconnects"] == 0, out  # retried, never connected
        assert out["last_error"].startswith(want), out
        time.sleep(0.3)
        assert records(r) == []
    finally:
        r.cleanup()
        if stall is not None:
            stall.close()


RESTART = HEADER + """
import os
FLAG = sys.argv[1]
async def wait(name):
    while True:
        try:
            os.stat(FLAG + name)
            return
        except OSError:
            await asyncio.sleep_ms(20)
async def main():
    log = logging.getLogger("restart")
    log.setLevel(logging.INFO)
    mon = monitoring.start(hostname="pico-8", syslog={
        "host": "127.0.0.1", "port": %d, "transport": "tls", "ca": %r, "loggers": log,
        "app_name": "r", "timeout_ms": 1000})
    s = mon.syslog
    s.backoff.max_ms = 300
    for i in range(5):
        log.info("before %%d", i)
    while s.queue.used:
        await asyncio.sleep_ms(10)
    print("PHASE1")
    await wait(".down")
    for i in range(20):
        log.info("during %%d", i)
        await asyncio.sleep_ms(20)
    print("LOGGED")
    await wait(".up")
    for _ in range(300):
        if s.queue.used == 0:
            break
        await asyncio.sleep_ms(20)
    for i in range(5):
        log.info("after %%d", i)
    for _ in range(300):
        if s.queue.used == 0:
            break
        await asyncio.sleep_ms(20)
    c = mon.counters
    print("COUNTERS", c.log_queued, c.log_sent, c.log_dropped, c.send_errors, c.reconnects,
          len(s.queue))
    print("LAST", repr(s.last_error))
    mon.stop()
asyncio.run(main())
"""


def test_syslog_tls_server_restart_reconnects_and_counts(mp, certs, tmp_path):
    """rsyslog killed (SIGKILL: no goodbye) while the board logs, then
    started again on the same port: the board reconnects (a new
    handshake), counts the failures, and what was queued during the
    outage arrives after it, in order; the accounting adds up."""
    r = Rsyslog(certs=certs)
    flag = str(tmp_path / "flag")
    r.start()
    p = mp.spawn(RESTART % (r.tls_port, certs.path("ca", "der")), args=[flag])
    try:
        assert p.stdout.readline().strip() == "PHASE1"
        wait_records(r, 5)
        r.kill(signal.SIGKILL)
        open(flag + ".down", "w").close()
        assert p.stdout.readline().strip() == "LOGGED"
        r.start()
        open(flag + ".up", "w").close()
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    c = [int(x) for x in out.split("COUNTERS ")[1].split()[:6]]
    queued, sent, dropped, errors, reconnects, left = c
    assert queued == 30 and queued == sent + dropped + left and left == 0, out
    assert errors >= 1 and reconnects >= 1, out
    time.sleep(0.3)
    msgs = [x["msg"] for x in records(r)]
    r.cleanup()
    assert msgs[:5] == ["before %d" % i for i in range(5)], msgs
    assert msgs[-5:] == ["after %d" % i for i in range(5)], msgs
    during = [m for m in msgs if m.startswith("during")]
    # in order; a frame written into the dead connection before the
    # failure was seen is lost there, as over TCP (counted as sent)
    assert during == sorted(during, key=lambda m: int(m.split()[1])), msgs
    lost = sent - len(msgs)
    assert 0 <= lost <= 5, (lost, msgs, out)


def test_syslog_insecure_is_loud_and_skips_verification(mp, certs, influxdb):
    """insecure: a warning at start and in last_error; a server whose
    certificate no CA given vouches for is taken."""
    r = Rsyslog(certs=certs, server="stranger").start()
    try:
        out = run_syslog(mp, {"port": r.tls_port, "insecure": True})
        assert "warning: insecure: TLS certificates are not verified" in out["stdout"]
        assert out["start_error"].startswith("insecure: TLS certificates are not verified")
        assert out["last_error"] == out["start_error"]
        assert out["sent"] == len(MESSAGES) and out["errors"] == 0, out
        wait_records(r, len(MESSAGES))
        time.sleep(0.3)
        check_fields(records(r))
    finally:
        r.cleanup()


def test_bad_tls_options_are_refused_naming_the_key(mp, certs):
    ca = certs.path("ca", "der")
    cases = [
        ('{"host": "h", "transport": "tls"}', "syslog.ca: required for TLS"),
        ('{"host": "h", "transport": "tcp", "ca": %r}' % ca, "syslog.ca: only with a TLS"),
        ('{"host": "h", "transport": "tls", "ca": "/nonexistent.der"}', "syslog.ca: cannot read"),
        ('{"host": "h", "transport": "tls", "ca": b"not a certificate"}', "syslog.ca: invalid cert"),
        ('{"host": "h", "transport": "tls", "ca": %r, "insecure": True}' % ca,
         "syslog.insecure: not with ca"),
        ('{"host": "h", "transport": "tls", "ca": %r, "cert": %r}' % (ca, ca),
         "syslog.key: cert and key go together"),
        ('{"host": "h", "transport": "tls", "ca": %r, "framing": "lf"}' % ca,
         "syslog.framing: octet only over TLS"),
        ('{"host": "h", "transport": "tls", "ca": 5}', "syslog.ca: expected a file's path"),
        ('{"host": "h", "transport": "tls", "insecure": "yes"}', "syslog.insecure: expected"),
    ]
    code = HEADER + "cases = [%s]\n" % ", ".join(c for c, _ in cases) + """
for sec in cases:
    try:
        monitoring.start(syslog=sec)
        print("STARTED")
    except ValueError as e:
        print("ERR", e)
print("current", monitoring.current)
"""
    out = mp.run(code).stdout.splitlines()
    for (sec, want), got in zip(cases, out):
        assert got.startswith("ERR " + want), (sec, got)
    assert out[-1] == "current None"
    p = mp.run("""
import monitoring
for sec in ({"host": "h", "transport": "https", "db": "d"},
            {"host": "h", "transport": "https", "db": "d", "insecure": True, "username": "u"},
            {"host": "h", "transport": "https", "db": "d", "insecure": True, "username": "u",
             "password": "p", "token": "t"},
            {"host": "h", "transport": "http", "db": "d", "insecure": True}):
    try:
        monitoring.start(influx=sec)
    except ValueError as e:
        print("ERR", e)
""")
    assert p.stdout.splitlines() == [
        "ERR influx.ca: required for TLS (the CA certificate, a DER or PEM file or bytes), "
        "or insecure: true",
        "ERR influx.password: username and password go together",
        "ERR influx.token: not with username and password (one Authorization)",
        "ERR influx.insecure: only with a TLS transport (tls, https)"]


def test_syslog_over_tls_from_cpython(rsyslog_tls, certs):
    """The same sender on CPython (its ssl module), into the same input."""
    from monitoring import start
    from monitoring.metrics import Registry

    async def main():
        log = logging.getLogger("cpy.tls")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        mon = start(hostname="host-1", registry=Registry(), syslog={
            "host": "127.0.0.1", "port": rsyslog_tls.tls_port, "transport": "tls",
            "ca": certs.path("ca"), "server_name": "localhost", "loggers": log,
            "app_name": "cpy"})
        try:
            for i in range(3):
                log.info("hello %d", i)
            for _ in range(200):
                if mon.syslog.queue.used == 0:
                    break
                await asyncio.sleep(0.01)
            return mon.counters.log_sent, mon.syslog.last_error
        finally:
            mon.stop()

    sent, err = asyncio.run(main())
    assert sent == 3 and err is None, err
    lines = wait_records(rsyslog_tls, 3)
    assert [x["msg"] for x in lines] == ["hello 0", "hello 1", "hello 2"]
    assert all(x["app"] == "cpy" and x["host"] == "host-1" for x in lines)


# -- Influx over HTTPS ---------------------------------------------------------


def test_https_v1_stores_exact_values_on_one_kept_connection(mp, influxdb_tls, certs):
    """InfluxDB 1.6 over HTTPS: the same checks as over HTTP, and one TLS
    connection for every flush (no reconnect)."""
    db = influxdb_tls.create_db("tls_v1")
    p = mp.run(program(("127.0.0.1", influxdb_tls.http_port), "https", flushes=5,
                       start_args=", 'db': %r, 'ca': %r" % (db, certs.path("ca", "der"))))
    s = summary(p.stdout)
    assert s["errors"] == 0 and s["dropped"] == 0 and s["queued"] == 0, s
    assert s["reconnects"] == 0 and s["last_error"] is None, s
    check_tricky_rows(influxdb_tls, db, 5)
    stored = sum(influxdb_tls.count(db, m) for m in influxdb_tls.measurements(db))
    assert stored == s["sent"], (stored, s)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_https_basic_auth_is_stored_by_victoriametrics(mp, victoria_tls, certs, api):
    """VictoriaMetrics with -tls and -httpAuth: /write (v1) and
    /api/v2/write (v2) with basic auth, every point stored."""
    name = "vmtls" + api
    where = ('"db": "d"' if api == "v1" else '"org": "o", "bucket": "b", "precision": "ms"')
    sec = ('{"host": "127.0.0.1", "port": %d, "transport": "https", %s, "ca": %r, '
           '"username": %r, "password": %r, "interval_s": 0.1}'
           % ((victoria_tls.http_port, where, certs.path("ca", "der")) + VM_AUTH))
    p = mp.run(VM_PROGRAM % (name, sec))
    if api == "v1":
        # v1 writes get a db label
        p_out = p.stdout
        produced, sent = map(int, p_out.split("RESULT ")[1].split()[:2])
        assert sent == produced >= 3, p_out
        got = wait_until(lambda: victoria_tls.export('{__name__="%s_n"}' % name), 20)
        assert got and {v for pts in got.values() for _, v in pts} == {42}, got
        assert all(("db", "d") in k[1] for k in got), got
    else:
        vm_check(victoria_tls, name, p.stdout)


def test_https_wrong_password_is_refused_and_counted(mp, victoria_tls, certs):
    sec = ('{"host": "127.0.0.1", "port": %d, "transport": "https", "db": "d", "ca": %r, '
           '"username": "board-1", "password": "wrong", "interval_s": 0.1}'
           % (victoria_tls.http_port, certs.path("ca", "der")))
    out = mp.run(VM_PROGRAM % ("vmbadpw", sec)).stdout
    produced, sent, dropped = map(int, out.split("RESULT ")[1].split()[:3])
    assert sent == 0 and dropped == produced and "HTTP 401" in out, out


def test_https_unknown_ca_keeps_points_queued(mp, influxdb_tls, certs):
    """The server's certificate refused: nothing sent, the points kept in
    the queue until the reporter stops (then counted as dropped), the
    attempts retried with backoff and counted."""
    p = mp.run(program(("127.0.0.1", influxdb_tls.http_port), "https", flushes=8,
                       start_args=", 'db': 'x', 'ca': %r, 'timeout_ms': 500"
                       % certs.path("other_ca", "der")))
    s = summary(p.stdout)
    assert s["last_error"].startswith("TLS: unknown CA"), s
    assert s["sent"] == 0 and s["dropped"] > 0 and s["errors"] >= 2, s


def test_https_reconnects_when_the_server_closes_an_idle_connection(mp, certs):
    """VictoriaMetrics closing idle connections after 100 ms: each flush
    finds its kept connection closed and opens a new one, without an
    error and without losing a point (InfluxDB 2.x's API with a token,
    which VictoriaMetrics without -httpAuth takes as it comes)."""
    vm = VictoriaMetrics(certs=certs, args=["-http.idleConnTimeout=100ms"]).start()
    try:
        sec = ('{"host": "127.0.0.1", "port": %d, "transport": "https", "org": "o", '
               '"bucket": "b", "token": "t0k", "precision": "ms", "ca": %r, "interval_s": 0.4}'
               % (vm.http_port, certs.path("ca", "der")))
        prog = VM_PROGRAM.replace("    for i in range(4):\n        await asyncio.sleep(0.15)",
                                  "    for i in range(8):\n        await asyncio.sleep(0.4)")
        assert prog != VM_PROGRAM
        out = mp.run(prog % ("vmidle", sec)).stdout
        produced, sent, dropped, reconnects = map(int, out.split("RESULT ")[1].split()[:4])
        assert sent == produced and dropped == 0 and reconnects >= 3, out
        assert out.strip().endswith("None"), out  # no last_error
        got = wait_until(lambda: len(vm.export('{__name__="vmidle_flush"}').get(
            ("vmidle_flush", (("host", "pico-vm"), ("room", "hall"))), ())) >= sent // 2, 20)
        assert got, vm.export('{__name__=~"vmidle.*"}')
    finally:
        vm.cleanup()


def test_syslog_over_tls_through_circuitpythons_ssl(cpy, rsyslog_tls, certs):
    """The CircuitPython path: a pool without a ``socket`` module, the TLS
    socket from ``ssl.create_default_context()`` (the profile's stand-in,
    host_tests/cpy/ssl.py: the handshake inside ``connect``), into rsyslog
    over TLS; then a CA that did not sign the server's certificate:
    refused, named, the records kept."""
    code = """
import asyncio, monitoring, cppool
from adafruit_logging import getLogger
async def main():
    log = getLogger("app")
    log.setLevel(10)
    mon = monitoring.start(hostname="cp-1", pool=cppool.Pool(), syslog={
        "host": "127.0.0.1", "port": %d, "transport": "tls", "ca": %r, "loggers": log,
        "server_name": "localhost", "app_name": "cp"})
    mon.syslog.backoff.max_ms = 100
    for i in range(5):
        log.info("over tls %%d", i)
        await asyncio.sleep(0.05)
    for _ in range(100):
        if not mon.syslog.queue.used:
            break
        await asyncio.sleep(0.02)
    c = mon.counters
    print("RESULT", c.log_queued, c.log_sent, len(mon.syslog.queue), c.send_errors)
    print("LAST", mon.syslog.last_error)
    mon.stop()
asyncio.run(main())
"""
    p = cpy.run(code % (rsyslog_tls.tls_port, certs.path("ca", "der")))
    assert "RESULT 5 5 0 0" in p.stdout and "LAST None" in p.stdout, p.stdout
    lines = wait_records(rsyslog_tls, 5)
    assert [x["msg"] for x in lines] == ["over tls %d" % i for i in range(5)]
    assert all(x["app"] == "cp" and x["host"] == "cp-1" for x in lines)
    p = cpy.run(code % (rsyslog_tls.tls_port, certs.path("other_ca", "der")))
    assert "RESULT 5 0 5 " in p.stdout and "LAST TLS: unknown CA" in p.stdout, p.stdout


def test_an_ssl_without_create_default_context_is_named(cpy, certs):
    """CircuitPython's pool (host_tests/mp/cppool.py) in the CircuitPython
    profile with an ``ssl`` module that lacks ``create_default_context``
    (an older build): every attempt fails, naming the call, the records
    stay queued and counted, the board runs on."""
    p = cpy.run("import sys\nclass NoContext:\n    pass\nsys.modules['ssl'] = NoContext()\n" + """
import asyncio, monitoring, cppool
from adafruit_logging import getLogger
async def main():
    log = getLogger("app")
    log.setLevel(10)
    mon = monitoring.start(hostname="cp-1", pool=cppool.Pool(), syslog={
        "host": "127.0.0.1", "port": 9, "transport": "tls", "ca": %r, "loggers": log})
    mon.syslog.backoff.max_ms = 100
    for i in range(10):
        log.info("r %%d", i)
        await asyncio.sleep(0.05)
    c = mon.counters
    print("RESULT", c.log_queued, c.log_sent, len(mon.syslog.queue), c.send_errors)
    print("LAST", mon.syslog.last_error)
    mon.stop()
asyncio.run(main())
""" % certs.path("ca", "der"))
    res = p.stdout.split("RESULT ")[1].split("\n")[0].split()
    queued, sent, left, errors = (int(x) for x in res)
    assert queued == 10 and sent == 0 and left == 10 and errors >= 2, p.stdout
    assert "LAST TLS: this ssl module has no create_default_context()" in p.stdout
