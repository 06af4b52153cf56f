"""Soak with faults: the demo firmware on the Unix port with a board-sized
heap, for DURATION seconds, while a driver on a fixed random seed:

- stops and restarts InfluxDB and rsyslog (same ports, same data; rsyslog
  with SIGTERM, or over RELP SIGTERM or SIGKILL);
- stalls syslog for a while: over RELP (the default) rsyslog is stopped with
  SIGSTOP and continued; over TCP (``--syslog tcp``) a sink that accepts and
  never reads takes rsyslog's port;
- floods the control port with valid, invalid, oversized and half-sent
  commands from up to 10 clients at once, beside clients holding its slots
  the lock-out ways (silent, a byte every 200 ms and never a line end, too
  long a first line), while an operator probes it every second;
- connects trace clients that read a little and leave, or never read;
- flips log levels and metrics switches.

At the end it checks and reports: the firmware ran the whole time without
a crash or MemoryError; the heap high-water mark did not grow; points
produced == sent + dropped + unconfirmed (queued at exit counts as dropped)
and InfluxDB stored every point sent, and of the unconfirmed (a batch whose
answer a restart took) none or some; syslog records queued == sent + dropped and, over RELP, every
record queued received or counted dropped, exactly (by its sequenceId), a
record received twice only if sent again (at most ``log_resent``
duplicates); over TCP, sent == received + what the stalled sink took;
every control reply well-formed; every operator probe answered within 1 s.
Exit status 0 when every check holds.

    python tools/soak.py --duration 3600 --seed 1 [--heapsize 48k] [--syslog relp|tcp|tls] [--queues 2048]

``--syslog tls``: syslog over TLS (rsyslog's imtcp with gtls) and Influx
over HTTPS (InfluxDB with ``https-enabled``), the certificates made by
openssl in the work dir, under the faults of TCP: every restart is a new
handshake, the stalled sink stalls the handshake (so it takes no record).
The heap for data then defaults to 64 KB on a 32-bit build and 120 KB on
the 64-bit port (the two TLS contexts and sockets; on this port mbedTLS's
buffers are in libc, on a Pico W they would be in the heap too).

The heap: ``--heapsize`` is the heap left for data, the way a board with
the package frozen into flash has it. On the Unix port the bytecode of
everything the firmware loads (the package, adafruit_logging, the firmware
itself, all precompiled to .mpy) lives in the heap too, so the interpreter
gets ``--heapsize`` plus that code's measured footprint (``-X heapsize``).

The default follows the binary's word size: 48 KB on a 32-bit build (as on
an ESP32 or a Pico W), 96 KB on the 64-bit Unix port from PyPI, whose
objects take more bytes (8-byte words, 32-byte GC blocks): the firmware's
data peaks near 34 KB on a 32-bit build and near 49 KB on the 64-bit one,
where at 64 KB the demo's own page builds (three blocks of up to 0.8 KB
at once) start to fail on fragmentation under faults (caught, and a failed
check). ``$MICROPYTHON`` names the binary (see host_tests/mpy.py).
``--queues`` sizes Influx's buffer and the syslog queue (4096 bytes each by
default): RAM for data against what an outage may hold.
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from mpy import MicroPython  # noqa: E402
from peers import Certs, InfluxDB, Rsyslog, free_port, wait_until  # noqa: E402

DB = "soak"
# what the demo firmware loads with every capability on
FIRMWARE_MODULES = ("influx", "syslog_handler", "syslog", "control_server", "control", "logbackend",
                    "listener", "trace", "tracesession", "regions", "tracefmt", "netsources")
REPLY = re.compile(r"^(ok|ok: .*|error: .+)$")
SEQ = re.compile(r'^\[meta sequenceId="(\d+)"\]$')
VALID = ["l", "l*", "m", "m*", "L*:debug", "L*:info", "Lsensor:warning,http:debug", "Mdemo:disable",
         "M*:enable", "Mtag:builtin:enable", "M*:disable,memory:enable", "mmemory,demo", "lapp,http"]
INVALID = ["", "x", "Lnope:debug", "L*:loud", "Mfoo:enable", "M*:maybe", "a" * 300, "\x00\x01\xff",
           "M::", "L,", "mdemo,", "Mtag:nope:enable"]


def complete_frames(data):
    """Number of whole octet-counted syslog frames (``LEN SP MSG``) in data
    that are records, not the sender's own "N messages dropped" notices
    (which its ``log_sent`` does not count either)."""
    i = n = 0
    while True:
        j = data.find(b" ", i)
        if j < 0:
            return n
        try:
            length = int(data[i:j])
        except ValueError:
            return n
        start, i = j + 1, j + 1 + length
        if i > len(data):
            return n
        if not data[start:i].rstrip(b"\n").endswith(b"messages dropped"):
            n += 1


class Soak:
    def __init__(self, duration, seed, heapsize=None, log=print, syslog="relp", queues=None):
        self.duration = duration
        self.queues = queues  # Influx's buffer_bytes and syslog's queue_bytes; None: the defaults
        self.transport = syslog  # the syslog transport: "relp", "tcp" or "tls"
        self.rng = random.Random(seed)
        self.lock_rng = random.Random(seed + 1)  # the lock-out clients: self.rng's draws unchanged
        self.probes = []  # (s since start, reply time or None, reply): the operator's
        self.heapsize = heapsize
        self.log = log
        self.work = tempfile.mkdtemp(prefix="mpmon-soak-")
        self.certs = None  # over TLS (and Influx over HTTPS): the test CA's certificates
        if syslog == "tls":
            os.makedirs(os.path.join(self.work, "certs"))
            self.certs = Certs(os.path.join(self.work, "certs"))
        self.influx = InfluxDB(os.path.join(self.work, "influxdb"), certs=self.certs)
        self.syslog_dir = os.path.join(self.work, "rsyslog")
        os.makedirs(self.influx.dir, exist_ok=True)
        os.makedirs(self.syslog_dir, exist_ok=True)
        self.syslog = Rsyslog(self.syslog_dir, relp_port=syslog == "relp" or None,
                              certs=self.certs)
        self.control_port = free_port()
        self.trace_port = free_port()
        self.replies = []
        self.bad_replies = []
        self.events = []
        self.lock = threading.Lock()

    # -- peers -------------------------------------------------------------

    def start_peers(self):
        self.influx.start()
        self.influx.create_db(DB)
        self.syslog.start()

    def restart_influx(self, down):
        self.influx.stop()
        time.sleep(down)
        self.influx.start()

    def restart_syslog(self, down, sig=signal.SIGTERM):
        self.syslog.kill(sig)
        time.sleep(down)
        r = self.syslog
        self.syslog = Rsyslog(self.syslog_dir, r.udp_port, r.tcp_port, r.relp_port,
                              certs=self.certs, tls_port=getattr(r, "tls_port", None),
                              mtls_port=getattr(r, "mtls_port", None))
        self.syslog.start()

    @property
    def syslog_port(self):
        # the port the firmware sends to
        r = self.syslog
        return r.relp_port or (r.tls_port if self.certs else r.tcp_port)

    def stop_syslog(self, secs):
        """rsyslog stopped (SIGSTOP) for ``secs``, then continued: RELP
        answers stop coming, the sender times out, reconnects and sends the
        unanswered records again."""
        self.syslog.send_signal(signal.SIGSTOP)
        time.sleep(secs)
        self.syslog.send_signal(signal.SIGCONT)

    def stall_syslog(self, secs):
        """rsyslog's TCP port (over TLS its TLS port: the handshake stalls)
        taken over by a sink that never reads."""
        self.syslog.stop()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind(("127.0.0.1", self.syslog_port))
        s.listen(4)
        s.settimeout(0.2)
        conns = []
        end = time.monotonic() + secs
        while time.monotonic() < end:
            try:
                c, _ = s.accept()
                conns.append(c)
            except socket.timeout:
                pass
        # what the sink swallowed never reaches rsyslog: count it so the
        # totals can still be checked (received by the sink, not lost)
        # Closing a connection with bytes still arriving resets it and loses
        # frames the sender already counted as sent (the kernel took them).
        # So: take every connection the kernel completed, stop listening, then
        # half-close each (FIN): the sender sees the end and closes its side,
        # and what it wrote until then is read here up to its own FIN.
        s.setblocking(False)
        try:
            while True:
                conns.append(s.accept()[0])
        except OSError:
            pass
        s.close()
        swallowed = 0
        for c in conns:
            data = b""
            try:
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            c.settimeout(0.5)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    b = c.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not b:
                    break
                data += b
            c.close()
            # (over TLS, ciphertext of a handshake that never ended: no record)
            swallowed += complete_frames(data) if not self.certs else 0
        self.restart_syslog(0)
        return swallowed

    # -- control and trace clients --------------------------------------------

    def control(self, commands, half=False, linger=0.3):
        try:
            c = socket.create_connection(("127.0.0.1", self.control_port), 2)
        except OSError as e:
            self.events.append("control connect failed: %s" % e)
            return
        c.settimeout(2)
        try:
            if half:
                c.sendall(commands[0].encode("latin-1")[:3])
                time.sleep(linger)
                return
            for cmd in commands:
                c.sendall(cmd.encode("latin-1") + b"\n")
            data = b""
            want = len(commands)
            end = time.monotonic() + 3
            while data.count(b"\n") < want and time.monotonic() < end:
                try:
                    b = c.recv(4096)
                except socket.timeout:
                    break
                if not b:
                    break
                data += b
            with self.lock:
                for line in data.decode("utf-8", "replace").splitlines():
                    self.replies.append(line)
                    if not REPLY.match(line):
                        self.bad_replies.append(line)
        except OSError:
            pass
        finally:
            c.close()

    def lockout(self, kind, secs):
        """A client holding a control slot for ``secs`` the lock-out ways:
        ``silent``, ``trickle`` (a byte every 200 ms, never a line end) or
        ``long`` (a first line too long to hold, then silent)."""
        try:
            c = socket.create_connection(("127.0.0.1", self.control_port), 2)
        except OSError:
            return
        end = time.monotonic() + secs
        try:
            if kind == "long":
                c.sendall(b"auth " + b"y" * 400 + b"\n")
            while time.monotonic() < end:
                if kind == "trickle":
                    c.send(b"x")
                time.sleep(0.2)
        except OSError:
            pass  # closed for a newer connection, or by the first-line rule
        finally:
            c.close()

    def probe(self, stop, start):
        """The operator: ``m`` every second, each reply timed."""
        while not stop.is_set():
            t0 = time.monotonic()
            reply = ""
            try:
                c = socket.create_connection(("127.0.0.1", self.control_port), 2)
                try:
                    c.settimeout(2)
                    c.sendall(b"m\n")
                    while not reply.endswith("\n"):
                        b = c.recv(4096)
                        if not b:
                            break
                        reply += b.decode("utf-8", "replace")
                finally:
                    c.close()
            except OSError as e:
                reply = repr(e)
            took = time.monotonic() - t0
            self.probes.append((t0 - start, took if reply.startswith("ok: ") else None, reply.strip()))
            stop.wait(1)

    def flood(self, clients):
        for _ in range(self.lock_rng.randint(0, 4)):
            kind = self.lock_rng.choice(["silent", "trickle", "long"])
            threading.Thread(target=self.lockout, args=(kind, self.lock_rng.uniform(2, 8)), daemon=True).start()
        threads = []
        for _ in range(clients):
            kind = self.rng.random()
            if kind < 0.15:
                args = ([self.rng.choice(VALID)], True)
            elif kind < 0.25:
                args = (["M" + "x" * self.rng.choice([300, 10000])], False)
            else:
                cmds = [self.rng.choice(VALID if self.rng.random() < 0.6 else INVALID) for _ in range(3)]
                args = (cmds, False)
            threads.append(threading.Thread(target=self.control, args=args, daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)

    def trace_client(self, mode):
        try:
            c = socket.create_connection(("127.0.0.1", self.trace_port), 2)
        except OSError as e:
            self.events.append("trace connect failed: %s" % e)
            return
        try:
            if mode == "read":
                c.settimeout(2)
                c.recv(4096)
                time.sleep(0.5)
                c.recv(4096)
            else:  # never read
                time.sleep(self.rng.uniform(1, 4))
        except OSError:
            pass
        finally:
            c.close()

    # -- run ---------------------------------------------------------------

    def code_footprint(self, mp, path):
        """Heap bytes taken by the bytecode of every module the firmware
        loads, measured in a large heap after a collection."""
        code = ("import gc\ngc.collect()\nb = gc.mem_alloc()\nimport monboard\nmonboard.logging_module()\n"
                "import main\n" + "".join("import monitoring.%s\n" % m for m in FIRMWARE_MODULES
                                           + (("tlsio",) if self.certs else ())
                                           + (("relp", "relp_sender") if self.transport == "relp"
                                              else ())) +
                "gc.collect()\nprint('code_bytes', gc.mem_alloc() - b)\n")
        p = subprocess.run([mp.binary, "-X", "heapsize=1m", "-c", code], capture_output=True, text=True,
                           env=dict(os.environ, MICROPYPATH=path), cwd=ROOT, timeout=60)
        return int(p.stdout.split()[-1])

    def firmware(self):
        cfg = {
            "hostname": "soak-board",
            "log_level": "debug",
            "heartbeat_s": 2,
            "influx": {"transport": "http", "host": "127.0.0.1", "port": self.influx.http_port,
                       "db": DB, "interval_s": 1, "precision": "ms"},
            "syslog": {"transport": self.transport, "host": "127.0.0.1",
                       "port": self.syslog_port, "format": "rfc5424", "framing": "octet"},
            "control": {"port": self.control_port},
            "trace": {"port": self.trace_port, "interval_ms": 100},
        }
        if self.queues:
            cfg["influx"]["buffer_bytes"] = cfg["syslog"]["queue_bytes"] = self.queues
        if self.certs:
            ca = self.certs.path("ca", "der")
            cfg["influx"].update(transport="https", ca=ca, server_name="localhost")
            cfg["syslog"].update(ca=ca, server_name="localhost")
        path = os.path.join(self.work, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        mp = MicroPython()
        env = mp.env({"MONITORING_CONFIG": path, "MONITORING_DURATION": str(self.duration)},
                     compiled=True)
        from mpy import compiled_ext, compiled_lib

        fw = os.path.join(self.work, "fw")
        os.makedirs(fw, exist_ok=True)
        subprocess.run([mp.cross, "-o", os.path.join(fw, "main.mpy"), os.path.join(ROOT, "firmware", "main.py")],
                       check=True)
        env["MICROPYPATH"] = ":".join([".frozen", fw, compiled_lib(), os.path.join(ROOT, "boards", "unix"),
                                       compiled_ext(mp.extdir)])
        self.code_bytes = self.code_footprint(mp, env["MICROPYPATH"])
        if self.heapsize is None:
            if self.certs:
                self.heapsize = "64k" if mp.word_bits == 32 else "120k"
            else:
                self.heapsize = "48k" if mp.word_bits == 32 else "96k"
        data = int(self.heapsize.rstrip("kK")) * 1024
        self.heap_bytes = data + self.code_bytes
        self.console = open(os.path.join(self.work, "console.log"), "w")
        return subprocess.Popen([mp.binary, "-X", "heapsize=%d" % self.heap_bytes, "-m", "main"],
                                stdout=self.console, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def run(self):
        self.start_peers()
        proc = self.firmware()
        start = time.monotonic()
        swallowed = 0
        try:
            wait_until(lambda: self._port_open(self.control_port), 20)
            probing = threading.Event()
            threading.Thread(target=self.probe, args=(probing, start), daemon=True).start()
            while time.monotonic() - start < self.duration - 8 and proc.poll() is None:
                action = self.rng.choice(["influx", "syslog", "stall", "flood", "flood", "trace",
                                          "trace_stall", "flip", "idle"])
                self.events.append("%6.1f %s" % (time.monotonic() - start, action))
                if action == "influx":
                    self.restart_influx(self.rng.uniform(1, 4))
                elif action == "syslog":
                    # over TCP as before: SIGTERM (a SIGKILL loses what is in flight,
                    # counted as sent: no acknowledgement to tell)
                    sig = signal.SIGTERM
                    if self.transport == "relp" and self.rng.random() < 0.5:
                        sig = signal.SIGKILL
                    self.events[-1] += " (%s)" % sig.name
                    self.restart_syslog(self.rng.uniform(1, 4), sig)
                elif action == "stall" and self.transport == "relp":
                    self.stop_syslog(self.rng.uniform(2, 5))
                elif action == "stall":
                    swallowed += self.stall_syslog(self.rng.uniform(2, 5))
                elif action == "flood":
                    self.flood(self.rng.randint(2, 10))
                elif action == "trace":
                    self.trace_client("read")
                elif action == "trace_stall":
                    threading.Thread(target=self.trace_client, args=("stall",), daemon=True).start()
                elif action == "flip":
                    self.control([self.rng.choice(["L*:debug", "L*:info", "L*:warning",
                                                   "Mdemo:disable", "M*:enable", "Mmemory:disable"])])
                else:
                    time.sleep(self.rng.uniform(0.5, 2))
            # leave everything up and settled for the final flush
            probing.set()
            self.control(["L*:debug", "M*:enable"])
            rc = proc.wait(self.duration + 60 - (time.monotonic() - start))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self.console.close()
        time.sleep(1.0)
        return self.report(rc, swallowed)

    def _port_open(self, port):
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            return False

    def report(self, rc, swallowed):
        with open(self.console.name) as f:
            console = f.read()
        checks = []
        m = re.search(r"^SUMMARY (.*)$", console, re.M)
        summary = json.loads(m.group(1)) if m else {}
        checks.append(("firmware exited normally", rc == 0 and bool(summary), "exit %s" % rc))
        crash = "MemoryError" in console or "Traceback" in console
        oom = console.count("out of memory")  # MemoryErrors the demo caught and survived
        checks.append(("no crash, no MemoryError (raised or caught)", not crash and not oom,
                       "%d caught" % oom if oom else ""))
        # the configuration as written: no key refused, every capability on
        refused = [ln for ln in console.splitlines() if ":config: " in ln]
        started = "monitoring started: influx, control, syslog, trace" in console
        checks.append(("configuration accepted, every capability started", started and not refused,
                       refused[0] if refused else "" if started else "no 'monitoring started' line"))
        peaks = [p for p in summary.get("heap_peaks", []) if p]
        if len(peaks) >= 4:
            half = len(peaks) // 2
            early, late = max(peaks[:half]), max(peaks[half:])
            checks.append(("heap high-water mark did not grow", late <= early + 2048,
                           "first half %d B, second half %d B" % (early, late)))
        stored = 0
        for meas in self.influx.measurements(DB):
            stored += self.influx.count(DB, meas)
        produced = summary.get("points_produced", -1)
        sent = summary.get("points_sent", -1)
        dropped = summary.get("points_dropped", -1)
        # unconfirmed: stored by InfluxDB or not, its answer lost with a restart
        unconf = summary.get("points_unconfirmed", 0)
        checks.append(("points: produced == sent + dropped + unconfirmed",
                       produced == sent + dropped + unconf,
                       "produced %d, sent %d, dropped %d, unconfirmed %d" % (produced, sent, dropped, unconf)))
        checks.append(("points: sent <= stored <= sent + unconfirmed", sent <= stored <= sent + unconf,
                       "stored %d, sent %d" % (stored, sent)))
        lines = self.syslog.lines()
        notices = [ln for ln in lines if ln["msg"].endswith("messages dropped")]
        received = len(lines) - len(notices)
        lq, ls, ld = summary.get("log_queued", -1), summary.get("log_sent", -1), summary.get("log_dropped", -1)
        checks.append(("syslog: queued == sent + dropped", lq == ls + ld,
                       "queued %d, sent %d, dropped %d" % (lq, ls, ld)))
        if self.transport == "relp":
            # each record by its sequenceId (1, 2, ... in the order queued):
            # received once or more, or counted dropped, never both unknown
            seqs = [SEQ.match(ln["sd"]) for ln in lines
                    if not ln["msg"].endswith("messages dropped")]
            ids = [int(m.group(1)) for m in seqs if m]
            unique = len(set(ids))
            dups = len(ids) - unique
            resent = summary.get("log_resent", -1)
            checks.append(("syslog (RELP): unique records received + dropped == queued",
                           len(ids) == received and unique + ld == lq,
                           "queued %d, received %d unique (+%d twice, +%d notices), dropped %d"
                           % (lq, unique, dups, len(notices), ld)))
            checks.append(("syslog (RELP): every record acknowledged was received",
                           unique >= ls and (not ids or max(ids) <= lq),
                           "sent (acknowledged) %d, received %d unique" % (ls, unique)))
            checks.append(("syslog (RELP): duplicates <= log_resent", 0 <= dups <= resent,
                           "%d received twice, %d resent" % (dups, resent)))
        else:
            # records only on both sides: log_sent does not count the notices
            checks.append(("syslog: sent == received + swallowed by the stalled sink",
                           ls == received + swallowed,
                           "sent %d, received %d (+%d notices), swallowed %d"
                           % (ls, received, len(notices), swallowed)))
        slow = [p for p in self.probes if p[1] is None or p[1] >= 1.0]
        took = [p[1] for p in self.probes if p[1] is not None]
        checks.append(("operator answered within 1 s throughout", bool(self.probes) and not slow,
                       "%d probes, slowest %.3f s, %d not: %r" % (len(self.probes), max(took or [-1]), len(slow),
                                                                 slow[:3])))
        checks.append(("control replies all well-formed", not self.bad_replies,
                       "%d replies, bad: %r" % (len(self.replies), self.bad_replies[:3])))
        self.log("soak: %d s, syslog over %s, queues %s, heap %s for data + %d B of loaded bytecode = "
                 "-X heapsize=%d, work dir %s" % (self.duration, self.transport, self.queues or "default",
                                                  self.heapsize, self.code_bytes, self.heap_bytes, self.work))
        ok = True
        for name, passed, detail in checks:
            ok = ok and passed
            self.log("  %-58s %s  %s" % (name, "ok" if passed else "FAILED", detail))
        self.summary = summary
        self.checks = checks
        return ok

    def cleanup(self):
        import shutil

        self.influx.cleanup()
        self.syslog.cleanup()  # (the certificates are in the work dir)
        shutil.rmtree(self.work, ignore_errors=True)  # the firmware's files, its console


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=3600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--heapsize", default=None,
                    help="heap for data, beyond the loaded bytecode (default 48k on a 32-bit "
                         "build, 96k on 64-bit)")
    ap.add_argument("--syslog", choices=("relp", "tcp", "tls"), default="relp",
                    help="the syslog transport (default relp: every record acknowledged; "
                         "tls: syslog over TLS and Influx over HTTPS)")
    ap.add_argument("--queues", type=int, default=None,
                    help="bytes of Influx's buffer and of the syslog queue (default: the "
                         "library's, 4096 each)")
    a = ap.parse_args()
    s = Soak(a.duration, a.seed, a.heapsize, syslog=a.syslog, queues=a.queues)
    try:
        ok = s.run()
    finally:
        s.influx.stop()
        s.syslog.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
