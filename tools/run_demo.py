"""`make run`: the demo firmware (or, with APP=path/to/main.py, your own
program) on the MicroPython Unix port, with a real InfluxDB and rsyslog on
loopback.

Starts InfluxDB 1.6 and rsyslog on free high ports in a temp dir, writes a
configuration pointing the firmware at them, runs firmware/main.py under the
`micropython` binary, prints where to look, and on Ctrl-C (or after
$DURATION seconds) stops everything it started and prints a summary.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from mpy import MicroPython  # noqa: E402
from peers import InfluxDB, Rsyslog, free_port  # noqa: E402

DB = "board"


def demo_config(influx, syslog, control_port, trace_port, prometheus_port, interval=2, db=DB):
    """The demo firmware's configuration, pointed at the running peers."""
    return {
        "hostname": "unix-demo",
        "log_level": "debug",
        "influx": {"transport": "http", "host": "127.0.0.1", "port": influx.http_port,
                   "db": db, "interval_s": interval, "precision": "ms"},
        "syslog": {"transport": "tcp", "host": "127.0.0.1", "port": syslog.tcp_port,
                   "format": "rfc5424", "framing": "octet"},
        "control": {"port": control_port},
        "trace": {"port": trace_port, "interval_ms": 200},
        "prometheus": {"port": prometheus_port},
    }


def firmware_env(mp, cfg_path, duration=None):
    """Environment for firmware/main.py under the Unix port: lib/, the
    Unix board module and the test-side adafruit_logging on the path."""
    env = mp.env({"MONITORING_CONFIG": cfg_path})
    if duration:
        env["MONITORING_DURATION"] = str(duration)
    env["MICROPYPATH"] = ":".join([".frozen", os.path.join(ROOT, "lib"),
                                   os.path.join(ROOT, "boards", "unix"), mp.extdir])
    return env


def taken(port):
    """True when ``port`` cannot be listened on (another program has it)."""
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def setting(var, default, convert, ok, what):
    """``$var`` converted, or ``default`` when unset; None (after saying
    so) when it is not ``what``."""
    text = os.environ.get(var)
    try:
        v = convert(text) if text else default
        if ok(v):
            return v
    except ValueError:
        pass
    print("make run: %s=%s: expected %s" % (var, text, what), file=sys.stderr)
    return None


def main():
    duration = setting("DURATION", 0, float, lambda v: v >= 0, "a number of seconds")
    ports = [setting(var, default, int, lambda v: 0 < v < 65536, "a port number from 1 to 65535")
             for var, default in (("CONTROL_PORT", 2323), ("TRACE_PORT", 4242),
                                  ("PROMETHEUS_PORT", 9100))]
    if duration is None or None in ports:
        return 2
    control_port, trace_port, prom_port = ports
    # the firmware would start no monitoring at all, saying so only in its
    # console file: stop here instead, saying which port and how to move it
    for port, what, var in ((control_port, "control socket", "CONTROL_PORT"),
                            (trace_port, "trace port", "TRACE_PORT"),
                            (prom_port, "Prometheus endpoint", "PROMETHEUS_PORT")):
        if taken(port):
            print("make run: port %d (%s) is in use; choose another with %s=..." % (port, what, var),
                  file=sys.stderr)
            return 2
    app = os.path.abspath(os.environ.get("APP") or os.path.join(ROOT, "firmware", "main.py"))
    if not os.path.isfile(app):
        print("make run: APP=%s: no such file" % os.environ.get("APP"), file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="mpmon-demo-")
    influx = InfluxDB(os.path.join(work, "influxdb"))
    syslog = Rsyslog(os.path.join(work, "rsyslog"))
    os.makedirs(influx.dir, exist_ok=True)
    os.makedirs(syslog.dir, exist_ok=True)
    proc = None
    try:
        influx.start()
        influx.create_db(DB)
        syslog.start()
        cfg = demo_config(influx, syslog, control_port, trace_port, prom_port)
        cfg_path = os.path.join(work, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        mp = MicroPython()
        env = firmware_env(mp, cfg_path)
        log_path = os.path.join(work, "firmware.log")
        log = open(log_path, "w")
        proc = subprocess.Popen([mp.binary, app],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        q = ("%s/bin/python -c \"import urllib.request,urllib.parse;print(urllib.request.urlopen("
             "'http://127.0.0.1:%d/query?'+urllib.parse.urlencode({'db':'%s','q':'SELECT * FROM demo "
             "ORDER BY time DESC LIMIT 5'})).read().decode())\"" % (os.path.relpath(
                 os.path.join(ROOT, ".venv"), os.getcwd()), influx.http_port, DB))
        print("""
micropython-monitoring: %s running on the Unix port (pid %d)
  console:           %s
  configuration:     %s   ($MONITORING_CONFIG; monitoring.start(**doc) takes it)
  InfluxDB 1.6:      influx {"host": "127.0.0.1", "port": %d, "transport": "http", "db": "%s"}
      query:         curl -sG http://127.0.0.1:%d/query --data-urlencode db=%s --data-urlencode "q=SELECT * FROM demo ORDER BY time DESC LIMIT 5"
      (no curl?)     %s
  rsyslog:           syslog {"host": "127.0.0.1", "port": %d, "transport": "tcp"} (or "udp" on port %d)
      records:       %s
  control socket:    .venv/bin/monctl 127.0.0.1:%d 'l*'
  trace port:        .venv/bin/montrace 127.0.0.1:%d
  Prometheus:        curl -s http://127.0.0.1:%d/metrics
%s The temp dir goes at exit (KEEP=1 keeps it).""" % (
            os.path.relpath(app, ROOT), proc.pid, log_path, cfg_path, influx.http_port, DB,
            influx.http_port, DB, q, syslog.tcp_port, syslog.udp_port, syslog.out, control_port,
            trace_port, prom_port,
            "Stopping after %g s." % duration if duration else "Ctrl-C stops everything."),
            flush=True)
        start = time.monotonic()
        try:
            while proc.poll() is None:
                if duration and time.monotonic() - start >= duration:
                    break
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        ended = proc.poll() is not None
        # the demo runs until stopped; a program of one's own may end by itself
        crashed = ended and (proc.returncode != 0 or not os.environ.get("APP"))
        if not ended:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        time.sleep(0.5)
        print("\nsummary after %.0f s:" % (time.monotonic() - start))
        try:
            names = influx.measurements(DB)
        except Exception:
            names = []
        for m in names:
            print("  influx %-11s %5d points" % (m, influx.count(DB, m)))
        print("  syslog lines      %5d" % len(syslog.lines()))
        if crashed:
            print("%s exited early (status %s); its console:" % (
                os.path.relpath(app, ROOT), proc.returncode))
            with open(log_path) as f:
                print(f.read()[-3000:])
            return 1
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        influx.stop()
        syslog.stop()
        if os.environ.get("KEEP"):
            print("kept %s (the peers' data, the configuration, the console)" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
