"""What InfluxDB stores equals what the firmware set.

Floats: random doubles and sensor-like values, encoded on the Unix port,
written to a real InfluxDB 1.6, queried back bit-equal. MicroPython's own
``repr`` of a float is not always exact in its last digit (36.624572928883254
printed as 36.62457292888325 is stored one ulp off).

Strings: random strings of every code point a MicroPython str can hold,
set on the Unix port and sent by the reporter over HTTP, read back from
InfluxDB byte-equal (control characters used to be written as the text
``\\n``, ``\\xNN``).
"""

import json
import random
import struct

from peers import wait_until

ENCODE = r"""
import json, struct, sys
from monitoring.lineproto import LineEncoder
from monitoring.metrics import Registry, Source

enc = LineEncoder(4096)
with open(sys.argv[1]) as f:
    cases = json.load(f)
for n, point in enumerate(cases):
    s = Source("exact", labels={"n": str(n)}, registry=Registry())
    for i, h in enumerate(point):
        s.set("f%d" % i, struct.unpack("<d", bytes.fromhex(h))[0])
    k = enc.encode(s, "h")
    sys.stdout.write(bytes(enc.mv[0:k]).decode())
"""


def _doubles(rng, n):
    out = []
    while len(out) < n:
        v = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if v == v and abs(v) != float("inf"):
            out.append(v)
    return out


def test_floats_are_stored_bit_equal(mp, influxdb, influx_db, tmp_path):
    rng = random.Random(5)
    values = [36.624572928883254, 0.1, 1 / 3, 5e-324, 1.7976931348623157e308, -2.5e-5, 1e22]
    values += _doubles(rng, 1200)
    values += [rng.uniform(-40, 60) for _ in range(1200)]  # sensor-like
    values += [round(rng.uniform(0, 100), 2) for _ in range(600)]
    points = [values[i:i + 30] for i in range(0, len(values), 30)]
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([[struct.pack("<d", v).hex() for v in pt] for pt in points]))
    p = mp.run(ENCODE, args=(str(cases),))
    lines = p.stdout
    assert lines.count("\n") == len(points), lines[-500:]
    st, body = influxdb.write(influx_db, lines.encode())
    assert st == 204, body
    assert wait_until(lambda: influxdb.count(influx_db, "exact") >= len(points), 10)
    rows = {int(r["n"]): r for r in influxdb.rows(influx_db, "exact")}
    wrong = []
    for n, pt in enumerate(points):
        for i, v in enumerate(pt):
            got = rows[n]["f%d" % i]
            if struct.pack("<d", float(got)) != struct.pack("<d", v):
                wrong.append((v, got))
    assert wrong == [], "%d of %d stored otherwise: %r" % (len(wrong), len(values), wrong[:5])


# strings: set on the Unix port, sent by the reporter over HTTP (through its
# queue, where an LF inside a value stands as 0xFF), stored by InfluxDB,
# read back as CSV (JSON would replace a lone surrogate's bytes)
STRINGS = r"""
import asyncio, json, sys, monitoring
from monitoring.metrics import Source

with open(sys.argv[1]) as f:
    rounds = json.load(f)
srcs = [Source("str%d" % m) for m in range(len(rounds[0]))]


async def main():
    mon = monitoring.start(hostname="h", sources={"builtin": False}, influx={
        "host": "127.0.0.1", "port": int(sys.argv[2]), "db": sys.argv[3], "interval_s": 3600,
        "buffer_bytes": 32768})
    for n, points in enumerate(rounds):
        for s, values in zip(srcs, points):
            s.set("n", n)
            for i, cps in enumerate(values):
                s.set("f%d" % i, "".join([chr(c) for c in cps]))
        await mon.influx.flush()
    c = mon.counters
    print("RESULT", c.points_produced, c.points_sent, c.points_dropped, c.fields_dropped,
          mon.influx.last_error)
    mon.stop()

asyncio.run(main())
"""

SPECIAL = ["", "\n", "\\", "\\n", '"', '\\"', "\r\n", "\n\n", "a\\\nb", "\x00", "\r", "\t",
           '"\n"', "\\\\\"", "#x", " lead", "trail\\", "a=b,c d", "\x7f\x1b[0m",
           chr(0x10FFFF), chr(0xD800), chr(0xDFFF) + chr(0xD800), "\U0001F600\n\u00e9"]


def _random_string(rng):
    pools = [(0, 31), (127, 127), (32, 126), (0x80, 0x7FF), (0x800, 0xFFFF),
             (0xD800, 0xDFFF), (0x10000, 0x10FFFF)]
    out = []
    for _ in range(rng.randrange(0, 40)):
        if rng.random() < 0.3:
            out.append(rng.choice('"\\\n\r\t ,='))
        else:
            lo, hi = rng.choice(pools)
            out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def _csv_rows(influxdb, db, measurement):
    import csv
    import io
    import urllib.parse

    q = urllib.parse.urlencode({"db": db, "q": 'SELECT * FROM "%s"' % measurement})
    st, body = influxdb.http("GET", "/query?" + q, headers={"Accept": "application/csv"})
    assert st == 200, body
    # bytes that are not UTF-8 (a lone surrogate's) kept as they are
    rows = list(csv.reader(io.StringIO(body.decode("utf-8", "surrogateescape"), newline="")))
    head = rows[0]
    return [dict(zip(head, r)) for r in rows[1:]]


def test_strings_are_stored_exactly(mp, influxdb, influx_db, tmp_path):
    """Every code point a MicroPython str can hold (controls, LF, CR, NUL,
    quotes, backslashes, non-ASCII, lone surrogates, U+10FFFF), in random
    strings, stored by InfluxDB 1.6 as the bytes the str holds."""
    rng = random.Random(16)
    values = list(SPECIAL) + [_random_string(rng) for _ in range(900)]
    nsrc, nfield = 4, 6
    per_round = nsrc * nfield
    rounds = []
    for r in range(0, len(values), per_round):
        chunk = values[r:r + per_round]
        chunk += [""] * (per_round - len(chunk))
        rounds.append([[[ord(ch) for ch in v] for v in chunk[m * nfield:(m + 1) * nfield]]
                       for m in range(nsrc)])
    cases = tmp_path / "strings.json"
    cases.write_text(json.dumps(rounds))
    p = mp.run(STRINGS, args=(str(cases), str(influxdb.http_port), influx_db), timeout=120)
    produced, sent, dropped, fdropped = map(int, p.stdout.split("RESULT ")[1].split()[:4])
    assert produced == sent >= len(rounds) * nsrc and dropped == 0 and fdropped == 0, p.stdout
    wrong = []
    for m in range(nsrc):
        rows = {int(r["n"]): r for r in _csv_rows(influxdb, influx_db, "str%d" % m)}
        assert len(rows) == len(rounds), (m, len(rows))
        for n, points in enumerate(rounds):
            for i, cps in enumerate(points[m]):
                want = "".join(map(chr, cps)).encode("utf-8", "surrogatepass")
                got = rows[n]["f%d" % i].encode("utf-8", "surrogateescape")
                if got != want:
                    wrong.append((want, got))
    assert wrong == [], "%d stored otherwise: %r" % (len(wrong), wrong[:5])
