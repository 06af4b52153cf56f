"""Syslog formatter and framing: exact bytes (CPython and the Unix port)."""

from checks import raises, unescape
from monitoring.syslog import (SyslogFormatter, escape_param_value, facility_code, frame,
                               frame_into, header_token, pri, put_int, put_msg, severity)

# 2026-01-02T03:04:05.678Z
NS = 1767323045 * 1000000000 + 678 * 1000000
# 2025-11-09T23:59:59.005Z
NS2 = 1762732799 * 1000000000 + 5 * 1000000
UNSET = 5 * 1000000000  # 1970: clock not set


def test_severity_and_pri_math():
    assert [severity(n) for n in (10, 20, 30, 40, 50)] == [7, 6, 4, 3, 2]
    assert severity(0) == 7 and severity(25) == 6 and severity(60) == 2
    assert pri(3, 6) == 30 and pri(0, 0) == 0 and pri(23, 7) == 191
    assert facility_code("local7") == 23 and facility_code(3) == 3
    raises(ValueError, facility_code, 24)
    raises(ValueError, facility_code, "nope")
    f = SyslogFormatter("h", "a", facility="local0")
    assert f.format(40, "x", "m", NS).startswith(b"<131>1 ")
    for lv, p in ((10, b"<31>"), (20, b"<30>"), (30, b"<28>"), (40, b"<27>"), (50, b"<26>")):
        assert SyslogFormatter("h", "a").format(lv, "x", "m", NS).startswith(p + b"1 ")


def test_rfc5424_exact_bytes():
    f = SyslogFormatter("pico-1", "demo", 3)
    assert f.format(20, "sensor", "hello world", NS) == (
        b'<30>1 2026-01-02T03:04:05.678Z pico-1 demo - sensor [meta sequenceId="1"] hello world')
    assert f.format(30, "http", "second", NS2) == (
        b'<28>1 2025-11-09T23:59:59.005Z pico-1 demo - http [meta sequenceId="2"] second')


def test_rfc5424_unset_clock_gives_nil_timestamp():
    f = SyslogFormatter("pico-1", "demo")
    assert f.format(40, "app", "boom", UNSET) == (
        b'<27>1 - pico-1 demo - app [meta sequenceId="1"] boom')


def test_sequence_id_counts_and_wraps():
    f = SyslogFormatter("h", "a")
    f.seq = 2147483646
    assert b'sequenceId="2147483647"' in f.format(20, "n", "m", NS)
    assert b'sequenceId="1"]' in f.format(20, "n", "m", NS)
    assert b'sequenceId="2"]' in f.format(20, "n", "m", NS)


def test_bom_option():
    f = SyslogFormatter("h", "a", bom=True)
    assert f.format(20, "n", "héllo", NS).endswith(b'"] \xef\xbb\xbfh\xc3\xa9llo')
    # no BOM in RFC 3164
    f = SyslogFormatter("h", "a", rfc="rfc3164", bom=True)
    assert f.format(20, "n", "x", NS).endswith(b"n: x")


def test_rfc3164_exact_bytes():
    f = SyslogFormatter("pico-1", "demo", rfc="rfc3164")
    assert f.format(20, "sensor", "hello", NS) == b"<30>Jan  2 03:04:05 pico-1 sensor: hello"
    assert f.format(50, "x", "y", NS2) == b"<26>Nov  9 23:59:59 pico-1 x: y"
    ns = (1767323045 + 86400 * 340) * 1000000000  # 2026-12-08
    assert f.format(20, "t", "z", ns).startswith(b"<30>Dec  8 ")
    ns = (1767323045 + 86400 * 20) * 1000000000  # 2026-01-22
    assert f.format(20, "t", "z", ns).startswith(b"<30>Jan 22 03:04:05 ")
    # clock unset: timestamp and hostname left to the receiver
    assert f.format(30, "app", "w", UNSET) == b"<28>app: w"


def test_header_fields_sanitised_and_cut():
    assert header_token("a b\tc", 32) == b"a_b_c"
    assert header_token("", 32) == b"-"
    assert header_token("x" * 40, 32) == b"x" * 32
    assert header_token("wö", 32) == b"w_"
    assert header_token("a:b[c]", 32, ":[]") == b"a_b_c_"
    f = SyslogFormatter("my host", "my app")
    out = f.format(20, "n" * 40, "m", UNSET)
    assert out == b'<30>1 - my_host my_app - ' + b"n" * 32 + b' [meta sequenceId="1"] m'
    f = SyslogFormatter("h", "a" * 60)
    assert b" " + b"a" * 48 + b" - " in f.format(20, "", "m", UNSET)
    assert b' - - [meta' in f.format(20, "", "m", UNSET)  # empty logger name: NIL MSGID
    f = SyslogFormatter("h", "a", rfc="rfc3164")
    assert f.format(20, "a:b", "m", UNSET) == b"<30>a_b: m"


def test_control_characters_escaped():
    f = SyslogFormatter("h", "a")
    out = f.format(20, "n", "line1\nline2\r\x00\t\x1b\x7f end \\ back", UNSET)
    body = out.split(b"] ", 1)[1]
    assert body == b"line1\\nline2\\r\\x00\\t\\x1b\\x7f end \\\\ back"
    for c in (b"\n", b"\r", b"\x00"):
        assert c not in out
    assert unescape(body) == "line1\nline2\r\x00\t\x1b\x7f end \\ back".encode()
    # a forged record inside a message stays text
    out = f.format(20, "n", "ok\n<27>1 - h a - n - forged", UNSET)
    assert out.count(b"<") == 2 and b"\n" not in out


def test_non_ascii_passes_through():
    f = SyslogFormatter("h", "a")
    out = f.format(20, "n", "température 21 °C ✓ 🙂", UNSET)
    assert out.endswith("température 21 °C ✓ 🙂".encode())


def test_truncation_at_utf8_boundary():
    f = SyslogFormatter("h", "a", max_len=128)
    head = f.format(20, "n", "", UNSET)
    room = 128 - len(head)
    # ASCII: cut exactly at max_len
    f.seq = 0
    out = f.format(20, "n", "x" * 500, UNSET)
    assert len(out) == 128 and out.endswith(b"x" * room)
    # two-byte characters: never half a character
    for shift in range(4):
        f.seq = 0
        msg = "y" * shift + "é" * 200
        out = f.format(20, "n", msg, UNSET)
        assert len(out) <= 128 and len(out) >= 127
        out.decode()  # valid UTF-8
        # four-byte characters
        f.seq = 0
        out = f.format(20, "n", "z" * shift + "🙂" * 100, UNSET)
        assert 125 <= len(out) <= 128
        out.decode()


def test_truncation_never_splits_an_escape():
    for shift in range(5):
        b = bytearray(20)
        end = put_msg(b, 0, 10, "a" * shift + "\x01" * 10)
        s = bytes(b[:end])
        assert end <= 10
        assert s.count(b"\\x01") * 4 + shift == end, s
        end = put_msg(b, 0, 9, "b" * shift + "\n" * 10)
        assert bytes(b[:end]).endswith(b"\\n") or shift >= 9
        assert (end - shift) % 2 == 0
        end = put_msg(b, 0, 9, "c" * shift + "é\n" * 10)
        bytes(b[:end]).decode()


def test_escape_after_truncation_point_is_not_written():
    b = bytearray(32)
    end = put_msg(b, 0, 5, "abcde\nfg")
    assert bytes(b[:end]) == b"abcde"
    end = put_msg(b, 0, 6, "abcde\nfg")
    assert bytes(b[:end]) == b"abcde"  # the escape needs 2 bytes
    end = put_msg(b, 0, 7, "abcde\nfg")
    assert bytes(b[:end]) == b"abcde\\n"


def test_structured_data_param_escaping():
    assert escape_param_value('a"b\\c]d') == b'a\\"b\\\\c\\]d'
    assert escape_param_value("ü") == "ü".encode()


def test_bad_options_rejected():
    raises(ValueError, SyslogFormatter, rfc="rfc9999")
    raises(ValueError, SyslogFormatter, facility=99)
    raises(ValueError, SyslogFormatter, max_len=10)
    raises(ValueError, SyslogFormatter, hostname="h" * 300, max_len=200)


def test_framing_exact_bytes():
    assert frame(b"<30>1 - h a - n - hi", "octet") == b"20 <30>1 - h a - n - hi"
    assert frame(b"abc", "lf") == b"abc\n"
    assert frame(b"abc", "none") == b"abc"
    assert frame(b"x" * 100, "octet") == b"100 " + b"x" * 100
    b = bytearray(16)
    end = frame_into(b, 2, b"hello world", 5, "octet")
    assert bytes(b[2:end]) == b"5 hello"


def test_put_int():
    b = bytearray(12)
    assert put_int(b, 0, 0) == 1 and b[0:1] == b"0"
    assert put_int(b, 0, 7, 3) == 3 and b[0:3] == b"007"
    assert put_int(b, 1, 2147483647) == 11 and b[1:11] == b"2147483647"


def test_formatter_writes_in_place():
    f = SyslogFormatter("h", "a")
    b = bytearray(600)
    mv = memoryview(b)
    end = f.format_into(mv, 10, 20, "n", "hi", UNSET)
    assert bytes(b[10:end]) == b'<30>1 - h a - n [meta sequenceId="1"] hi'
    assert b[0:10] == bytearray(10) and len(b) == 600


def test_non_str_message():
    f = SyslogFormatter("h", "a")
    assert f.format(20, "n", 42, UNSET).endswith(b"] 42")


def test_notice_without_structured_data_keeps_the_sequence():
    f = SyslogFormatter("h", "a")
    assert f.format(30, "monitoring", "3 messages dropped", UNSET, False) == (
        b"<28>1 - h a - monitoring - 3 messages dropped")
    assert f.seq == 0
    assert b'sequenceId="1"' in f.format(20, "n", "m", UNSET)


def test_syslog_section_facility_and_app_name():
    from monitoring.syslog_handler import check

    o = check({"host": "h", "facility": "local3", "app_name": "gh"})
    assert o["facility"] == "local3" and o["app_name"] == "gh"
    assert facility_code(o["facility"]) == 19
    o = check({"host": "h", "facility": 5})
    assert o["facility"] == 5 and o["app_name"] is None
    o = check({"host": "h"})
    assert o["facility"] == "daemon" and facility_code(o["facility"]) == 3
    for bad in (24, "local9", -1, 3.0):
        try:
            check({"host": "h", "facility": bad})
        except ValueError as e:
            assert str(e).startswith("syslog.facility: expected a number from 0 to 23"), e
        else:
            raise AssertionError(bad)


def test_bounded_room_writes_whole_messages_or_nothing():
    f = SyslogFormatter("h", "a", max_len=128)
    full = f.format(20, "n", "x" * 40, UNSET)  # seq 1
    b = bytearray(200)
    # room for the whole message: the same bytes, the next sequence number
    end = f.format_into(b, 0, 20, "n", "x" * 40, UNSET, True, len(full) + 5)
    assert bytes(b[:end]) == full.replace(b'Id="1"', b'Id="2"')
    # one byte short: -1, and the sequence number is not used up
    assert f.format_into(b, 0, 20, "n", "x" * 40, UNSET, True, len(full) - 1) == -1
    # less than the longest header, or nothing: -1 too
    assert f.format_into(b, 0, 20, "n", "x", UNSET, True, 10) == -1
    assert f.format_into(b, 0, 20, "n", "x", UNSET, True, -1) == -1
    end = f.format_into(b, 0, 20, "n", "x" * 40, UNSET, True, len(full))
    assert bytes(b[:end]) == full.replace(b'Id="1"', b'Id="3"')
    # room of max_len or more: cut at max_len as usual
    end = f.format_into(b, 0, 20, "n", "y" * 300, UNSET, True, 128)
    assert end == 128 and b[end - 1] == ord("y")
    # escapes count: "\n" takes two bytes
    msg = "\n" * 10
    two = f.format(20, "n", msg, UNSET)
    assert f.format_into(b, 0, 20, "n", msg, UNSET, True, len(two) - 1) == -1
    assert put_msg(b, 0, 3, "ab\n", True) == -1 and put_msg(b, 0, 4, "ab\n", True) == 4
    assert put_msg(b, 0, 0, "a", True) == -1 and put_msg(b, 0, 0, "", True) == 0
