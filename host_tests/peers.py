"""Real protocol peers for the tests: InfluxDB 1.6, rsyslog, Prometheus,
VictoriaMetrics.

Each runs as a plain child process on 127.0.0.1 with free high ports and a
temp dir, and is stopped by PID. Recipes: shared/peers.md. Also used by
tools/run_demo.py (``make run``).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request


def free_port(kind=socket.SOCK_STREAM):
    """A port free for both TCP and UDP on 127.0.0.1 right now."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        other = socket.socket(socket.AF_INET,
                              socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM)
        try:
            other.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            other.close()
        return port
    raise RuntimeError("no free port")


def busy_port():
    """A TCP socket listening on all addresses at a free port, as another
    program holding a port would; returns (socket, port): close it after."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 0))
    s.listen(1)
    return s, s.getsockname()[1]


def wait_until(pred, timeout=10.0, step=0.05):
    """Poll ``pred()`` until it returns a truthy value or ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return v
        time.sleep(step)


def connect(port, timeout=10):
    """A TCP connection to 127.0.0.1:``port``, retried until ``timeout``
    (for a listener the program under test is still opening)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), 2)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def read_lines(sock, n, timeout=5):
    """The first ``n`` lines ``sock`` sends (fewer if it closes first)."""
    sock.settimeout(timeout)
    buf = b""
    while buf.count(b"\n") < n:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode().splitlines()[:n]


class Peer:
    """A child process with a temp dir, stopped by PID."""

    name = "peer"

    def __init__(self, workdir=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="mpmon-%s-" % self.name)
        self.proc = None

    def _spawn(self, argv):
        self.log = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.dir, start_new_session=True)

    def stop(self):
        """Stop the process (TERM, then KILL) and wait for it."""
        p = self.proc
        if p is None:
            return
        self.proc = None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def running(self):
        return self.proc is not None and self.proc.poll() is None


def quote_ident(name):
    """An InfluxQL double-quoted identifier."""
    return name.replace("\\", "\\\\").replace('"', '\\"')


class InfluxDB(Peer):
    """InfluxDB 1.6 with HTTP and one UDP listener (database ``udpdb``)."""

    name = "influxdb"

    def __init__(self, workdir=None):
        super().__init__(workdir)
        self.http_port = free_port()
        self.udp_port = free_port(socket.SOCK_DGRAM)
        self.bind_port = free_port()
        self.udp_db = "udpdb"

    def start(self):
        d = self.dir
        conf = os.path.join(d, "influxdb.conf")
        with open(conf, "w") as f:
            f.write(f"""reporting-enabled = false
bind-address = "127.0.0.1:{self.bind_port}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.http_port}"
  log-enabled = false
[logging]
  suppress-logo = true
  level = "warn"
[[udp]]
  enabled = true
  bind-address = "127.0.0.1:{self.udp_port}"
  database = "{self.udp_db}"
  batch-size = 1
  batch-timeout = "10ms"
""")
        self._spawn(["influxd", "run", "-config", conf, "-pidfile", os.path.join(d, "pid")])
        if not wait_until(self.ping, 20):
            raise RuntimeError("influxd did not start: " + self.stderr())
        return self

    def stderr(self):
        try:
            with open(os.path.join(self.dir, "stderr.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def ping(self):
        try:
            with urllib.request.urlopen(self.url + "/ping", timeout=1) as r:
                return r.status == 204
        except OSError:
            return False

    def http(self, method, path, body=None, headers=None):
        """(status, body bytes) of a request to the server."""
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def query(self, q, db=None):
        """Run InfluxQL; returns the decoded JSON ``results``."""
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        st, body = self.http("POST", "/query?" + urllib.parse.urlencode(params))
        if st != 200:
            raise RuntimeError("query %r: %d %s" % (q, st, body))
        return json.loads(body)["results"]

    def create_db(self, db):
        self.query('CREATE DATABASE "%s"' % db)
        return db

    def write(self, db, data, precision="ns"):
        """POST line protocol to /write; returns (status, body)."""
        return self.http("POST", "/write?db=%s&precision=%s" % (db, precision), data)

    def rows(self, db, measurement, where=""):
        """Every point of ``measurement`` as a list of dicts (column->value)."""
        res = self.query('SELECT * FROM "%s"%s' % (quote_ident(measurement), where), db)
        out = []
        for series in res[0].get("series", []):
            cols = series["columns"]
            for v in series["values"]:
                out.append(dict(zip(cols, v)))
        return out

    def field_types(self, db, measurement):
        """{field key: influx type} from SHOW FIELD KEYS."""
        res = self.query('SHOW FIELD KEYS FROM "%s"' % quote_ident(measurement), db)
        out = {}
        for series in res[0].get("series", []):
            for k, t in series["values"]:
                out[k] = t
        return out

    def count(self, db, measurement):
        return len(self.rows(db, measurement))

    def measurements(self, db):
        """Names of the measurements stored in ``db``."""
        res = self.query("SHOW MEASUREMENTS", db)
        return [v[0] for series in res[0].get("series", []) for v in series["values"]]


RSYSLOG_TEMPLATE = (
    "pri=%pri% fac=%syslogfacility% sev=%syslogseverity% ver=%protocol-version% "
    "ts=%timereported:::date-rfc3339% host=%hostname% app=%app-name% procid=%procid% "
    "msgid=%msgid% sd=%structured-data% msg=[%msg%]\\n"
)


class VictoriaMetrics(Peer):
    """VictoriaMetrics: a real line-protocol server over TCP and UDP
    (``-influxListenAddr``, what Telegraf's socket_listener takes) and the
    InfluxDB v1 and v2 write endpoints. Each field becomes a series
    ``MEASUREMENT_FIELD`` with the tags as labels; string fields are stored
    as 0 (check strings on InfluxDB)."""

    name = "victoria-metrics"

    def __init__(self, workdir=None):
        super().__init__(workdir)
        self.http_port = free_port()
        self.influx_port = free_port()  # TCP and UDP

    def start(self):
        self._spawn(["victoria-metrics", "-storageDataPath=%s/vm" % self.dir,
                     "-httpListenAddr=127.0.0.1:%d" % self.http_port,
                     "-influxListenAddr=127.0.0.1:%d" % self.influx_port,
                     "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=ERROR"])

        def ready():
            try:
                return urllib.request.urlopen("http://127.0.0.1:%d/health" % self.http_port,
                                              timeout=1).status == 200
            except OSError:
                return False

        if not wait_until(ready, 20):
            raise RuntimeError("victoria-metrics did not start")
        return self

    def export(self, match):
        """The series matching ``match`` (a series selector), as
        ``{(name, labels without __name__ as sorted tuple): [(ts_ms, value)]}``."""
        url = "http://127.0.0.1:%d/api/v1/export?%s" % (
            self.http_port, urllib.parse.urlencode({"match[]": match}))
        out = {}
        for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():
            d = json.loads(line)
            m = dict(d["metric"])
            name = m.pop("__name__")
            out[(name, tuple(sorted(m.items())))] = list(zip(d["timestamps"], d["values"]))
        return out


class Rsyslog(Peer):
    """rsyslog with imudp and imtcp, every message written to ``out.log``
    through a template that shows every parsed field.

    With ``relp_port`` (a port, or True for a free one) also imrelp (the
    Debian package rsyslog-relp) on that port, and the ruleset's queue
    direct: a message is in ``out.log`` before imrelp acknowledges it, so
    a SIGKILL loses nothing that was acknowledged. ``start()`` again
    after ``stop()`` or :meth:`kill` restarts it on the same ports,
    appending to the same ``out.log``."""

    name = "rsyslog"

    def __init__(self, workdir=None, udp_port=None, tcp_port=None, relp_port=None):
        super().__init__(workdir)
        self.udp_port = udp_port or free_port(socket.SOCK_DGRAM)
        self.tcp_port = tcp_port or free_port()
        self.relp_port = free_port() if relp_port is True else relp_port
        self.out = os.path.join(self.dir, "out.log")

    def start(self):
        d = self.dir
        os.makedirs(d + "/work", exist_ok=True)
        conf = os.path.join(d, "rsyslog.conf")
        relp = self.relp_port
        with open(conf, "w") as f:
            f.write(f"""global(workDirectory="{d}/work" net.enableDNS="off" maxMessageSize="64k"
       processInternalMessages="on")
module(load="imudp")
module(load="imtcp")
{'module(load="imrelp")' if relp else ''}
template(name="fields" type="string" string="{RSYSLOG_TEMPLATE}")
ruleset(name="remote"{' queue.type="Direct"' if relp else ''}) {{
    action(type="omfile" file="{self.out}" template="fields") }}
input(type="imudp" address="127.0.0.1" port="{self.udp_port}" ruleset="remote")
input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" ruleset="remote")
{f'input(type="imrelp" address="127.0.0.1" port="{relp}" ruleset="remote")' if relp else ''}
action(type="omfile" file="{d}/internal.log")
""")
        self._spawn(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(d, "pid")])

        def ready(port):
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return True
            except OSError:
                return False

        for port in (self.tcp_port, relp):
            if port and not wait_until(lambda: ready(port), 10):
                raise RuntimeError("rsyslogd did not start: " + self.internal())
        time.sleep(0.1)  # imudp binds with imtcp; give it a moment
        return self

    def kill(self, sig=signal.SIGKILL):
        """Stop it with ``sig`` (SIGKILL: no goodbye to its clients) and
        wait for it."""
        p = self.proc
        self.proc = None
        if p is not None:
            p.send_signal(sig)
            p.wait(10)
            self.log.close()

    def send_signal(self, sig):
        """Send ``sig`` (SIGSTOP, SIGCONT...) to the running rsyslogd."""
        self.proc.send_signal(sig)

    def internal(self):
        """rsyslogd's own messages (its internal.log and stderr)."""
        out = ""
        for name in ("internal.log", "stderr.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    out += f.read()[-2000:]
            except OSError:
                pass
        return out

    def lines(self):
        """Lines written so far (each a dict of the template's fields)."""
        try:
            with open(self.out, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return []
        return [parse_rsyslog_line(line) for line in text.splitlines() if line]

    def wait_lines(self, n, timeout=10):
        """Wait until at least ``n`` lines arrived; returns them."""
        wait_until(lambda: len(self.lines()) >= n, timeout)
        return self.lines()


def parse_rsyslog_line(line):
    """Split a line of the ``fields`` template into a dict. Structured data
    (``sd``) may hold spaces: it is everything between `` sd=`` and
    `` msg=[``."""
    head, sep, msg = line.partition(" msg=[")
    out = {"msg": msg[:-1] if sep else ""}
    head, sep, sd = head.partition(" sd=")
    out["sd"] = sd
    for part in head.split(" "):
        k, _, v = part.partition("=")
        out[k] = v
    return out


class Prometheus(Peer):
    """Prometheus 2.x scraping ``targets`` every second."""

    name = "prometheus"

    def __init__(self, targets, workdir=None):
        super().__init__(workdir)
        self.targets = targets
        self.port = free_port()

    def start(self):
        d = self.dir
        conf = os.path.join(d, "prometheus.yml")
        tg = ", ".join("'%s'" % t for t in self.targets)
        with open(conf, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: board
    static_configs:
      - targets: [{tg}]
""")
        self._spawn(["prometheus", "--config.file=" + conf, "--storage.tsdb.path=" + d + "/data",
                     "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"])

        def ready():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        if not wait_until(ready, 20):
            raise RuntimeError("prometheus did not start")
        return self

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s?%s" % (self.port, path, urllib.parse.urlencode(params))
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())["data"]

    def query(self, q):
        return self.api("query", query=q)["result"]
