"""What InfluxDB stores equals what the firmware set.

Floats: random doubles and sensor-like values, encoded on the Unix port,
written to a real InfluxDB 1.6, queried back bit-equal. MicroPython's own
``repr`` of a float is not always exact in its last digit (36.624572928883254
printed as 36.62457292888325 is stored one ulp off).
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
