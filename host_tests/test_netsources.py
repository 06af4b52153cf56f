"""The ``net`` and ``asyncio`` built-in sources under the MicroPython Unix
port, read back over the Prometheus endpoint; the loop-lag probe's
allocation; the endpoint on a 64 KB heap."""

import socket
import threading
import time
import urllib.request

from peers import free_port, wait_until
from test_prometheus import parse_body


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


def values(text, name):
    """Values of family ``name`` (without labels) in an exposition."""
    body = parse_body(text)
    return [v for (n, _), v in body.items() if n == name]


NET_PROGRAM = r"""
import asyncio, sys, time
import monitoring

PORT = int(sys.argv[1])
UDP = int(sys.argv[2])
state = {"connected": True, "rssi": -61, "reconnects": 3}


async def main():
    mon = monitoring.start(hostname="pico-1",
                           influx={"host": "127.0.0.1", "port": UDP, "transport": "udp",
                                   "interval_s": 0.1},
                           prometheus={"port": PORT, "addr": "127.0.0.1"},
                           sources={"net": True}, net_status=lambda: state)
    await asyncio.sleep_ms(450)
    mon.influx.stop()
    print("SENT %d %d" % (mon.counters.points_sent, mon.counters.bytes_sent))
    state["connected"] = False
    state["rssi"] = None
    state["reconnects"] = 4
    print("READY")
    # a task hogging the loop for 300 ms, once
    await asyncio.sleep_ms(200)
    time.sleep_ms(300)
    print("HOGGED")
    await asyncio.sleep_ms(6000)
    mon.stop()


asyncio.run(main())
"""


def test_net_and_asyncio_sources_over_the_endpoint(mp):
    port = free_port()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    got = bytearray()
    stop = []

    def recv():
        udp.settimeout(0.1)
        while not stop:
            try:
                got.extend(udp.recv(65536))
            except socket.timeout:
                pass

    th = threading.Thread(target=recv, daemon=True)
    th.start()
    p = mp.spawn(NET_PROGRAM, args=[str(port), str(udp.getsockname()[1])])
    try:
        sent = p.stdout.readline().split()
        assert sent[0] == "SENT", sent
        points, nbytes = int(sent[1]), int(sent[2])
        assert p.stdout.readline().strip() == "READY"
        assert points >= 8
        wait_until(lambda: len(got) >= nbytes, 3)
        text = scrape(port)
        # what monitoring sent, as the UDP peer received it
        assert values(text, "net_influx_bytes_sent_total") == [str(len(got))]
        assert len(got) == nbytes
        assert values(text, "net_influx_points_sent_total") == [str(bytes(got).count(b"\n"))]
        assert values(text, "net_syslog_sent_total") == ["0"]
        # the board hook: state after the change, rssi kept from before
        assert values(text, "net_connected") == ["0"]
        assert values(text, "net_rssi_dbm") == ["-61"]
        assert values(text, "net_reconnects_total") == ["4"]
        # the endpoint counts itself: one scrape so far, its own bytes
        # counted while it was being written
        assert values(text, "net_prometheus_scrapes_total") == ["0"]
        text2 = scrape(port)
        assert values(text2, "net_prometheus_scrapes_total") == ["1"]
        assert int(values(text2, "net_prometheus_bytes_sent_total")[0]) >= len(text)
        # the loop was hogged 300 ms: the next report shows it, then resets
        assert p.stdout.readline().strip() == "HOGGED"
        time.sleep(0.3)
        text = scrape(port)
        lag_max = float(values(text, "asyncio_lag_max_seconds")[0])
        # hogged 300 ms from somewhere in a 100 ms probe sleep: 200-300 ms late
        assert 0.19 <= lag_max <= 0.45, text
        assert float(values(text, "asyncio_lag_mean_seconds")[0]) > 0
        assert int(values(text, "asyncio_lag_samples")[0]) >= 1
        time.sleep(0.5)
        text = scrape(port)
        assert float(values(text, "asyncio_lag_max_seconds")[0]) < 0.1, text
        assert 3 <= int(values(text, "asyncio_lag_samples")[0]) <= 6, text
        # no task count on MicroPython (no task list)
        assert "asyncio_tasks" not in text
    finally:
        stop.append(1)
        p.kill()
        p.wait()
        th.join(1)
        udp.close()


def test_lag_sample_allocates_nothing(mp):
    p = mp.run(r"""
import gc, asyncio
from monitoring.netsources import LoopLag
lag = LoopLag(10)
async def main():
    lag.start()
    await asyncio.sleep_ms(50)
    gc.collect(); gc.disable()
    n0 = lag.n
    a = gc.mem_alloc()
    await asyncio.sleep_ms(300)
    print("probe", lag.n - n0, gc.mem_alloc() - a)
    lag.stop()
asyncio.run(main())
""")
    lines = [ln.split() for ln in p.stdout.splitlines()]
    assert lines[0][0] == "probe" and int(lines[0][1]) >= 20 and lines[0][2] == "0", p.stdout


def test_endpoint_on_a_board_sized_heap(mp):
    """/metrics with a 30-field user source and the net and asyncio sources
    in a 64 KB board heap (``mp.board_heap``: 96k on the 64-bit port, where
    64k leaves 2 KB once the first scrape has cached the escaped names,
    ~120 B per field, too close to the edge to be deterministic)."""
    port = free_port()
    p = mp.spawn(r"""
import asyncio, gc, sys
import monitoring
from monitoring.metrics import Source
app = Source("app", labels={"room": "hall"})
for i in range(30):
    app.set("field%d" % i, i)
async def main():
    mon = monitoring.start(hostname="pico-1",
                           prometheus={"port": int(sys.argv[1]), "addr": "127.0.0.1"},
                           sources={"net": True})
    gc.collect()
    print("READY", gc.mem_free())
    await asyncio.sleep_ms(4000)
    srv = mon.prometheus
    print("SERVER errors", srv.errors, "last_error", srv.last_error, "free", gc.mem_free())
    mon.stop()
asyncio.run(main())
""", heapsize=mp.board_heap(64), args=[str(port)])
    try:
        line = p.stdout.readline()
        assert line.startswith("READY"), line + p.stdout.read()
        texts = [scrape(port) for _ in range(5)]
        out, _ = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    for text in texts:
        assert values(text, "app_field29") == ["29"], out
        assert values(text, "memory_total") and values(text, "net_prometheus_scrapes_total"), out
        assert values(text, "asyncio_lag_samples"), out


def test_net_sources_without_the_endpoint(mp):
    p = mp.run(r"""
import asyncio, monitoring
async def main():
    mon = monitoring.start(hostname="p", sources={"net": True, "asyncio_lag_ms": 20})
    await asyncio.sleep_ms(130)
    net = mon.registry.get("net")
    lag = mon.registry.get("asyncio")
    print("net", net.sample(), sorted(net.fields), sorted(net.counters))
    print("asyncio", lag.sample(), lag.get("lag_samples"), lag.get("lag_max_seconds"))
    print("prometheus", getattr(mon, "prometheus", None))
    mon.stop()
    mon = monitoring.start(hostname="p", registry=monitoring.metrics.Registry())
    print("default", [s.name for s in mon.registry.sources])
    mon.stop()
    mon = monitoring.start(hostname="p", registry=monitoring.metrics.Registry(),
                           sources={"net": True, "asyncio_lag_ms": 0})
    print("no lag probe", [s.name for s in mon.registry.sources])
    mon.stop()
asyncio.run(main())
""")
    lines = p.stdout.splitlines()
    names = ["influx_bytes_sent", "influx_points_sent", "syslog_bytes_sent", "syslog_sent"]
    assert lines[0] == "net True %s %s" % (names, names), p.stdout
    words = lines[1].split()
    assert words[:2] == ["asyncio", "True"] and 4 <= int(words[2]) <= 7, p.stdout
    assert lines[2] == "prometheus None"
    # not asked for: neither source is registered
    assert lines[3] == "default ['memory', 'system', 'monitoring']", p.stdout
    # asyncio_lag_ms 0: the net source alone, no probe
    assert lines[4] == "no lag probe ['memory', 'system', 'monitoring', 'net']", p.stdout


def test_bad_asyncio_lag_ms_is_refused_at_start_not_in_a_dead_task(mp):
    """``sources.asyncio_lag_ms`` not an integer from 0 to 60000
    (``"100"``, a negative, a bool) is refused by ``start`` with a
    ValueError naming it, nothing left running; before, ``"100"`` killed
    the probe task at its first sleep and the ``asyncio`` source kept
    reporting no samples."""
    p = mp.run(r"""
import asyncio, monitoring
async def main():
    for v in ("100", -5, True, 60001):
        try:
            mon = monitoring.start(hostname="p", sources={"net": True, "asyncio_lag_ms": v})
        except ValueError as e:
            print("refused", e, monitoring.current)
        else:
            print("started", repr(v))
            await asyncio.sleep_ms(50)
            mon.stop()
asyncio.run(main())
""")
    out = p.stdout + p.stderr
    assert "Traceback" not in out and "exception" not in out, out
    assert out.splitlines() == [
        "refused sources.asyncio_lag_ms: expected an integer from 0 to 60000, got %s None" % v
        for v in ("'100'", "-5", "True", "60001")], out
