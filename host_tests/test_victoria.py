"""Line protocol over TCP, and InfluxDB 2.x's /api/v2/write, against a real
server: VictoriaMetrics (Telegraf, the usual TCP peer, is not packaged).

VictoriaMetrics keeps numbers only (each field a series MEASUREMENT_FIELD,
tags as labels; a string field becomes 0): strings and types are checked on
InfluxDB by test_influx.py and test_exact.py.
"""

from peers import wait_until

PROGRAM = r"""
import asyncio, json, monitoring
from monitoring.metrics import Source
vals = [36.624572928883254, -2.5e-5, 1 / 3, 1e22]
app = Source("%s", labels={"room": "hall"}, sampler=lambda s: s.incr("flush"))
async def main():
    mon = monitoring.start(hostname="pico-vm", sources={"builtin": False}, influx=%s)
    for i in range(4):
        app.set("v%%d" %% i, vals[i])
    app.set("n", 42)
    for i in range(4):
        await asyncio.sleep(0.15)
    await mon.influx.aclose()
    c = mon.counters
    print("RESULT", c.points_produced, c.points_sent, c.points_dropped, c.reconnects,
          mon.influx.last_error)
asyncio.run(main())
"""

VALS = [36.624572928883254, -2.5e-5, 1 / 3, 1e22]


def _check(victoria, name, out):
    produced, sent, dropped, reconnects = map(int, out.split("RESULT ")[1].split()[:4])
    assert sent == produced >= 3 and dropped == 0 and reconnects == 0, out
    labels = (("host", "pico-vm"), ("room", "hall"))

    def stored():
        s = victoria.export('{__name__=~"%s_.*"}' % name)
        return s if len(s.get((name + "_flush", labels), ())) >= sent else None

    series = wait_until(stored, 20)
    assert series, (out, victoria.export('{__name__=~"%s_.*"}' % name))
    flushes = [v for _, v in series[(name + "_flush", labels)]]
    assert flushes == list(range(1, sent + 1)), (flushes, out)
    for i, v in enumerate(VALS):
        got = {x for _, x in series[(name + "_v%d" % i, labels)]}
        # VictoriaMetrics keeps about 12 significant digits of a float
        assert len(got) == 1 and abs(got.pop() - v) <= abs(v) * 1e-11, (i, got, v)
    assert {x for _, x in series[(name + "_n", labels)]} == {42}


def test_tcp_line_protocol_is_stored_by_victoriametrics(mp, victoria):
    """One kept-open TCP connection (no reconnect), every point stored, in
    order."""
    sec = '{"host": "127.0.0.1", "port": %d, "transport": "tcp", "interval_s": 0.1}' % (
        victoria.influx_port)
    p = mp.run(PROGRAM % ("vmtcp", sec))
    _check(victoria, "vmtcp", p.stdout)


def test_http_v2_write_is_stored_by_victoriametrics(mp, victoria):
    """InfluxDB 2.x's /api/v2/write (org, bucket, token, ms precision), as
    VictoriaMetrics serves it."""
    sec = ('{"host": "127.0.0.1", "port": %d, "org": "o", "bucket": "b", "token": "t", '
           '"precision": "ms", "interval_s": 0.1}' % victoria.http_port)
    p = mp.run(PROGRAM % ("vmv2", sec))
    _check(victoria, "vmv2", p.stdout)
