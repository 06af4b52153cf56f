"""Property tests of the line protocol encoder (hypothesis, CPython), and the
same generated cases through the MicroPython Unix port in one batch: every
line parses with a parser written from the spec, and round-trips."""

import json
import struct
import subprocess

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineproto_parser import parse_line
from monitoring.lineproto import STANDIN, LineEncoder, timestamp_suffix
from monitoring.metrics import Registry, Source

# names: any printable text; the registry refuses control characters, and
# for source names ',' and ':' and a leading '#'; a backslash may not end a name or precede
# ',', '=' or space (see metrics.check_name)
_printable = st.characters(blacklist_categories=("Cs", "Cc"))
name = st.text(_printable, min_size=1, max_size=12).filter(
    lambda s: not s.endswith("\\") and "\\," not in s and "\\=" not in s and "\\ " not in s)
source_name = name.filter(lambda s: "," not in s and ":" not in s and s[0] != "#")
field_value = st.one_of(
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
case = st.fixed_dictionaries({
    "name": source_name,
    "labels": st.dictionaries(name.filter(lambda k: k not in ("time", "host")), name, max_size=3),
    "fields": st.dictionaries(name.filter(lambda k: k != "time"), field_value, min_size=1, max_size=5),
    "ts": st.one_of(st.none(), st.integers(min_value=1704067200 * 10**9, max_value=4102444800 * 10**9)),
})


def valid(v):
    if isinstance(v, bool) or isinstance(v, str):
        return True
    if isinstance(v, int):
        return -(1 << 63) <= v < (1 << 63)
    return v == v and v not in (float("inf"), float("-inf"))


def encode(c):
    s = Source(c["name"], labels=c["labels"], registry=Registry())
    for k, v in c["fields"].items():
        s.set(k, v)
    enc = LineEncoder(4096)
    ts = timestamp_suffix(c["ts"]) if c["ts"] is not None else b""
    n = enc.encode(s, "host-1", ts)
    return bytes(enc.mv[0:n]) if n else b"", enc.fields_dropped


def check(c, line, dropped):
    good = {k: v for k, v in c["fields"].items() if valid(v)}
    assert dropped == len(c["fields"]) - len(good)
    if not good:
        assert line == b""
        return
    # one line: an LF inside a string value is written as it is, the
    # parser tells it from the line's end
    assert line.endswith(b"\n")
    m, tags, fields, ts = parse_line(line[:-1].decode("utf-8"))
    assert m == c["name"]
    assert tags == dict(c["labels"], host="host-1")
    assert ts == c["ts"]
    assert set(fields) == set(good)
    for k, v in good.items():
        if isinstance(v, str):
            assert fields[k] == v  # every character as it is
        else:
            assert fields[k] == v and type(fields[k]) is type(v), (k, v, fields[k])


def other_modes(c, line):
    """The queue's encoding (an LF inside a string value as the stand-in
    0xFF) is the same line with one LF, its end; the encoding for a
    listener that splits at LF leaves out, counted, the strings holding one."""
    s = Source(c["name"], labels=c["labels"], registry=Registry())
    for k, v in c["fields"].items():
        s.set(k, v)
    ts = timestamp_suffix(c["ts"]) if c["ts"] is not None else b""
    q = LineEncoder(4096, STANDIN)
    n = q.encode(s, "host-1", ts)
    queued = bytes(q.mv[0:n]) if n else b""
    assert queued.replace(bytes((STANDIN,)), b"\n") == line
    assert not line or queued.count(b"\n") == 1 and queued.endswith(b"\n")
    d = LineEncoder(4096, None)
    n = d.encode(s, "host-1", ts)
    lf = [k for k, v in c["fields"].items() if isinstance(v, str) and "\n" in v]
    c2 = dict(c, fields={k: v for k, v in c["fields"].items() if k not in lf})
    assert d.fields_dropped == len(lf) + len(c2["fields"]) - len(
        [v for v in c2["fields"].values() if valid(v)])
    if n:
        check(c2, bytes(d.mv[0:n]), d.fields_dropped - len(lf))
        assert d.line.count(b"\n", 0, n) == 1
    else:
        assert not [v for v in c2["fields"].values() if valid(v)]


def test_encoder_properties_then_same_cases_on_the_unix_port(mp):
    cases = []

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case)
    def prop(c):
        line, dropped = encode(c)
        check(c, line, dropped)
        other_modes(c, line)
        cases.append((c, line))

    prop()
    # the same cases, encoded by the Unix port: byte-identical output,
    # except floats, which MicroPython may print with other digits: those
    # lines must still parse to the same values
    batch = []
    for c, line in cases:
        fields = []
        for k, v in c["fields"].items():
            if isinstance(v, float):
                v = {"float": struct.pack("<d", v).hex()}  # exact, NaN and inf included
            elif isinstance(v, int) and not isinstance(v, bool):
                v = {"int": str(v)}
            fields.append([k, v])
        batch.append({"name": c["name"], "labels": c["labels"], "fields": fields, "ts": c["ts"]})
    code = r'''
import json, struct, sys
from monitoring.lineproto import LineEncoder, timestamp_suffix
from monitoring.metrics import Registry, Source

def value(v):
    if isinstance(v, dict):
        if "int" in v:
            return int(v["int"])
        return struct.unpack("<d", bytes.fromhex(v["float"]))[0]
    return v

cases = json.loads(sys.stdin.read())
enc = LineEncoder(4096)
for c in cases:
    s = Source(c["name"], labels=c["labels"], registry=Registry())
    for k, v in c["fields"]:
        s.set(k, value(v))
    ts = timestamp_suffix(c["ts"]) if c["ts"] is not None else b""
    n = enc.encode(s, "host-1", ts)
    # raw UTF-8 out (MicroPython json would escape astral characters as surrogates)
    sys.stdout.write(bytes(enc.mv[0:n]).hex() + "\n")
'''
    path = mp._script(code)
    p = subprocess.run(mp.argv(path), input=json.dumps(batch, ensure_ascii=False), capture_output=True, text=True,
                       env=mp.env(), timeout=120)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    mp_lines = [bytes.fromhex(x) for x in p.stdout.splitlines()]
    assert len(mp_lines) == len(cases)
    for (c, cpy_line), mp_line in zip(cases, mp_lines):
        if mp_line != cpy_line:
            # only float formatting may differ; the values must not
            assert any(isinstance(v, float) for v in c["fields"].values()), (cpy_line, mp_line)
            a = parse_line(cpy_line[:-1].decode())
            b = parse_line(mp_line[:-1].decode())
            assert a == b, (cpy_line, mp_line)
