"""The library in the CircuitPython profile (host_tests/cpyprofile.py): the
MicroPython Unix port with CircuitPython boards' ``time``, ``supervisor``
ticks wrapping at 2**29, the bundle's asyncio, adafruit_ticks and
adafruit_logging unpacked from PyPI, and no ``socket``. So the fallback
paths of compat, clock and regions are what runs, not MicroPython's
``ticks_ms``/``ticks_us``/``gmtime``/``time_ns``."""

import calendar
import json
import os
import time

import pytest

from mpy import ROOT

LIB_MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "lib", "monitoring"))
                     if f.endswith(".py"))
CPY_TIME = ["localtime", "mktime", "monotonic", "monotonic_ns", "sleep", "struct_time", "time"]


def out_of(p):
    return p.stdout + p.stderr


def test_the_profile_is_circuitpythons_runtime(cpy):
    p = cpy.run(
        "import sys, time, utime, supervisor, asyncio, adafruit_ticks, adafruit_logging\n"
        "print(sorted(k for k in dir(time) if not k.startswith('__')))\n"
        "print(utime is time, supervisor.ticks_ms() < (1 << 29))\n"
        "print(asyncio.__file__)\n"
        "for name in ('socket', 'ssl'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "        print(name, 'present')\n"
        "    except ImportError:\n"
        "        print(name, 'absent')\n"
        "try:\n"
        "    from _asyncio import TaskQueue\n"
        "    print('_asyncio present')\n"
        "except ImportError:\n"
        "    print('_asyncio hidden')\n")
    lines = p.stdout.splitlines()
    assert lines[0] == repr(CPY_TIME), out_of(p)
    assert lines[1] == "True True"
    # the bundle's asyncio, not MicroPython's frozen one
    assert lines[2] == os.path.join(cpy.bundle, "asyncio", "__init__.py")
    assert lines[3] == "socket absent"
    assert lines[5] == "_asyncio hidden"


def test_the_bundles_asyncio_runs_in_the_profile(cpy):
    p = cpy.run(r"""
import asyncio
async def work(n):
    for _ in range(3):
        await asyncio.sleep_ms(20)
    return n
async def main():
    t = asyncio.create_task(work(1))
    print("gather", await asyncio.gather(work(2), work(3)), await t)
    ev = asyncio.Event()
    async def setter():
        await asyncio.sleep(0.01)
        ev.set()
    asyncio.create_task(setter())
    await ev.wait()
    try:
        await asyncio.wait_for(work(4), 0.02)
    except asyncio.TimeoutError:
        print("timeout")
    t = asyncio.create_task(work(5))
    await asyncio.sleep(0)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        print("cancelled")
asyncio.run(main())
""", timeout=30)
    assert p.stdout.split("\n")[:3] == ["gather [2, 3] 1", "timeout", "cancelled"], out_of(p)


def test_without_the_bundles_asyncio_import_says_what_to_install():
    from cpyprofile import CircuitPythonProfile

    p = CircuitPythonProfile(bundle=False).run("import monitoring\n", check=False)
    assert p.returncode != 0
    assert ("ImportError: monitoring needs asyncio (no module named 'asyncio'): on CircuitPython "
            "install the bundle's asyncio and adafruit_ticks (circup install asyncio)") in out_of(p), \
        out_of(p)


@pytest.mark.parametrize("module", LIB_MODULES)
def test_every_module_imports_in_the_profile(cpy, module):
    # the eight that open sockets too: they take them from start()'s pool
    # and import no socket module (test_pool.py runs them in the profile)
    name = "monitoring" if module == "__init__" else "monitoring." + module
    p = cpy.run("import %s\nprint('imported')\n" % name, check=False)
    assert p.returncode == 0 and p.stdout == "imported\n", out_of(p)


def test_ticks_come_from_supervisor_and_wrap_at_2_to_the_29(cpy):
    # the profile's supervisor.ticks_ms first wraps 300 ms after start
    p = cpy.run(r"""
import time, supervisor
from monitoring import circuitpy, compat
from monitoring.compat import ticks_add, ticks_diff, ticks_ms
from monitoring.sources import add_builtin_sources
from monitoring.metrics import Registry
from monitoring.backoff import Backoff
print(ticks_ms is supervisor.ticks_ms, circuitpy.TICKS_PERIOD == 1 << 29)
M = (1 << 29) - 1
print(ticks_add(M - 9, 20), ticks_add(5, -10) == M - 4, ticks_add(M, 1))
print(ticks_diff(5, M - 4), ticks_diff(M - 4, 5), ticks_diff(0, M), ticks_diff(1 << 27, 0),
      ticks_diff(0, 1 << 27))
reg = Registry()
system = add_builtin_sources(reg, None)[1]
b = Backoff(100, 100)
b.failed()
a = ticks_ms()
time.sleep(0.6)
z = ticks_ms()
print(a > z, ticks_diff(z, a))
system.sample()
print(system.fields["uptime_s"], system.fields["ticks_ms"] == z or system.fields["ticks_ms"] - z)
print(b.ready())
""", env={"CPY_TICKS_WRAP_MS": "300"})
    lines = p.stdout.splitlines()
    assert lines[0] == "True True", out_of(p)
    assert lines[1] == "10 True 0"
    assert lines[2] == "10 -10 1 134217728 -134217728"
    wrapped, elapsed = lines[3].split()
    assert wrapped == "True" and 550 <= int(elapsed) <= 800, lines[3]
    # the system source's uptime kept counting across the wrap
    uptime, _ = lines[4].split()
    assert int(uptime) == 0
    assert lines[5] == "True"  # a deadline across the wrap passed


def test_ticks_allocate_nothing(cpy):
    p = cpy.run(r"""
import gc
from monitoring.compat import ticks_add, ticks_diff, ticks_ms
from monitoring import regions
def calls():
    for _ in range(1000):
        a = ticks_ms()
        ticks_diff(a, 7)
        ticks_add(a, 1000)
        regions.ticks_us()
before = 0  # a global made now: storing a new one could grow the dict mid-measure
calls()  # warm up
gc.collect()
before = gc.mem_alloc()
calls()
print(gc.mem_alloc() - before)
""")
    assert p.stdout.strip() == "0", out_of(p)


def test_the_clock_is_time_time_with_milliseconds_from_the_ticks(cpy):
    p = cpy.run(r"""
import sys, time
from monitoring import circuitpy, clock
print(hasattr(time, "time_ns"), clock.EPOCH_OFFSET_S, clock.unix_ns is circuitpy.unix_ns,
      clock.utc_fields is circuitpy.utc_fields)
# the truth, for the test only: the host's clock through MicroPython's
# own time, which the library cannot reach
path = sys.path
sys.path = []
import time as real
sys.path = path
ns = clock.unix_ns()
print(ns, clock.is_set(), clock.utc_fields(ns))
errs = []
for _ in range(80):  # 3 s of readings 37 ms apart: seconds boundaries seen
    time.sleep(0.037)
    errs.append(clock.unix_ns() - real.time_ns())
print(max(abs(e) for e in errs[-10:]) // 1000000)
prev = 0
ok = True
for _ in range(200):
    n = clock.unix_ns()
    ok = ok and n >= prev and n % 1000000 == 0
    prev = n
print(ok)
""", timeout=30)
    lines = p.stdout.splitlines()
    assert lines[0] == "False 0 True True", out_of(p)
    ns, is_set, fields = lines[1].split(" ", 2)
    ns = int(ns)
    assert abs(ns / 1e9 - time.time()) < 5 and is_set == "True"
    t = time.gmtime(ns // 10**9)
    assert fields == repr((t[0], t[1], t[2], t[3], t[4], t[5], (ns // 10**6) % 1000))
    assert calendar.timegm(t) == ns // 10**9
    # aligned on the clock's second boundaries: within tens of ms of the host's clock
    assert int(lines[2]) < 120, lines
    assert lines[3] == "True"  # never backwards, whole milliseconds


def test_a_region_is_measured_in_the_profile(cpy):
    p = cpy.run(r"""
import time
from monitoring import compat, regions
from monitoring.regions import Regions
print(regions.ticks_us is compat.ticks_ms)
rs = Regions()
r = rs.get("work")
for _ in range(4):
    with r:
        b = bytearray(2000)
        time.sleep(0.05)
    b = None
print(r.count, r.ms, r.bytes // 4)
""")
    lines = p.stdout.splitlines()
    assert lines[0] == "True", out_of(p)
    count, ms, per_pass = (int(x) for x in lines[1].split())
    assert count == 4 and 190 <= ms <= 320 and 2000 <= per_pass <= 2200, lines


def test_adafruit_logging_is_the_default_logging_module(cpy):
    p = cpy.run(r"""
from monitoring import options
from monitoring.logbackend import backend_for
logging = options.default_logging()
b = backend_for(logging)
log = logging.getLogger("app")
log.addHandler(logging.StreamHandler())
log.setLevel(logging.INFO)
log.info("hello %d", 7)
print(logging.__name__, b.kind, b.names(), b.level("app"))
""")
    assert p.stdout.splitlines()[-1] == "adafruit_logging adafruit ['app'] 20", out_of(p)
    assert "hello 7" in p.stdout + p.stderr


def test_a_connect_ends_on_the_boards_eisconn(cpy):
    # CircuitPython's boards number errors as their toolchain's newlib does
    # (EINPROGRESS 119, EALREADY 120, EISCONN 127, ENOTCONN 128), not as
    # Linux (115, 114, 106, 107), and their errno has no EISCONN. Here errno
    # is a stand-in with a board's names and numbers; lib/ is loaded as .mpy
    # from mpy-cross, which reads them at run time (from source, the port's
    # compiler would fold the port's own numbers, as a board's folds its
    # own). A socket connects as the Pico W's Socket.c does: EINPROGRESS,
    # EALREADY while connecting, then MP_EISCONN once connected; another
    # reads as the ESP32's at end of input (ENOTCONN)
    p = cpy.run(r"""
import sys
class PicoErrno:
    EPERM = 1; ENOENT = 2; EIO = 5; EBADF = 9; EAGAIN = 11; ENOMEM = 12; EACCES = 13
    EEXIST = 17; ENODEV = 19; EISDIR = 21; EINVAL = 22; ENOSPC = 28; EROFS = 30
    EOPNOTSUPP = 95; EADDRINUSE = 112; ECONNABORTED = 113; ECONNRESET = 104
    ENOBUFS = 105; ENOTCONN = 128; ETIMEDOUT = 116; ECONNREFUSED = 111
    EHOSTUNREACH = 118; EALREADY = 120; EINPROGRESS = 119
    errorcode = {}
sys.modules["errno"] = PicoErrno
import asyncio
from monitoring import netpool
from monitoring.netio import TcpClient
class Sock:
    calls = 0
    def setblocking(self, flag):
        pass
    def connect(self, addr):
        self.calls += 1
        raise OSError(119 if self.calls == 1 else 120 if self.calls < 4 else 127)
    def close(self):
        print("closed")
class Pool:
    AF_INET = 2; SOCK_STREAM = 1; SOCK_DGRAM = 2; SOL_SOCKET = 0xfff; SO_REUSEADDR = 4
    def getaddrinfo(self, host, port, family=0, kind=0):
        return [(2, kind, 0, "", (host, port))]
    def socket(self, family, kind):
        self.s = Sock()
        return self.s
pool = Pool()
c = TcpClient("10.0.0.2", 8086, 2000, None, pool)
async def main():
    try:
        await c.connect()
        print("connected", c.sock is pool.s, pool.s.calls)
    except OSError as e:
        print("failed", e)
asyncio.run(main())
print(netpool.EISCONN)
from monitoring.listener import recv_into
class EspSock:
    def recv_into(self, buf):
        raise OSError(128)  # ENOTCONN
print("end of input", recv_into(0, EspSock(), bytearray(4)))
""", heapsize="512k")
    assert p.stdout.splitlines() == ["connected True 4", "127", "end of input 0"], out_of(p)


# -- the CircuitPython board module, on stand-ins for the hardware -----------
#
# boards/circuitpython_pico_w needs a board: these stand-ins have the names
# and signatures of CircuitPython's documented modules, enough to run its
# code.py (the demo firmware) in the profile. What the real modules do is
# not tested here (see the README's untested-on-hardware list).

FAKES = {
    "wifi.py": r'''
class _Network:
    def __init__(self, rssi):
        self.rssi = rssi
class _Radio:
    connected = False
    ipv4_address = None
    ap_info = None
    attempts = 0
    def connect(self, ssid, password=b"", *, channel=0, bssid=None, timeout=None):
        _Radio.attempts += 1
        print("FAKE wifi.connect", ssid, timeout)
        if _Radio.attempts < 2 or (ssid, password) != ("home", "secret123"):
            # (CircuitPython raises ConnectionError, an OSError the Unix port lacks)
            raise OSError("No network with that ssid")
        self.connected = True
        self.ipv4_address = "192.0.2.7"
        self.ap_info = _Network(-61)
radio = _Radio()
''',
    "socketpool.py": r'''
import struct, sys
def _real_time_ns():
    path = sys.path
    sys.path = []
    try:
        import time
    finally:
        sys.path = path
    return time.time_ns()
class _NtpSocket:
    # answers an NTP request with the host's clock: no packet leaves
    def __enter__(self):
        return self
    def __exit__(self, *a):
        pass
    def settimeout(self, t):
        pass
    def sendto(self, packet, address):
        assert address == ("127.0.0.1", 123), address
    def recv_into(self, buf):
        ns = _real_time_ns()
        s = ns // 1000000000 + 2208988800
        f = (ns % 1000000000) * (1 << 32) // 1000000000
        struct.pack_into("!II", buf, 32, s, f)
        struct.pack_into("!II", buf, 40, s, f)
        return 48
class SocketPool:
    AF_INET = 2
    SOCK_DGRAM = 2
    def __init__(self, radio):
        self.radio = radio
    def getaddrinfo(self, host, port):
        print("FAKE getaddrinfo", host, port)
        return [(2, 2, 17, "", ("127.0.0.1", port))]
    def socket(self, family, kind):
        return _NtpSocket()
''',
    "microcontroller.py": r'''
class ResetReason:
    POWER_ON = object()
    WATCHDOG = object()
class _Cpu:
    uid = bytearray(b"\x01\x23\xab\xcd")
    reset_reason = ResetReason.WATCHDOG
cpu = _Cpu()
class _WatchDogTimer:
    mode = None
    feeds = 0
    def __init__(self):
        self._timeout = 0
    @property
    def timeout(self):
        return self._timeout
    @timeout.setter
    def timeout(self, t):
        if t > 8:  # the RP2040's limit
            raise ValueError("timeout must be 8 or less")
        self._timeout = t
        print("FAKE watchdog.timeout", t)
    def feed(self):
        _WatchDogTimer.feeds += 1
watchdog = _WatchDogTimer()
''',
    "watchdog.py": "class WatchDogMode:\n    RAISE = 'RAISE'\n    RESET = 'RESET'\n",
    "rtc.py": r'''
class RTC:
    @property
    def datetime(self):
        return None
    @datetime.setter
    def datetime(self, t):
        print("FAKE rtc.datetime", t.tm_year >= 2024)
''',
}


def test_the_circuitpython_board_runs_the_demo_on_stand_ins(cpy, tmp_path):
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    for name, text in FAKES.items():
        (fakes / name).write_text(text)
    conf = tmp_path / "config.json"
    conf.write_text(json.dumps({"hostname": "cpy-demo", "control": None, "trace": None,
                                "watchdog_ms": 30000, "heartbeat_s": 1, "ntp": {"host": "ntp.test"},
                                "sources": {"net": True, "asyncio_lag_ms": 50}}))
    board = os.path.join(ROOT, "boards", "circuitpython_pico_w")
    path = ":".join([str(fakes), board, os.path.join(ROOT, "firmware"), cpy.path])
    p = cpy.run(r"""
import code  # boards/circuitpython_pico_w/code.py: runs the demo to its end
import monboard, microcontroller, wifi
print("STATUS", sorted(monboard.net_status().items()), monboard.device_id(), monboard.heap_info()["free"] > 0)
print("FEEDS", microcontroller.watchdog.feeds, microcontroller.watchdog.mode, wifi.radio.attempts)
""", timeout=60, env={"MICROPYPATH": path, "MONITORING_CONFIG": str(conf), "MONITORING_DURATION": "3",
                     "CIRCUITPY_WIFI_SSID": "home", "CIRCUITPY_WIFI_PASSWORD": "secret123"})
    out = out_of(p)
    assert "Traceback" not in out, out
    lines = out.splitlines()
    # the logging module is the bundle's adafruit_logging (its default format)
    assert "INFO:app:cpy-demo starting on circuitpython (reset cause: watchdog)" in lines, out
    assert "FAKE wifi.connect home 15" in lines
    assert any(line.startswith("WARNING:app:wifi: connect to home failed:") for line in lines), out
    assert any(line.startswith("INFO:app:wifi: connected to home as 192.0.2.7") for line in lines), out
    assert "FAKE getaddrinfo ntp.test 123" in lines and "FAKE rtc.datetime True" in lines
    assert "WARNING:app:clock not set by NTP: timestamps left to the servers" not in lines
    # 30 s asked, the RP2040's 8 s given, fed at a third of that
    assert "FAKE watchdog.timeout 8.0" in lines
    assert "INFO:app:monitoring started: " in lines, out
    summary = json.loads([x for x in lines if x.startswith("SUMMARY ")][0][8:])
    assert summary["uptime_s"] == 3
    status = [x for x in lines if x.startswith("STATUS ")][0]
    assert status == ("STATUS [('connected', True), ('reconnects', 0), ('rssi', -61)] "
                      "cpy-0123abcd True"), status
    feeds = [x for x in lines if x.startswith("FEEDS ")][0].split()
    assert 1 <= int(feeds[1]) <= 3 and feeds[2] == "RESET" and feeds[3] == "2", feeds


# -- the same board against the real peers, for a minute ------------------
#
# The stand-ins above for wifi, microcontroller, watchdog and rtc; the
# radio's socketpool is the test pool with exactly socketpool's API over real
# sockets (host_tests/mp/cppool.py): every capability of the demo talks to
# InfluxDB, rsyslog, an operator and a Prometheus scrape through it. No NTP
# server here: adafruit_ntp's pool names do not resolve, the board says so
# and leaves the timestamps to the servers.

PEER_POOL = r'''
import cppool
class SocketPool(cppool.Pool):
    def __init__(self, radio):
        cppool.Pool.__init__(self, hosts=HOSTS, ports=PORTS)
        self.radio = radio
HOSTS = None
PORTS = None
'''


def write_fakes(tmp_path, hosts=None, ports=None):
    """The stand-ins for the board's modules in ``tmp_path/fakes``, the radio's
    socketpool being the test pool (names and ports mapped as given)."""
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    pool = PEER_POOL.replace("HOSTS = None", "HOSTS = %r" % (hosts,)).replace(
        "PORTS = None", "PORTS = %r" % (ports,))
    for name, text in dict(FAKES, **{"socketpool.py": pool}).items():
        (fakes / name).write_text(text)
    return fakes

CPY_DURATION = 60


def test_the_circuitpython_board_runs_the_demo_against_the_peers(cpy, tmp_path, influxdb, rsyslog):
    import demo_checks
    import run_demo
    from peers import free_port

    fakes = write_fakes(tmp_path)
    db = "cpy_demo"
    influxdb.query('DROP DATABASE "%s"' % db)
    influxdb.create_db(db)
    control, trace, prom = free_port(), free_port(), free_port()
    cfg = run_demo.demo_config(influxdb, rsyslog, control, trace, prom, interval=1, db=db)
    cfg["hostname"] = "cpy-demo"
    conf = tmp_path / "config.json"
    conf.write_text(json.dumps(cfg))
    board = os.path.join(ROOT, "boards", "circuitpython_pico_w")
    path = ":".join([str(fakes), board, os.path.join(ROOT, "firmware"), cpy.path])
    proc = cpy.spawn(r"""
import code  # boards/circuitpython_pico_w/code.py: runs the demo to its end
import monboard
print("MISSES", monboard.socket_pool().misses, monboard.socket_pool().sockets > 0)
""", env={"MICROPYPATH": path, "MONITORING_CONFIG": str(conf),
          "MONITORING_DURATION": str(CPY_DURATION),
          "CIRCUITPY_WIFI_SSID": "home", "CIRCUITPY_WIFI_PASSWORD": "secret123"})
    seen = demo_checks.operate(proc, control, trace, prom, CPY_DURATION)
    out = seen["out"]
    # CircuitPython's logging (adafruit_logging), the radio joined on the second try
    assert "INFO:app:cpy-demo starting on circuitpython (reset cause: watchdog)" in out, out[-3000:]
    assert "INFO:app:wifi: connected to home as 192.0.2.7" in out, out[-3000:]
    assert "WARNING:app:clock not set by NTP: timestamps left to the servers" in out, out[-3000:]
    summary = demo_checks.check(seen, influxdb, rsyslog, db, "cpy-demo")
    assert summary["uptime_s"] >= CPY_DURATION, summary
    # a point a second for a minute, each source
    assert influxdb.count(db, "demo") >= CPY_DURATION - 5
    # nothing asked of the pool beyond socketpool's API
    assert "MISSES [] True" in out.splitlines(), out[-2000:]



def test_the_readmes_program_runs_as_written_on_the_circuitpython_board(cpy, tmp_path, influxdb, rsyslog):
    """The README's "Your own firmware", unchanged, on the CircuitPython board
    module (stand-ins for its hardware, the test pool for its radio's
    socketpool): its LAN address is mapped to loopback and InfluxDB's and
    syslog's usual ports to the peers'; points and records arrive."""
    from demo_checks import readme_program
    from peers import wait_until

    fakes = write_fakes(tmp_path, hosts={"192.168.1.10": "127.0.0.1"},
                        ports={8086: influxdb.http_port, 514: rsyslog.udp_port})
    influxdb.query('DROP DATABASE "telemetry"')
    influxdb.create_db("telemetry")
    (tmp_path / "config.json").write_text("{}")
    board = os.path.join(ROOT, "boards", "circuitpython_pico_w")
    path = ":".join([str(fakes), board, cpy.path])
    proc = cpy.spawn(readme_program(), env={
        "MICROPYPATH": path, "MONITORING_CONFIG": str(tmp_path / "config.json"),
        "CIRCUITPY_WIFI_SSID": "home", "CIRCUITPY_WIFI_PASSWORD": "secret123"})
    try:
        # the first flush comes after interval_s (10 s)
        assert wait_until(lambda: influxdb.count("telemetry", "hello") >= 1, 30)
        assert wait_until(lambda: len([r for r in rsyslog.lines() if r["app"] == "hello"]) >= 5, 10)
    finally:
        proc.kill()
        out = proc.communicate()[0]
    assert "Traceback" not in out, out[-3000:]
    assert "FAKE wifi.connect home 15" in out, out[-3000:]
    rows = influxdb.rows("telemetry", "hello")
    assert rows[0]["host"] == "hello-1" and rows[0]["loops"] >= 1, rows
    records = [r for r in rsyslog.lines() if r["app"] == "hello"]
    assert [r["msg"] for r in records[:3]] == ["loop 1", "loop 2", "loop 3"], records[:3]
    assert {(r["host"], r["msgid"], r["sev"]) for r in records} == {("hello-1", "hello", "6")}, records[:3]


def test_wifi_down_at_boot_is_tried_again_in_the_background(cpy, tmp_path):
    """The access point is down at boot: the board module's attempts fail,
    it says so and returns, and a background task keeps trying (every
    RETRY_S) until the radio joins, without blocking the loop for longer
    than RETRY_TIMEOUT_S per attempt; net_status then says connected."""
    fakes = write_fakes(tmp_path)
    wifi = (fakes / "wifi.py").read_text().replace("_Radio.attempts < 2", "_Radio.attempts < 5")
    (fakes / "wifi.py").write_text(wifi)
    board = os.path.join(ROOT, "boards", "circuitpython_pico_w")
    p = cpy.run(r"""
import asyncio
import adafruit_logging as logging
import monboard, wifi
monboard.RETRY_S = 1
log = logging.getLogger("app")
log.setLevel(logging.INFO)
async def main():
    up = await monboard.connect_network(None, log, attempts=2, timeout_s=1)
    print("BOOT", up, wifi.radio.connected, monboard.net_status()["connected"])
    ticks = 0
    for _ in range(60):  # the loop keeps running meanwhile
        await asyncio.sleep_ms(100)
        ticks += 1
        if wifi.radio.connected:
            break
    print("LATER", wifi.radio.connected, wifi.radio.attempts, ticks >= 20, monboard.net_status())
asyncio.run(main())
""", timeout=60, env={"MICROPYPATH": ":".join([str(fakes), board, cpy.path]),
                     "CIRCUITPY_WIFI_SSID": "home", "CIRCUITPY_WIFI_PASSWORD": "secret123"})
    out = out_of(p)
    lines = out.splitlines()
    assert "BOOT False False False" in lines, out
    # (adafruit_logging's console format: "TIME: LEVEL - message")
    assert any(x.endswith(" WARNING - wifi: down after 2 attempts, trying again every 1 s")
               for x in lines), out
    assert "FAKE wifi.connect home 3" in lines, out  # the background's short attempts
    later = [x for x in lines if x.startswith("LATER ")][0]
    assert later.startswith("LATER True 5 True {"), out
    assert eval(later.split(" ", 4)[4]) == {"connected": True, "rssi": -61, "reconnects": 1}, later
    assert any(x.endswith(" INFO - wifi: connected to home as 192.0.2.7") for x in lines), out
