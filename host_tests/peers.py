"""Real protocol peers for the tests: InfluxDB 1.6, rsyslog, Prometheus,
VictoriaMetrics; TLS certificates for them (:class:`Certs`).

Each runs as a plain child process on 127.0.0.1 with free high ports and a
temp dir, and is stopped by PID. Recipes: shared/peers.md. Also used by
tools/run_demo.py (``make run``).
"""

import json
import os
import shutil
import signal
import socket
import ssl
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


class Certs:
    """A test CA and certificates signed by it, made with Debian's
    ``openssl`` in a temp dir (EC P-256: what MicroPython's mbedTLS
    negotiates, ECDHE-ECDSA). Each is ``NAME.pem`` + ``NAME.key`` (PEM) and
    ``NAME.der`` + ``NAME.key.der`` (DER), in ``dir``:

    - ``ca``: the CA (``ca.der`` is what a board is given);
    - ``server``: CN and SAN ``localhost``, SAN ``IP:127.0.0.1``, valid now;
    - ``expired``: the same names, valid 2020-2021;
    - ``wrong``: CN and SAN ``wrong.example``, valid now;
    - ``client``: CN and SAN ``board.test`` (a client certificate);
    - ``other_ca`` and ``stranger``: a second CA and a server certificate
      for ``localhost`` signed by it (unknown to a board given ``ca``).
    """

    def __init__(self, workdir=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="mpmon-certs-")
        self._ca("ca", "monitoring test CA")
        self._ca("other_ca", "another CA")
        self._leaf("server", "ca", "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth")
        self._leaf("expired", "ca", "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth",
                   ("20200101000000Z", "20210101000000Z"))
        self._leaf("wrong", "ca", "wrong.example", "DNS:wrong.example", "serverAuth")
        self._leaf("client", "ca", "board.test", "DNS:board.test", "clientAuth")
        self._leaf("stranger", "other_ca", "localhost", "DNS:localhost,IP:127.0.0.1",
                   "serverAuth")

    def path(self, name, ext="pem"):
        return os.path.join(self.dir, name + "." + ext)

    def _run(self, *argv):
        p = subprocess.run(("openssl",) + argv, cwd=self.dir, capture_output=True, text=True)
        if p.returncode:
            raise RuntimeError("openssl %s: %s" % (" ".join(argv), p.stderr))

    def _key(self, name):
        self._run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-out", name + ".key")
        self._run("pkey", "-in", name + ".key", "-outform", "DER", "-out", name + ".key.der")

    def _der(self, name):
        self._run("x509", "-in", name + ".pem", "-outform", "DER", "-out", name + ".der")

    def _ca(self, name, cn):
        self._key(name)
        self._run("req", "-x509", "-new", "-key", name + ".key", "-out", name + ".pem",
                  "-days", "3650", "-subj", "/CN=" + cn,
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._der(name)

    def _leaf(self, name, ca, cn, san, usage, dates=None):
        self._key(name)
        self._run("req", "-new", "-key", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        with open(os.path.join(self.dir, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n" % (san, usage))
        if dates is None:
            self._run("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey",
                      ca + ".key", "-CAcreateserial", "-days", "365", "-extfile", name + ".ext",
                      "-out", name + ".pem")
        else:
            # openssl x509 cannot date a certificate in the past: openssl ca can
            os.makedirs(os.path.join(self.dir, "db"), exist_ok=True)
            open(os.path.join(self.dir, "db", "index.txt"), "w").close()
            with open(os.path.join(self.dir, "ca.cnf"), "w") as f:
                f.write("[ca]\ndefault_ca=d\n[d]\ndir=db\ndatabase=db/index.txt\n"
                        "new_certs_dir=db\nserial=db/serial\ndefault_md=sha256\n"
                        "policy=p\nunique_subject=no\n[p]\ncommonName=supplied\n")
            with open(os.path.join(self.dir, "db", "serial"), "w") as f:
                f.write("1000\n")
            self._run("ca", "-batch", "-config", "ca.cnf", "-cert", ca + ".pem", "-keyfile",
                      ca + ".key", "-in", name + ".csr", "-out", name + ".pem", "-notext",
                      "-startdate", dates[0], "-enddate", dates[1], "-extfile", name + ".ext")
        self._der(name)

    def context(self):
        """A CPython client context trusting ``ca`` (for the tests' own
        requests to an HTTPS peer)."""
        return ssl.create_default_context(cafile=self.path("ca"))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


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
    """InfluxDB 1.6 with HTTP and one UDP listener (database ``udpdb``).
    With ``certs`` (a :class:`Certs`) its HTTP port serves HTTPS only
    (``https-enabled``), presenting the certificate ``server``."""

    name = "influxdb"

    def __init__(self, workdir=None, certs=None, server="server"):
        super().__init__(workdir)
        self.certs = certs
        self.server = server
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
{self._https()}[logging]
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

    def _https(self):
        c = self.certs
        if c is None:
            return ""
        return ('  https-enabled = true\n  https-certificate = "%s"\n'
                '  https-private-key = "%s"\n' % (c.path(self.server), c.path(self.server, "key")))

    def stderr(self):
        try:
            with open(os.path.join(self.dir, "stderr.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.certs else "http", self.http_port)

    def _ctx(self):
        return self.certs.context() if self.certs else None

    def ping(self):
        try:
            with urllib.request.urlopen(self.url + "/ping", timeout=1, context=self._ctx()) as r:
                return r.status == 204
        except OSError:
            return False

    def http(self, method, path, body=None, headers=None):
        """(status, body bytes) of a request to the server."""
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10, context=self._ctx()) as r:
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

    def __init__(self, workdir=None, certs=None, auth=None, args=()):
        super().__init__(workdir)
        self.args = list(args)  # more flags
        self.http_port = free_port()
        self.influx_port = free_port()  # TCP and UDP
        self.certs = certs  # a Certs: HTTPS only (-tls), certificate "server"
        self.auth = auth  # (username, password): basic auth required (-httpAuth.*)

    def start(self):
        argv = ["victoria-metrics", "-storageDataPath=%s/vm" % self.dir,
                "-httpListenAddr=127.0.0.1:%d" % self.http_port,
                "-influxListenAddr=127.0.0.1:%d" % self.influx_port,
                "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=ERROR"]
        if self.certs:
            argv += ["-tls", "-tlsCertFile=" + self.certs.path("server"),
                     "-tlsKeyFile=" + self.certs.path("server", "key")]
        if self.auth:
            argv += ["-httpAuth.username=" + self.auth[0], "-httpAuth.password=" + self.auth[1]]
        self._spawn(argv + self.args)

        def ready():
            try:
                return self._get("/health").status == 200
            except OSError:
                return False

        if not wait_until(ready, 20):
            raise RuntimeError("victoria-metrics did not start")
        return self

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.certs else "http", self.http_port)

    def _get(self, path):
        req = urllib.request.Request(self.url + path)
        if self.auth:
            import base64

            req.add_header("Authorization", "Basic " + base64.b64encode(
                ("%s:%s" % self.auth).encode()).decode())
        return urllib.request.urlopen(req, timeout=5,
                                      context=self.certs.context() if self.certs else None)

    def export(self, match):
        """The series matching ``match`` (a series selector), as
        ``{(name, labels without __name__ as sorted tuple): [(ts_ms, value)]}``."""
        path = "/api/v1/export?" + urllib.parse.urlencode({"match[]": match})
        out = {}
        for line in self._get(path).read().decode().splitlines():
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
    appending to the same ``out.log``.

    With ``certs`` (a :class:`Certs`; rsyslog-gnutls) also two imtcp
    inputs over TLS (octet-counted frames, RFC 5425), presenting the
    certificate ``server`` of ``certs``: ``tls_port``
    (``StreamDriver.AuthMode="anon"``: any client) and ``mtls_port``
    (``"x509/name"``: a client certificate signed by the CA and naming
    ``board.test``). The plain inputs stay plain (the driver is set per
    input)."""

    name = "rsyslog"

    def __init__(self, workdir=None, udp_port=None, tcp_port=None, relp_port=None, certs=None,
                 server="server", tls_port=None, mtls_port=None):
        super().__init__(workdir)
        self.udp_port = udp_port or free_port(socket.SOCK_DGRAM)
        self.tcp_port = tcp_port or free_port()
        self.relp_port = free_port() if relp_port is True else relp_port
        self.certs = certs
        self.server = server
        if certs is not None:
            self.tls_port = tls_port or free_port()
            self.mtls_port = mtls_port or free_port()
        self.out = os.path.join(self.dir, "out.log")

    def start(self):
        d = self.dir
        os.makedirs(d + "/work", exist_ok=True)
        conf = os.path.join(d, "rsyslog.conf")
        relp = self.relp_port
        with open(conf, "w") as f:
            c = self.certs
            tls_global = tls_inputs = ""
            if c is not None:
                tls_global = (f' DefaultNetstreamDriverCAFile="{c.path("ca")}"'
                              f' DefaultNetstreamDriverCertFile="{c.path(self.server)}"'
                              f' DefaultNetstreamDriverKeyFile="{c.path(self.server, "key")}"')
                drv = 'ruleset="remote" streamDriver.name="gtls" streamDriver.mode="1"'
                tls_inputs = (
                    f'input(type="imtcp" address="127.0.0.1" port="{self.tls_port}" {drv} '
                    f'streamDriver.authMode="anon")\n'
                    f'input(type="imtcp" address="127.0.0.1" port="{self.mtls_port}" {drv} '
                    f'streamDriver.authMode="x509/name" permittedPeer=["board.test"])\n')
            f.write(f"""global(workDirectory="{d}/work" net.enableDNS="off" maxMessageSize="64k"
       processInternalMessages="on"{tls_global})
module(load="imudp")
module(load="imtcp")
{'module(load="imrelp")' if relp else ''}
template(name="fields" type="string" string="{RSYSLOG_TEMPLATE}")
ruleset(name="remote"{' queue.type="Direct"' if relp else ''}) {{
    action(type="omfile" file="{self.out}" template="fields") }}
input(type="imudp" address="127.0.0.1" port="{self.udp_port}" ruleset="remote")
input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" ruleset="remote")
{f'input(type="imrelp" address="127.0.0.1" port="{relp}" ruleset="remote")' if relp else ''}
{tls_inputs}action(type="omfile" file="{d}/internal.log")
""")
        self._spawn(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(d, "pid")])

        def ready(port):
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return True
            except OSError:
                return False

        tls = (self.tls_port, self.mtls_port) if self.certs is not None else ()
        for port in (self.tcp_port, relp) + tls:
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
