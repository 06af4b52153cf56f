"""Abuse of the demo firmware's listeners on the Unix port with a board-sized
heap, while InfluxDB and rsyslog receive its points and records.

The demo runs with every capability (influx, syslog, control, trace,
prometheus), the heap sized as tools/soak.py sizes it: ``--heapsize`` KB
for data plus the measured bytecode of what the firmware loads. A trace
client stays connected the whole time and collects the ``E`` lines (a
MemoryError caught by a monitoring task); at the end the firmware prints
each listener's counters and ``last_error``. Meanwhile the driver runs,
against the control port, the attacks named in ``ATTACKS`` (each for a
fraction of ``--duration``), and an operator probes the control port every
0.5 s (``m``, after ``auth TOKEN`` with ``--token``) and times the reply.

    python tools/abuse.py --duration 60 --heapsize 96 [--token s3cret] [--seed 1]

It reports and checks: no MemoryError raised or caught (no ``E`` line, no
``MemoryError`` or ``Traceback`` on the console, no step error in a
listener), the operator answered within 1 s every time, points stored ==
sent. Exit status 0 when every check holds. :func:`run` is the same as a
function (bench/bench_abuse.py bisects the smallest heap with it).
"""

import argparse
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from mpy import MicroPython, compiled_ext, compiled_lib  # noqa: E402
from peers import InfluxDB, Rsyslog, free_port, wait_until  # noqa: E402

DB = "abuse"
MODULES = ("influx", "syslog_handler", "syslog", "control_server", "control", "logbackend", "listener",
           "trace", "tracesession", "regions", "tracefmt", "netsources", "prometheus", "promfmt")
# the firmware, and at its end what each listener counted (the demo's
# own summary has only the senders' counters)
WRAPPER = r"""
import json
import main
import monitoring

_summary = main.summary


def summary(mon, secs):
    _summary(mon, secs)
    out = {}
    if mon is not None:
        for k in ("control", "trace", "prometheus"):
            l = getattr(mon, k)
            if l is not None:
                d = out[k] = {}
                for a in ("step_errors", "memory_errors", "commands", "errors", "refused", "evicted",
                          "sessions", "last_error"):
                    if hasattr(l, a):
                        d[a] = getattr(l, a)
    print("LISTENERS " + json.dumps(out))


main.summary = summary
if DEBUG:
    # where each caught exception came from, on the console
    import sys
    from monitoring import listener

    _failed = listener.PolledListener._failed

    def failed(self, e, where, n=80):
        print("CAUGHT", where)
        sys.print_exception(e)
        _failed(self, e, where, n)

    listener.PolledListener._failed = failed
try:
    main.asyncio.run(main.main())
except KeyboardInterrupt:
    pass
"""
MALFORMED = [b"", b"x", b"Lnope:debug", b"L*:loud", b"Mfoo:enable", b"M*:maybe", b"a" * 300,
             b"\x00\x01\xff", b"M::", b"L,", b"mdemo,", b"Mtag:nope:enable", b"\xed\xa0\x80",
             b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xff\xfe", b"l" + b"x," * 100]
VALID = [b"l", b"l*", b"m", b"m*", b"mmemory,demo", b"lapp,http"]


def _linger0(s):
    # close with RST: SO_LINGER on, 0 s
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Abuse:
    """One run: peers, the firmware, the attacks, the report."""

    def __init__(self, duration=60, heapsize=96, token=None, seed=1, attacks=None, log=print,
                 prometheus=True, debug=False):
        self.debug = debug
        self.duration = duration
        self.heap_kb = heapsize
        self.token = token
        self.rng = random.Random(seed)
        self.attacks = ATTACKS if attacks is None else attacks
        self.log = log
        self.prometheus = prometheus
        self.work = tempfile.mkdtemp(prefix="mpmon-abuse-")
        self.influx = InfluxDB(os.path.join(self.work, "influxdb"))
        os.makedirs(self.influx.dir, exist_ok=True)
        self.syslog = Rsyslog(os.path.join(self.work, "rsyslog"))
        os.makedirs(self.syslog.dir, exist_ok=True)
        self.control_port = free_port()
        self.trace_port = free_port()
        self.prom_port = free_port()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.probes = []  # (seconds since start, seconds the reply took or None, reply)
        self.e_lines = []
        self.events = []
        self.window = (0.0, 0.0)  # (start, end) of the attacks, s since start
        self.trace_bytes = 0

    # -- the firmware ----------------------------------------------------------

    def _code_bytes(self, mp, env):
        code = ("import gc\ngc.collect()\nb = gc.mem_alloc()\nimport monboard\nmonboard.logging_module()\n"
                "import main\nimport abuse_main\n" + "".join("import monitoring.%s\n" % m for m in MODULES) +
                "gc.collect()\nprint('code_bytes', gc.mem_alloc() - b)\n")
        # abuse_main would run the demo on import: measured with a stub main
        p = subprocess.run([mp.binary, "-X", "heapsize=1m", "-c", code.replace("import abuse_main\n", "")],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
        return int(p.stdout.split()[-1]) + self.wrapper_bytes

    def firmware(self):
        cfg = {
            "hostname": "abuse-board",
            "log_level": "info",
            "heartbeat_s": 2,
            "influx": {"transport": "http", "host": "127.0.0.1", "port": self.influx.http_port,
                       "db": DB, "interval_s": 1, "precision": "ms"},
            "syslog": {"transport": "tcp", "host": "127.0.0.1", "port": self.syslog.tcp_port,
                       "format": "rfc5424", "framing": "octet"},
            "control": {"port": self.control_port, "addr": "127.0.0.1"},
            "trace": {"port": self.trace_port, "addr": "127.0.0.1", "interval_ms": 200},
        }
        if self.prometheus:
            cfg["prometheus"] = {"port": self.prom_port, "addr": "127.0.0.1"}
        if self.token:
            cfg["control"]["token"] = self.token
        path = os.path.join(self.work, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        mp = MicroPython()
        self.word_bits = mp.word_bits
        env = mp.env({"MONITORING_CONFIG": path, "MONITORING_DURATION": str(self.duration)}, compiled=True)
        fw = os.path.join(self.work, "fw")
        os.makedirs(fw, exist_ok=True)
        subprocess.run([mp.cross, "-o", os.path.join(fw, "main.mpy"), os.path.join(ROOT, "firmware", "main.py")],
                       check=True)
        src = os.path.join(self.work, "abuse_main.py")
        with open(src, "w") as f:
            f.write("DEBUG = %r\n" % self.debug + WRAPPER)
        subprocess.run([mp.cross, "-o", os.path.join(fw, "abuse_main.mpy"), src], check=True)
        self.wrapper_bytes = 2 * os.path.getsize(os.path.join(fw, "abuse_main.mpy"))
        env["MICROPYPATH"] = ":".join([".frozen", fw, compiled_lib(), os.path.join(ROOT, "boards", "unix"),
                                       compiled_ext(mp.extdir)])
        self.code_bytes = self._code_bytes(mp, env)
        self.heap_bytes = self.heap_kb * 1024 + self.code_bytes
        self.console = open(os.path.join(self.work, "console.log"), "w")
        return subprocess.Popen([mp.binary, "-X", "heapsize=%d" % self.heap_bytes, "-m", "abuse_main"],
                                stdout=self.console, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    # -- the observers ---------------------------------------------------------

    def trace_reader(self):
        """Stay on the trace port, keep the E lines (reconnect if dropped)."""
        while not self.stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", self.trace_port), 2)
            except OSError:
                time.sleep(0.2)
                continue
            s.settimeout(0.5)
            rest = b""
            try:
                while not self.stop.is_set():
                    try:
                        b = s.recv(65536)
                    except socket.timeout:
                        continue
                    if not b:
                        break
                    self.trace_bytes += len(b)
                    rest += b
                    *lines, rest = rest.split(b"\n")
                    for ln in lines:
                        if ln.startswith(b"E\t"):
                            with self.lock:
                                self.e_lines.append("%.1f %s" % (self.t(), ln.decode("utf-8", "replace")))
            except OSError:
                pass
            finally:
                s.close()
            time.sleep(0.2)

    def ask(self, lines, timeout=3.0):
        """``lines`` sent on a new control connection: (replies, seconds)."""
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", self.control_port), timeout=timeout)
        try:
            s.settimeout(timeout)
            s.sendall(b"".join(ln + b"\n" for ln in lines))
            buf = b""
            while buf.count(b"\n") < len(lines):
                got = s.recv(4096)
                if not got:
                    break
                buf += got
        finally:
            s.close()
        return buf.decode("utf-8", "replace").splitlines(), time.monotonic() - t0

    def probe(self):
        """The operator: ``m`` every 0.5 s; each reply timed."""
        auth = [b"auth " + self.token.encode()] if self.token else []
        while not self.stop.is_set():
            t = self.t()
            try:
                replies, took = self.ask(auth + [b"m"])
                ok = bool(replies) and replies[-1].startswith("ok: ")
                self.probes.append((t, took if ok else None, replies[-1] if replies else ""))
            except OSError as e:
                self.probes.append((t, None, repr(e)))
            self.stop.wait(0.5)

    def t(self):
        return time.monotonic() - self.t0

    # -- the attacks (each runs until ``end``) ---------------------------------

    def connect(self, timeout=2):
        s = socket.create_connection(("127.0.0.1", self.control_port), timeout=timeout)
        s.settimeout(timeout)
        return s

    def _many(self, n, fn, end):
        threads = [threading.Thread(target=self._guard, args=(fn, end), daemon=True) for _ in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(max(1, end - time.monotonic() + 10))

    def _guard(self, fn, end):
        while time.monotonic() < end and not self.stop.is_set():
            try:
                fn(end)
            except OSError:
                time.sleep(0.05)

    def silent(self, end):
        s = self.connect()
        try:
            while time.monotonic() < end:
                try:
                    if s.recv(100) == b"":
                        return  # closed by the server: come again
                except socket.timeout:
                    pass
        finally:
            s.close()

    def slowloris(self, end):
        s = self.connect()
        try:
            while time.monotonic() < end:
                s.send(b"x")
                time.sleep(0.2)
        finally:
            s.close()

    def never_auth(self, end):
        # bytes every 200 ms, never a line end (with a token: never an auth)
        self.slowloris(end)

    def too_long(self, end):
        s = self.connect()
        try:
            s.sendall(b"auth " + b"y" * 400 + b"\n")
            while time.monotonic() < end and s.recv(4096):
                pass
        finally:
            s.close()

    def rst_mid_reply(self, end):
        # commands whose replies are due, part of one read, then RST
        s = self.connect()
        _linger0(s)
        try:
            s.sendall(b"".join(self.rng.choice(VALID) + b"\n" for _ in range(8)))
            try:
                s.recv(5)
            except socket.timeout:
                pass
        finally:
            s.close()

    def malformed(self, end):
        # three malformed lines in one packet, the three replies read
        s = self.connect()
        try:
            s.sendall(b"".join(self.rng.choice(MALFORMED) + b"\n" for _ in range(3)))
            buf = b""
            while buf.count(b"\n") < 3 and time.monotonic() < end:
                b = s.recv(4096)
                if not b:
                    break
                buf += b
        finally:
            s.close()
        time.sleep(0.02)

    def non_reader(self, end):
        # commands without end, replies never read
        s = self.connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        try:
            while time.monotonic() < end:
                s.send(b"m*\nl*\n" * 20)
                time.sleep(0.05)
        finally:
            s.close()

    def half_closed(self, end):
        s = self.connect()
        try:
            s.sendall(self.rng.choice(VALID) + b"\n" + self.rng.choice(MALFORMED))
            s.shutdown(socket.SHUT_WR)
            while time.monotonic() < end and s.recv(4096):
                pass
        finally:
            s.close()

    def random_bytes(self, end):
        s = self.connect()
        try:
            data = self.rng.randbytes(1 << 20) if hasattr(self.rng, "randbytes") else os.urandom(1 << 20)
            for i in range(0, len(data), 4096):
                if time.monotonic() >= end:
                    break
                s.sendall(data[i:i + 4096])
        finally:
            s.close()

    KINDS = ("silent", "slowloris", "never_auth", "too_long", "rst_mid_reply", "non_reader", "half_closed",
             "malformed")

    def mixed(self, end):
        # each client one of KINDS, in turn: up to 50 at once hold or churn
        # the slots every way at the same time
        with self.lock:
            self.turn = getattr(self, "turn", -1) + 1
            kind = self.KINDS[self.turn % len(self.KINDS)]
        while time.monotonic() < end and not self.stop.is_set():
            try:
                getattr(self, kind)(end)
            except OSError:
                time.sleep(0.05)

    def storm(self, end):
        # a burst of connections at once, each with a command (5 clients:
        # 50 connections)
        socks = []
        try:
            for _ in range(10):
                try:
                    s = self.connect(1)
                    s.send(b"m\n")
                    socks.append(s)
                except OSError:
                    pass
        finally:
            for s in socks:
                s.close()
        time.sleep(0.2)

    # -- run ----------------------------------------------------------------

    def run(self):
        self.influx.start()
        self.influx.create_db(DB)
        self.syslog.start()
        proc = self.firmware()
        self.t0 = time.monotonic()
        rc = None
        try:
            if not wait_until(lambda: self._open(self.control_port) or proc.poll() is not None, 30) \
                    or proc.poll() is not None:
                raise RuntimeError("the firmware did not open its control port")
            observers = [threading.Thread(target=self.trace_reader, daemon=True),
                         threading.Thread(target=self.probe, daemon=True)]
            for th in observers:
                th.start()
            time.sleep(1)
            budget = self.duration - 6 - self.t()
            each = budget / max(1, len(self.attacks))
            if not self.attacks:  # the baseline: the demo's own work, the probe, the trace reader
                time.sleep(budget)
            self.window = (self.t(), None)
            for name, clients in self.attacks:
                if proc.poll() is not None:
                    break
                self.events.append("%6.1f %s x%d" % (self.t(), name, clients))
                self._many(clients, getattr(self, name), time.monotonic() + each)
            self.window = (self.window[0], self.t())
            self.stop.set()  # attackers, probe and trace reader done before the firmware's end
            rc = proc.wait(self.duration + 60 - self.t())
        finally:
            self.stop.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self.console.close()
        time.sleep(1.0)
        return self.report(rc)

    def _open(self, port):
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            return False

    def report(self, rc):
        with open(self.console.name) as f:
            console = f.read()
        self.console_text = console
        m = re.search(r"^SUMMARY (.*)$", console, re.M)
        summary = json.loads(m.group(1)) if m else {}
        m = re.search(r"^LISTENERS (.*)$", console, re.M)
        listeners = json.loads(m.group(1)) if m else {}
        self.summary, self.listeners = summary, listeners
        checks = []
        checks.append(("firmware exited normally", rc == 0 and bool(summary), "exit %s" % rc))
        started = "monitoring started: influx, control, syslog, trace" in console
        checks.append(("every capability started", started, ""))
        crash = [ln for ln in console.splitlines() if "MemoryError" in ln or "Traceback" in ln
                 or "out of memory" in ln]
        checks.append(("no MemoryError on the console", not crash, crash[0] if crash else ""))
        checks.append(("no E line in the trace", not self.e_lines,
                       "%d: %s" % (len(self.e_lines), self.e_lines[:3]) if self.e_lines else ""))
        # trace: memory_errors counts every E line (the demo's too), checked above
        steps = dict((k, v.get("step_errors", 0)) for k, v in listeners.items())
        errs = dict((k, v.get("last_error")) for k, v in listeners.items() if v.get("last_error"))
        checks.append(("no listener step error", bool(listeners) and not any(steps.values()) and not errs,
                       "%s %s" % (steps, errs)))
        took = [p[1] for p in self.probes if p[1] is not None]
        failed = [p for p in self.probes if p[1] is None or p[1] >= 1.0]
        checks.append(("operator answered within 1 s", bool(self.probes) and not failed,
                       "%d probes, slowest %.3f s, %d failed %s" % (
                           len(self.probes), max(took) if took else -1, len(failed), failed[:3])))
        # a probe is asked 0.5 s after the last answer, and an answer takes < 1 s:
        # a gap over 2 s means the operator was kept out for a while
        start, end = self.window
        times = [p[0] for p in self.probes]
        marks = [start] + [t for t in times if start <= t <= end] + [end]
        gap = max(b - a for a, b in zip(marks, marks[1:])) if end > start else 0.0
        checks.append(("probes throughout the attacks", end > start and gap <= 2.0,
                       "%.1f-%.1f s, largest gap %.2f s" % (start, end, gap)))
        stored = 0
        for meas in self.influx.measurements(DB):
            stored += self.influx.count(DB, meas)
        sent = summary.get("points_sent", -1)
        checks.append(("points: stored == sent", stored == sent and sent > 0,
                       "stored %d, sent %d, produced %s" % (stored, sent, summary.get("points_produced"))))
        self.log("abuse: %d s, heap %d KB for data + %d B of loaded bytecode = -X heapsize=%d (%d-bit), "
                 "token %s, work dir %s" % (self.duration, self.heap_kb, self.code_bytes, self.heap_bytes,
                                            self.word_bits, "set" if self.token else "none", self.work))
        self.log("  control: %s" % listeners.get("control"))
        ok = True
        for name, passed, detail in checks:
            ok = ok and passed
            self.log("  %-40s %s  %s" % (name, "ok" if passed else "FAILED", detail))
        self.checks = checks
        with open(os.path.join(self.work, "report.txt"), "w") as f:
            for ln in self.events + ["E " + e for e in self.e_lines] + ["probe %r" % (p,) for p in self.probes]:
                f.write(ln + "\n")
        where = {}
        for e in self.e_lines:
            w = e.rsplit("\t", 1)[-1]
            where[w] = where.get(w, 0) + 1
        if where:
            self.log("  E lines by where: %s" % where)
        return ok

    def cleanup(self):
        self.influx.cleanup()
        self.syslog.cleanup()


# (attack, concurrent clients), in order; each for an equal share of the run
ATTACKS = [
    ("storm", 5),
    ("silent", 20),
    ("slowloris", 20),
    ("never_auth", 20),
    ("too_long", 10),
    ("random_bytes", 4),
    ("half_closed", 10),
    ("rst_mid_reply", 20),
    ("malformed", 10),
    ("non_reader", 5),
]


def run(duration=60, heapsize=96, token=None, seed=1, attacks=None, log=print, keep=False, debug=False):
    """One abuse run; True when every check held."""
    a = Abuse(duration, heapsize, token, seed, attacks, log, debug=debug)
    try:
        return a.run()
    finally:
        a.influx.stop()
        a.syslog.stop()
        if not keep:
            a.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--heapsize", type=int, default=96, help="KB of heap for data, beyond the bytecode")
    ap.add_argument("--token", default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--attacks", default=None, help="comma-separated NAME:CLIENTS (default: all; none: the baseline)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (console.log)")
    ap.add_argument("--debug", action="store_true",
                    help="print where each exception a listener caught came from")
    a = ap.parse_args()
    attacks = None
    if a.attacks == "none":
        attacks = []
    elif a.attacks:
        attacks = [(x.split(":")[0], int(x.split(":")[1]) if ":" in x else 10) for x in a.attacks.split(",")]
    return 0 if run(a.duration, a.heapsize, a.token, a.seed, attacks, keep=a.keep, debug=a.debug) else 1


if __name__ == "__main__":
    sys.exit(main())
