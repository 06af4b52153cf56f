"""Property tests of the syslog formatter (hypothesis, CPython), then the
same generated cases through the MicroPython Unix port in one batch: every
output parses as one RFC 5424 message with a parser written here from the
RFC's ABNF (section 6), its fields equal what was logged, and each framing
carries exactly one record."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks import unescape
from monitoring.syslog import SyslogFormatter, frame

# -- a small RFC 5424 parser, from the ABNF -------------------------------


class ParseError(Exception):
    pass


def _printusascii(b):
    return 33 <= b <= 126


def _field(data, i, maxlen):
    """1*maxlen PRINTUSASCII or NILVALUE, then SP; returns (value, i)."""
    j = i
    while j < len(data) and data[j] != 32:
        if not _printusascii(data[j]):
            raise ParseError("non PRINTUSASCII at %d" % j)
        j += 1
    if j == i or j - i > maxlen:
        raise ParseError("field length %d at %d" % (j - i, i))
    if j >= len(data):
        raise ParseError("no SP after field at %d" % i)
    return data[i:j].decode("ascii"), j + 1


def _digits(data, i, n):
    s = data[i:i + n]
    if len(s) != n or not all(48 <= c <= 57 for c in s):
        raise ParseError("expected %d digits at %d" % (n, i))
    return int(s), i + n


def _timestamp(data, i):
    if data[i:i + 2] == b"- ":
        return None, i + 2
    y, i = _digits(data, i, 4)
    parts = [y]
    for sep, n in ((b"-", 2), (b"-", 2), (b"T", 2), (b":", 2), (b":", 2)):
        if data[i:i + 1] != sep:
            raise ParseError("expected %r at %d" % (sep, i))
        v, i = _digits(data, i + 1, n)
        parts.append(v)
    frac = None
    if data[i:i + 1] == b".":
        j = i + 1
        while j < len(data) and 48 <= data[j] <= 57 and j - i <= 6:
            j += 1
        if j == i + 1:
            raise ParseError("empty TIME-SECFRAC")
        frac = data[i + 1:j].decode()
        i = j
    if data[i:i + 1] == b"Z":
        i += 1
    elif data[i:i + 1] in (b"+", b"-"):
        i += 6
    else:
        raise ParseError("no TIME-OFFSET at %d" % i)
    mo, d, h, mi, s = parts[1:]
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60):
        raise ParseError("bad date-time")
    if data[i:i + 1] != b" ":
        raise ParseError("no SP after TIMESTAMP")
    return (tuple(parts), frac), i + 1


def _structured_data(data, i):
    if data[i:i + 1] == b"-":
        return [], i + 1
    elements = []
    while data[i:i + 1] == b"[":
        i += 1
        j = i
        while j < len(data) and data[j] not in b" ]=\"" and _printusascii(data[j]):
            j += 1
        if j == i or j - i > 32:
            raise ParseError("bad SD-ID")
        sd_id = data[i:j].decode()
        params = []
        i = j
        while data[i:i + 1] == b" ":
            j = i + 1
            while j < len(data) and data[j] not in b" ]=\"" and _printusascii(data[j]):
                j += 1
            if j == i + 1 or j - i - 1 > 32 or data[j:j + 2] != b'="':
                raise ParseError("bad SD-PARAM at %d" % i)
            name = data[i + 1:j].decode()
            k = j + 2
            val = bytearray()
            while True:
                if k >= len(data):
                    raise ParseError("unterminated PARAM-VALUE")
                c = data[k]
                if c == 92 and k + 1 < len(data) and data[k + 1] in b'"\\]':
                    val.append(data[k + 1])
                    k += 2
                    continue
                if c == 34:
                    break
                if c == 93:
                    raise ParseError("unescaped ] in PARAM-VALUE")
                val.append(c)
                k += 1
            params.append((name, val.decode("utf-8")))
            i = k + 1
        if data[i:i + 1] != b"]":
            raise ParseError("SD-ELEMENT not closed at %d" % i)
        elements.append((sd_id, params))
        i += 1
    if not elements:
        raise ParseError("bad STRUCTURED-DATA at %d" % i)
    return elements, i


def parse_5424(data):
    """Parse one SYSLOG-MSG; returns a dict of its parts (MSG as bytes)."""
    if data[:1] != b"<":
        raise ParseError("no PRI")
    j = data.find(b">")
    if not 2 <= j <= 4:
        raise ParseError("bad PRI")
    prival = data[1:j]
    if not prival.isdigit() or (len(prival) > 1 and prival[:1] == b"0") or int(prival) > 191:
        raise ParseError("bad PRIVAL")
    i = j + 1
    if data[i:i + 2] != b"1 ":
        raise ParseError("bad VERSION")
    ts, i = _timestamp(data, i + 2)
    host, i = _field(data, i, 255)
    app, i = _field(data, i, 48)
    procid, i = _field(data, i, 128)
    msgid, i = _field(data, i, 32)
    sd, i = _structured_data(data, i)
    msg = b""
    if i < len(data):
        if data[i:i + 1] != b" ":
            raise ParseError("no SP before MSG")
        msg = data[i + 1:]
    return {"pri": int(prival), "ts": ts, "host": host, "app": app, "procid": procid,
            "msgid": msgid, "sd": sd, "msg": msg}


def header_expected(s, maxlen):
    out = "".join(ch if 33 <= ord(ch) <= 126 else "_" for ch in s)[:maxlen]
    return out or "-"


# -- properties -------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
case = st.fixed_dictionaries({
    "host": _text,
    "app": _text,
    "facility": st.integers(0, 23),
    "level": st.sampled_from([0, 5, 10, 20, 25, 30, 40, 50, 60]),
    "name": _text,
    "msg": st.text(st.characters(blacklist_categories=("Cs",)), max_size=400),
    "ns": st.one_of(st.integers(0, 1704067199 * 10**9),
                    st.integers(1704067200 * 10**9, 4102444799 * 10**9)),
    "max_len": st.integers(300, 2048),
    "bom": st.booleans(),
})

SEV = {0: 7, 5: 7, 10: 7, 20: 6, 25: 6, 30: 4, 40: 3, 50: 2, 60: 2}


def fmt(c):
    f = SyslogFormatter(c["host"], c["app"], c["facility"], "rfc5424", c["max_len"], c["bom"])
    return f.format(c["level"], c["name"], c["msg"], c["ns"])


def check(c, out):
    assert len(out) <= c["max_len"]
    # one record whatever the framing
    for bad in (b"\n", b"\r", b"\x00"):
        assert bad not in out
    assert frame(out, "lf").split(b"\n") == [out, b""]
    octet = frame(out, "octet")
    n, _, rest = octet.partition(b" ")
    assert int(n) == len(rest) and rest == out
    p = parse_5424(out)
    assert p["pri"] == c["facility"] * 8 + SEV[c["level"]]
    assert p["host"] == header_expected(c["host"], 255)
    assert p["app"] == header_expected(c["app"], 48)
    assert p["procid"] == "-"
    assert p["msgid"] == header_expected(c["name"], 32)
    assert p["sd"] == [("meta", [("sequenceId", "1")])]
    if c["ns"] < 1704067200 * 10**9:
        assert p["ts"] is None
    else:
        import time
        s = c["ns"] // 10**9
        t = time.gmtime(s)
        assert p["ts"] == (tuple(t[:6]), "%03d" % ((c["ns"] // 10**6) % 1000))
    msg = p["msg"]
    if c["bom"]:
        assert msg[:3] == b"\xef\xbb\xbf"
        msg = msg[3:]
    text = unescape(msg).decode("utf-8")  # valid UTF-8: cut at a boundary
    assert c["msg"].startswith(text)
    if text != c["msg"]:
        # truncated only because the next character (escaped) did not fit
        nxt = c["msg"][len(text)]
        o = ord(nxt)
        w = 2 if o in (9, 10, 13, 92) else 4 if o < 32 or o == 127 else len(nxt.encode())
        assert len(out) + w > c["max_len"]


def test_formatter_output_parses_as_rfc5424_then_same_cases_on_the_unix_port(mp):
    cases = []

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case)
    def prop(c):
        out = fmt(c)
        check(c, out)
        cases.append((c, out))

    prop()
    code = r'''
import json, sys
from monitoring.syslog import SyslogFormatter
with open(sys.argv[1]) as f:
    cases = json.load(f)
for c in cases:
    f = SyslogFormatter(c["host"], c["app"], c["facility"], "rfc5424", c["max_len"], c["bom"])
    print(f.format(c["level"], c["name"], c["msg"], c["ns"]).hex())
'''
    import os
    import tempfile

    fd, path = tempfile.mkstemp(suffix=".json")
    # raw UTF-8: MicroPython's json decodes a \u surrogate pair as two characters
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump([c for c, _ in cases], f, ensure_ascii=False)
    try:
        p = mp.run(code, args=[path], timeout=120)
    finally:
        os.unlink(path)
    got = p.stdout.split()
    assert len(got) == len(cases)
    for (c, out), h in zip(cases, got):
        assert bytes.fromhex(h) == out, (c, bytes.fromhex(h), out)


def test_parser_rejects_what_it_should():
    # the parser is not a pushover: each of these breaks the ABNF
    good = b'<30>1 - h a - n [meta sequenceId="1"] m'
    assert parse_5424(good)["msg"] == b"m"
    for bad in (b'<300>1 - h a - n - m', b'<30>0 - h a - n - m', b'<30>1 - h a - n [x y] m',
                b'<30>1 - h a - n [meta a="]"] m', b'<30>1 - h\x01 a - n - m',
                b'<30>1 2024-13-01T00:00:00Z h a - n - m', b'<30>1 - h a - ' + b"n" * 33 + b' - m',
                b'<30>1 - h a - n [meta a="x"]m'):
        try:
            parse_5424(bad)
        except ParseError:
            continue
        raise AssertionError("accepted %r" % bad)
