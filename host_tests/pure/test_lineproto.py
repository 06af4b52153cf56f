"""Influx line protocol encoder: exact bytes."""

from monitoring.lineproto import (STANDIN, LineEncoder, escape_key, escape_measurement,
                                  escape_string, timestamp_suffix)
from monitoring.metrics import Registry, Source


def line(src, host="pico-1", ts=b"", enc=None):
    enc = enc or LineEncoder()
    n = enc.encode(src, host, ts)
    return bytes(enc.mv[0:n])


def test_escaping_rules():
    assert escape_measurement("a b,c=d") == b"a\\ b\\,c=d"
    assert escape_key("a b,c=d") == b"a\\ b\\,c\\=d"
    assert escape_string('say "hi" \\o/') == b'"say \\"hi\\" \\\\o/"'
    # control characters as they are: InfluxDB stores what is between the quotes
    assert escape_string("a\nb\rc\td\x01\x00\x7f") == b'"a\nb\rc\td\x01\x00\x7f"'
    # a real LF and the text \n stay apart
    assert escape_string("\\n") == b'"\\\\n"' and escape_string("\n") == b'"\n"'
    assert escape_string('\\"\n') == b'"\\\\\\"\n"'
    assert escape_string("héllo") == '"héllo"'.encode()


def test_point_types_and_tags():
    reg = Registry()
    s = Source("app", labels={"room": "hall 1", "b": "x=y"}, registry=reg)
    s.incr("requests", 3)
    s.set("temp", 21.5)
    s.set("ok", True)
    s.set("off", False)
    s.set("state", "idle now")
    s.set("neg", -42)
    out = line(s)
    assert out.startswith(b"app,b=x\\=y,host=pico-1,room=hall\\ 1 ")
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    body = out[len(b"app,b=x\\=y,host=pico-1,room=hall\\ 1 "):-1]
    fields = sorted(body.split(b","))
    assert fields == sorted([b"requests=3i", b"temp=21.5", b"ok=true", b"off=false",
                             b'state="idle now"', b"neg=-42i"])


def test_int_encoding_edges():
    for v, want in ((0, b"0i"), (7, b"7i"), (10, b"10i"), (-1, b"-1i"),
                    (1234567890123, b"1234567890123i"), (-9007199254740993, b"-9007199254740993i")):
        s = Source("m", registry=Registry())
        s.set("v", v)
        assert line(s, "h") == b"m,host=h v=" + want + b"\n", (v, line(s, "h"))


def test_float_full_precision_and_nan_dropped():
    reg = Registry()
    s = Source("m", registry=reg)
    s.set("a", 0.1)
    s.set("b", 1 / 3)
    s.set("c", float("nan"))
    s.set("d", float("inf"))
    enc = LineEncoder()
    out = line(s, "h", enc=enc)
    assert float(out.split(b"b=")[1].split(b",")[0].strip()) == 1 / 3
    assert b"c=" not in out and b"d=" not in out
    assert enc.fields_dropped == 2
    u = Source("ints", registry=reg)
    u.set("max", (1 << 63) - 1)
    u.set("over", 1 << 63)
    u.set("under", -(1 << 63) - 1)
    enc2 = LineEncoder()
    assert line(u, "h", enc=enc2) == b"ints,host=h max=9223372036854775807i\n"
    assert enc2.fields_dropped == 2
    t = Source("only_nan", registry=reg)
    t.set("x", float("-inf"))
    assert enc.encode(t, "h") == 0


def test_timestamp_and_too_long():
    reg = Registry()
    s = Source("m", registry=reg)
    s.set("v", 1)
    ns = 1700000000123456789
    assert timestamp_suffix(ns, "s") == b" 1700000000"
    assert timestamp_suffix(ns, "ms") == b" 1700000000123"
    assert timestamp_suffix(ns, "us") == b" 1700000000123456"
    assert timestamp_suffix(ns, "ns") == b" 1700000000123456789"
    assert line(s, "h", timestamp_suffix(ns, "s")) == b"m,host=h v=1i 1700000000\n"
    s.set("long", "x" * 100)
    enc = LineEncoder(64)
    assert enc.encode(s, "h") == 0 and enc.points_too_long == 1


def test_new_field_and_host_change_refresh_cache():
    reg = Registry()
    s = Source("m", registry=reg)
    s.set("a", 1)
    enc = LineEncoder()
    assert line(s, "h1", enc=enc) == b"m,host=h1 a=1i\n"
    s.set("b", 2)
    assert b"b=2i" in line(s, "h1", enc=enc)
    assert line(s, "h2", enc=enc).startswith(b"m,host=h2 ")


def test_encode_int_fields_allocates_nothing():
    import gc

    if not hasattr(gc, "mem_alloc"):
        return
    reg = Registry()
    s = Source("m", registry=reg)
    for i in range(10):
        s.set("f%d" % i, i * 1000)
    enc = LineEncoder()
    enc.encode(s, "h")
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(20):
        enc.encode(s, "h")
    assert gc.mem_alloc() - before == 0, gc.mem_alloc() - before


def test_split_point_lines_share_head_and_timestamp():
    reg = Registry()
    s = Source("m", registry=reg, labels={"k": "v"})
    for i in range(12):
        s.set("f%02d" % i, -1000 * i if i % 2 else 1.5 * i)
    enc = LineEncoder(64)
    buf = bytearray(2048)
    mv = memoryview(buf)
    p, first, lines = 0, 0, []
    while True:
        end = enc.encode_into(mv, p, len(buf), s, "h", b" 17", first, True)
        assert end > p
        lines.append(bytes(buf[p:end]))
        p, first = end, enc.rest
        if not first:
            break
    assert len(lines) > 2 and enc.points_too_long == 0
    fields = []
    for ln in lines:
        assert len(ln) <= 64 and ln.startswith(b"m,host=h,k=v ") and ln.endswith(b" 17\n"), ln
        fields += ln[len(b"m,host=h,k=v "):-len(b" 17\n")].split(b",")
    assert fields == [b"f%02d=%s" % (i, b"%di" % (-1000 * i) if i % 2 else b"%r" % (1.5 * i))
                      for i in range(12)]
    # without split the same point is too long, as is a single field past a line
    assert enc.encode_into(mv, 0, len(buf), s, "h", b" 17") == 0 and enc.points_too_long == 1
    s.set("long", "x" * 80)
    assert enc.encode_into(mv, 0, len(buf), s, "h", b"", 12, True) == 0
    assert enc.points_too_long == 2


def test_lf_in_a_string_value_per_mode():
    # 10: as it is; STANDIN: the byte that stands for it in a queue of
    # LF-framed lines; None: the field cannot be written
    assert escape_string("a\nb\n", STANDIN) == b'"a\xffb\xff"'
    assert escape_string('q"\\\n', STANDIN) == b'"q\\"\\\\\xff"'
    assert escape_string("a\nb", None) is None
    assert escape_string("a\rb\tc", None) == b'"a\rb\tc"'
    reg = Registry()
    s = Source("m", registry=reg)
    s.set("n", 1)
    s.set("s", "two\nlines")
    raw, queued, drop = LineEncoder(), LineEncoder(lf=STANDIN), LineEncoder(lf=None)
    assert line(s, "h", enc=raw) == b'm,host=h n=1i,s="two\nlines"\n'
    # the same source through encoders of other modes: each its own bytes
    assert line(s, "h", enc=queued) == b'm,host=h n=1i,s="two\xfflines"\n'
    assert line(s, "h", enc=drop) == b"m,host=h n=1i\n" and drop.fields_dropped == 1
    assert line(s, "h", enc=raw) == b'm,host=h n=1i,s="two\nlines"\n'
    assert line(s, "h", enc=drop) == b"m,host=h n=1i\n" and drop.fields_dropped == 2
    s.set("s", "one line\r")
    assert line(s, "h", enc=drop) == b'm,host=h n=1i,s="one line\r"\n'
    assert drop.fields_dropped == 2
    t = Source("only", registry=reg)
    t.set("s", "\n")
    assert drop.encode(t, "h") == 0 and drop.fields_dropped == 3


def test_unchanged_string_with_lf_allocates_nothing():
    import gc

    if not hasattr(gc, "mem_alloc"):
        return
    s = Source("m", registry=Registry())
    s.set("s", "a\nb")
    s.set("t", "c\\d")
    for enc in (LineEncoder(lf=STANDIN), LineEncoder(lf=None)):
        enc.encode(s, "h")
        gc.collect()
        before = gc.mem_alloc()
        for _ in range(20):
            enc.encode(s, "h")
        assert gc.mem_alloc() - before == 0, gc.mem_alloc() - before
