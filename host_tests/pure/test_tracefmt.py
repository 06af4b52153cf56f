"""Trace line encoding and region accounting (CPython and the Unix port)."""

import gc
import json

from checks import raises
from monitoring import tracefmt as tf
from monitoring import regions as rg
from monitoring.metrics import Registry, Source


import sys

ON_MP = sys.implementation.name == "micropython"


class Heap:
    """A heap counter the test moves by hand (the accounting logic, on
    both runtimes; the real gc.mem_alloc is used in the ON_MP tests)."""

    def __init__(self):
        self.alloc = 10000

    def __call__(self):
        return self.alloc


# the documented format (docs/trace.md), independent of the encoder
COLUMNS = {
    "S": ["ms", "free", "alloc", "largest", "stack", "tasks", "gcs", "dropped"],
    "M": ["ms", "label"],
    "G": ["ms", "alloc_before", "alloc_after"],
    "E": ["ms", "error", "where"],
    "R": ["ms", "name", "count", "bytes", "region_ms", "inexact"],
}
TEXT = ("label", "error", "where", "name")


def parse(line):
    """(kind, values): ints, None for "-", text columns as str."""
    assert line.endswith("\n") and line.count("\n") == 1, line
    parts = line[:-1].split("\t")
    cols = COLUMNS.get(parts[0])
    if cols is None or len(parts) != len(cols) + 1:
        raise ValueError("bad line")
    out = []
    for i in range(1, len(parts)):
        v = parts[i]
        if cols[i - 1] in TEXT:
            out.append(v)
        else:
            out.append(None if v == "-" else int(v))
    return parts[0], out


def enc(fn, *args, size=200):
    buf = bytearray(size)
    end = fn(buf, 0, size, *args)
    assert end > 0
    return bytes(buf[:end]).decode()


def test_put_int_values():
    buf = bytearray(20)
    for n, text in ((0, "0"), (7, "7"), (10, "10"), (1234567, "1234567"), (-42, "-42"),
                    (None, "-"), (2 ** 40, str(2 ** 40))):
        end = tf.put_int(buf, 3, 20, n)
        assert bytes(buf[3:end]).decode() == text, (n, bytes(buf))


def test_put_int_does_not_overflow():
    buf = bytearray(b"xxxxxx")
    assert tf.put_int(buf, 2, 5, 12345) == -1
    assert tf.put_int(buf, 2, 6, 1234) == 6
    assert bytes(buf) == b"xx1234"
    assert tf.put_int(buf, -1, 6, 1) == -1
    assert tf.put_int(buf, 6, 6, None) == -1


def test_sample_line_round_trip():
    line = enc(tf.sample_line, 1200, 50000, 12000, None, 980, None, 3, 0)
    assert line == "S\t1200\t50000\t12000\t-\t980\t-\t3\t0\n"
    kind, vals = parse(line)
    assert kind == "S" and vals == [1200, 50000, 12000, None, 980, None, 3, 0]
    # the one-line parse docs/trace.md promises
    cols = line.rstrip("\n").split("\t")
    assert len(cols) == 1 + len(COLUMNS["S"]) and cols[0] == "S"


def test_sample_line_that_does_not_fit_returns_minus_one():
    buf = bytearray(64)
    full = tf.sample_line(buf, 0, 64, 1, 2, 3, 4, 5, 6, 7, 8)
    assert full == 18
    for end in range(0, 18):
        assert tf.sample_line(buf, 0, end, 1, 2, 3, 4, 5, 6, 7, 8) == -1, end
    assert tf.sample_line(buf, 10, 28, 1, 2, 3, 4, 5, 6, 7, 8) == 28


def test_marker_label_cannot_break_the_line():
    line = enc(tf.marker_line, 5, "a\tb\nc\x01d")
    assert line == "M\t5\ta b c d\n"
    assert parse(line) == ("M", [5, "a b c d"])
    line = enc(tf.marker_line, 6, b"bytes label")
    assert parse(line) == ("M", [6, "bytes label"])
    assert enc(tf.marker_line, 7, "caf\u00e9") == "M\t7\tcaf\u00e9\n"


def test_event_lines():
    assert enc(tf.gc_line, 10, 30000, 9000) == "G\t10\t30000\t9000\n"
    assert parse("G\t10\t30000\t9000\n") == ("G", [10, 30000, 9000])
    line = enc(tf.error_line, 11, b"MemoryError", "trace")
    assert line == "E\t11\tMemoryError\ttrace\n"
    assert parse(line) == ("E", [11, "MemoryError", "trace"])


def test_region_line():
    regs = rg.Regions()
    r = regs.get("http")
    r.count, r.bytes, r.ms, r.inexact = 3, 4096, 12, 1
    line = enc(tf.region_line, 99, r)
    assert line == "R\t99\thttp\t3\t4096\t12\t1\n"
    assert parse(line) == ("R", [99, "http", 3, 4096, 12, 1])


def test_spec_parser_rejects_bad_lines():
    raises(ValueError, parse, "X\t1\n")
    raises(ValueError, parse, "S\t1\t2\n")
    raises(ValueError, parse, "M\tnotanumber\tlabel\n")


def test_header_is_json_with_columns_and_units():
    h = tf.header("pico-1", "rp2", "1.29.0", 190000, 200, {"start_unix_ms": 5})
    assert h.endswith(b"\n") and h.count(b"\n") == 1
    d = json.loads(h.decode())
    assert d["format"] == "mpmon-trace" and d["version"] == 1
    assert d["device"] == "pico-1" and d["platform"] == "rp2" and d["micropython"] == "1.29.0"
    assert d["heap_total"] == 190000 and d["interval_ms"] == 200
    assert d["start_unix_ms"] == 5
    assert dict((k, v.split()) for k, v in d["columns"].items()) == COLUMNS
    units = {}
    for unit in d["units"]:
        for col in d["units"][unit].split():
            assert col not in units, col
            units[col] = unit
    for kind in COLUMNS:
        for col in COLUMNS[kind]:
            assert units[col] == ("text" if col in TEXT else units[col]), col
    assert units["free"] == "B" and units["ms"] == "ms" and units["dropped"] == "lines"
    assert units["region_ms"] == "ms" and units["gcs"] == "count" and units["label"] == "text"
    # a device name with quotes stays valid JSON
    d = json.loads(tf.header('a"b\\', "x", "1", 1, 10).decode())
    assert d["device"] == 'a"b\\'


def test_region_accounting_logic():
    heap = Heap()
    regs = rg.Regions(mem_alloc=heap)
    r = regs.get("a")
    with r:
        heap.alloc += 700
    assert (r.count, r.bytes, r.inexact) == (1, 700, 0)
    # an outer region sees what the inner one allocated too
    o = regs.get("outer")
    with o:
        heap.alloc += 100
        with r:
            heap.alloc += 50
    assert (o.bytes, r.bytes) == (150, 750)
    # a collection the library ran and accounted: exact
    regs.freed += 4000  # what Regions.collect adds
    with r:
        heap.alloc += 300
        heap.alloc -= 1000
        regs.freed += 1000
    assert (r.bytes, r.inexact) == (1050, 0)
    # an automatic collection: the delta is negative, 0 added, counted
    with r:
        heap.alloc += 200
        heap.alloc -= 5000
    assert (r.count, r.bytes, r.inexact) == (4, 1050, 1)


def test_region_counts_allocation():
    if not ON_MP:
        return
    regs = rg.Regions()
    r = regs.get("work")
    keep = []
    for i in range(5):
        with r:
            keep.append(bytearray(1000))
    assert r.count == 5 and r.inexact == 0
    # each pass allocated a 1000-byte bytearray plus list growth and headers
    assert 5000 <= r.bytes <= 5000 + 1200, r.bytes
    assert r.dirty and regs.dirty


def test_region_compensates_library_collection():
    if not ON_MP:
        return
    regs = rg.Regions()
    r = regs.get("gcwork")
    junk = [bytearray(500) for _ in range(10)]
    junk = None
    with r:
        keep = bytearray(2000)
        freed = regs.collect()
    assert freed >= 4000, freed
    assert r.inexact == 0
    assert 2000 <= r.bytes <= 2600, r.bytes
    assert regs.collects == 1 and regs.freed >= freed
    assert len(keep) == 2000


def test_region_uncompensated_collection_is_counted_inexact():
    if not ON_MP:
        return
    regs = rg.Regions()
    r = regs.get("auto")
    junk = [bytearray(500) for _ in range(10)]
    junk = None
    with r:
        gc.collect()  # not through the library
    assert r.inexact == 1 and r.bytes == 0 and r.count == 1


def test_region_nesting_and_overflow():
    regs = rg.Regions()
    r = regs.get("rec")
    depth = []

    def rec(n):
        with r:
            depth.append(bytearray(100))
            if n:
                rec(n - 1)

    rec(5)  # 6 levels: 4 measured, 2 overflowed
    assert r.count == 4 and r.overflow == 2, (r.count, r.overflow)
    assert r._depth == 0


def test_region_exception_still_accounted():
    regs = rg.Regions()
    r = regs.get("boom")

    def fail():
        with r:
            raise KeyError("x")

    raises(KeyError, fail)
    assert r.count == 1 and r._depth == 0


def test_region_totals_go_to_the_metrics_source():
    reg = Registry()
    src = Source("regions", registry=reg)
    regs = rg.Regions(source=src)
    assert regs.on()
    r = regs.get("handler")
    with r:
        x = bytearray(300)
    assert src.get("handler_count") == 1
    assert src.get("handler_bytes") == r.bytes and (r.bytes >= 300 or not ON_MP)
    assert src.get("handler_ms") == 0
    assert src.names == ["handler_count", "handler_bytes", "handler_ms"]
    reg.set_active("regions", False)
    assert not regs.on()
    assert len(x) == 300


def test_region_time():
    import time

    regs = rg.Regions()
    r = regs.get("slow")
    for _ in range(3):
        with r:
            time.sleep(0.02)
    assert 55 <= r.ms <= 200, r.ms


def test_bad_region_name_is_refused_without_state_change():
    regs = rg.Regions()
    raises(ValueError, regs.get, "")
    raises(ValueError, regs.get, "a\tb")
    raises(ValueError, regs.get, 5)
    assert regs.list == [] and regs.by_name == {}


def test_decorator():
    regs = rg.Regions()

    @regs.get("deco2")
    def work2(n):
        return bytearray(n)

    assert len(work2(400)) == 400
    r = regs.by_name["deco2"]
    assert r.count == 1 and (r.bytes >= 400 or not ON_MP)


def test_region_is_a_free_no_op_when_monitoring_is_off():
    import monitoring

    assert monitoring.current is None
    r = monitoring.region("off")
    with r:
        pass

    @monitoring.region("off2")
    def work(n):
        return n + 1

    assert work(1) == 2
    monitoring.mark("nobody listens")
    if ON_MP:
        def run():
            for i in range(50):
                with monitoring.region("off"):
                    pass
                monitoring.mark(b"x")

        run()
        gc.collect()
        before = gc.mem_alloc()
        run()
        assert gc.mem_alloc() - before == 0


def test_encoding_allocates_nothing():
    if not ON_MP:
        return  # CPython allocation is not measurable this way
    buf = bytearray(128)
    regs = rg.Regions()
    r = regs.get("x")
    label = b"label"

    def run():
        for i in range(100):
            tf.sample_line(buf, 0, 128, i, 50000, 12000, None, 900, None, 1, 0)
            tf.marker_line(buf, 0, 128, i, label)
            tf.region_line(buf, 0, 128, i, r)
            with r:
                pass

    run()
    gc.collect()
    before = gc.mem_alloc()
    run()
    assert gc.mem_alloc() - before == 0, gc.mem_alloc() - before
    json.dumps({})
