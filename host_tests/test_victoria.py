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


LF_PROGRAM = r"""
import asyncio, monitoring
from monitoring.metrics import Source
app = Source("%s", labels={"room": "hall"}, sampler=lambda s: s.incr("flush"))
app.set("note", "two\nlines")
app.set("tab", "a\tb\rc")
async def main():
    mon = monitoring.start(hostname="pico-vm", sources={"builtin": False}, influx=%s)
    for i in range(3):
        await mon.influx.flush()
    await mon.influx.aclose()
    c = mon.counters
    print("RESULT", c.points_produced, c.points_sent, c.points_dropped, c.fields_dropped)
asyncio.run(main())
"""


def test_a_string_with_an_lf_is_left_out_counted_where_lines_split_at_lf(mp, victoria):
    """VictoriaMetrics splits lines at every LF (on TCP, UDP and HTTP): a
    string value holding one goes out over tcp and udp, or over http with
    ``string_newlines: "drop"``, as a point without that field, counted in
    fields_dropped, the rest stored; sent raw over HTTP (the default, for
    InfluxDB), VictoriaMetrics answers 204 and stores nothing of the point."""
    labels = (("host", "pico-vm"), ("room", "hall"))
    base = '"host": "127.0.0.1", "interval_s": 3600, '
    runs = {
        "lftcp": base + '"port": %d, "transport": "tcp"' % victoria.influx_port,
        "lfudp": base + '"port": %d, "transport": "udp"' % victoria.influx_port,
        "lfdrop": base + '"port": %d, "db": "d", "string_newlines": "drop"' % victoria.http_port,
        "lfraw": base + '"port": %d, "db": "d"' % victoria.http_port,
    }
    sent = {}
    for name, sec in runs.items():
        out = mp.run(LF_PROGRAM % (name, "{" + sec + "}")).stdout
        produced, n, dropped, fdropped = map(int, out.split("RESULT ")[1].split()[:4])
        assert n == produced >= 3 and dropped == 0, out
        # the LF string is counted once per point where it cannot go
        assert fdropped == (0 if name == "lfraw" else produced), (name, out)
        sent[name] = n

    def lb(name):  # v1 writes get a db label
        return tuple(sorted(labels + (("db", "d"),) * (name == "lfdrop")))

    def stored():
        s = victoria.export('{__name__=~"lf.*"}')
        done = all(len(s.get((name + "_flush", lb(name)), ())) >= sent[name]
                   for name in ("lftcp", "lfudp", "lfdrop"))
        return s if done else None

    series = wait_until(stored, 20)
    assert series, victoria.export('{__name__=~"lf.*"}')
    for name in ("lftcp", "lfudp", "lfdrop"):
        k = lb(name)
        # (flushes in the same millisecond: VictoriaMetrics' order is its own)
        assert sorted(v for _, v in series[(name + "_flush", k)]) == list(range(1, sent[name] + 1))
        assert {v for _, v in series[(name + "_tab", k)]} == {0}  # a string: 0 to VictoriaMetrics
        assert (name + "_note", k) not in series
    assert not [k for k in series if k[0].startswith("lfraw")], series.keys()
