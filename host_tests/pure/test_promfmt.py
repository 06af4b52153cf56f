"""Prometheus text exposition: exact text for tricky names, labels, types;
streaming through a small buffer; request routing. Runs on CPython and on
the MicroPython Unix port."""

from monitoring.metrics import Registry, Source
from monitoring.promfmt import (PromEncoder, escape_label_value, float_text, label_keys,
                                metric_name, response_head, route, sanitize_name)


def body(reg, size=512, enc=None):
    enc = enc or PromEncoder()
    buf = bytearray(size)
    out = []
    sizes = []
    for n in enc.chunks(reg, buf):
        assert 0 < n <= size
        sizes.append(n)
        out.append(bytes(buf[:n]))
    return b"".join(out).decode(), sizes


def test_sanitize_names():
    assert sanitize_name("app_requests") == "app_requests"
    assert sanitize_name("we ird-na.me/é") == "we_ird_na_me__"
    assert sanitize_name("9lives") == "_9lives"
    assert sanitize_name("a:b") == "a:b"
    assert sanitize_name("a:b", False) == "a_b"
    assert metric_name("app", "requests", 1) == "app_requests_total"
    assert metric_name("app", "bytes_total", 1) == "app_bytes_total"
    assert metric_name("app", "bytes_total", 0) == "app_bytes_total"
    assert metric_name("sys", "platform", 2) == "sys_platform_info"
    assert metric_name("1st", "x y", 0) == "_1st_x_y"


def test_label_keys_unique_and_not_reserved():
    assert label_keys(["room"]) == ["room"]
    assert label_keys(["ho st", "value", "__x", "a b", "a_b"]) == [
        "ho_st", "label_value", "label___x", "a_b", "label_a_b"]
    assert label_keys(["host"]) == ["label_host"]


def test_escapes():
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert float_text(float("nan")) == b"NaN"
    assert float_text(float("inf")) == b"+Inf"
    assert float_text(float("-inf")) == b"-Inf"
    assert float_text(2.5) == b"2.5"


def test_exact_exposition():
    reg = Registry()
    reg.set_host('pi"co\\1')
    app = Source("my-app", labels={"ro om": "hall \"A\"\\B", "zone": "1"}, registry=reg)
    app.incr("requests", 42)
    app.set("temp", 21.5)
    app.set("ok", True)
    app.set("off", False)
    app.set("state", 'say "hi"\\\nbye')
    app.set("neg", -7)
    app.incr("bytes_total", 0)
    text, _ = body(reg)
    lab = 'host="pi\\"co\\\\1",ro_om="hall \\"A\\"\\\\B",zone="1"'
    assert text == (
        "# HELP my_app_requests_total my-app: requests\n"
        "# TYPE my_app_requests_total counter\n"
        "my_app_requests_total{%s} 42\n"
        "# HELP my_app_temp my-app: temp\n"
        "# TYPE my_app_temp gauge\n"
        "my_app_temp{%s} 21.5\n"
        "# HELP my_app_ok my-app: ok\n"
        "# TYPE my_app_ok gauge\n"
        "my_app_ok{%s} 1\n"
        "# HELP my_app_off my-app: off\n"
        "# TYPE my_app_off gauge\n"
        "my_app_off{%s} 0\n"
        "# HELP my_app_state_info my-app: state\n"
        "# TYPE my_app_state_info gauge\n"
        'my_app_state_info{%s,value="say \\"hi\\"\\\\\\nbye"} 1\n'
        "# HELP my_app_neg my-app: neg\n"
        "# TYPE my_app_neg gauge\n"
        "my_app_neg{%s} -7\n"
        "# HELP my_app_bytes_total my-app: bytes_total\n"
        "# TYPE my_app_bytes_total counter\n"
        "my_app_bytes_total{%s} 0\n"
    ) % (lab, lab, lab, lab, lab, lab, lab)


def test_help_is_escaped_and_special_floats():
    reg = Registry()
    s = Source("a\\b", registry=reg)
    s.set("x\\y", float("nan"))
    s.set("inf", float("inf"))
    s.set("ninf", float("-inf"))
    s.set("big", 12345678901234567890123)
    s.set("zero", 0)
    text, _ = body(reg)
    assert "# HELP a_b_x_y a\\\\b: x\\\\y\n" in text
    assert 'a_b_x_y{host="micropython"} NaN\n' in text
    assert 'a_b_inf{host="micropython"} +Inf\n' in text
    assert 'a_b_ninf{host="micropython"} -Inf\n' in text
    assert 'a_b_big{host="micropython"} 12345678901234567890123\n' in text
    assert 'a_b_zero{host="micropython"} 0\n' in text


def test_only_active_sources_and_samplers_run():
    reg = Registry()
    calls = []
    a = Source("a", tags=("x",), registry=reg, sampler=lambda s: calls.append(1) or s.set("v", len(calls)))
    b = Source("b", tags=("y",), registry=reg)
    b.set("v", 2)
    text, _ = body(reg)
    assert 'a_v{host="micropython"} 1\n' in text and "b_v" in text
    reg.set_active("b", False)
    text, _ = body(reg)
    assert 'a_v{host="micropython"} 2\n' in text and "b_v" not in text
    reg.disable_tag("x")
    reg.disable_all()
    text, _ = body(reg)
    assert text == "" and len(calls) == 2


def test_small_buffer_streams_whole_families():
    reg = Registry()
    s = Source("app", registry=reg)
    for i in range(20):
        s.set("field%d" % i, i * 1000)
    whole, sizes = body(reg, 4096)
    assert sizes == [len(whole)]
    small, sizes = body(reg, 150)
    assert small == whole
    assert len(sizes) == 20
    # every chunk holds whole families (starts with a HELP line)
    enc = PromEncoder()
    buf = bytearray(150)
    for n in enc.chunks(reg, buf):
        assert bytes(buf[:5]) == b"# HEL" and buf[n - 1] == 10


def test_too_long_family_left_out_and_counted():
    reg = Registry()
    s = Source("app", registry=reg)
    s.set("a", 1)
    s.set("long", "x" * 300)
    s.set("b", 2)
    enc = PromEncoder()
    text, _ = body(reg, 200, enc)
    assert "app_a{" in text and "app_b{" in text and "long" not in text
    assert enc.too_long == 1


def test_name_clash_between_sources_keeps_the_first():
    reg = Registry()
    a = Source("a_b", registry=reg)
    a.set("c", 1)
    b = Source("a", registry=reg)
    b.set("b_c", 2)
    b.set("d", 3)
    enc = PromEncoder()
    text, _ = body(reg, 512, enc)
    assert text.count("# TYPE a_b_c ") == 1
    assert 'a_b_c{host="micropython"} 1\n' in text and "a_d{" in text
    assert enc.clashes == 1
    # the owner gone, the other source gets the name
    reg.remove("a_b")
    b.set("e", 4)  # new field: the cache is rebuilt
    text, _ = body(reg, 512, enc)
    assert 'a_b_c{host="micropython"} 2\n' in text


def test_new_fields_and_host_change_refresh_the_cache():
    reg = Registry()
    s = Source("app", registry=reg)
    s.set("a", 1)
    enc = PromEncoder()
    body(reg, 512, enc)
    s.set("b", 2)
    reg.set_host("pico-2")
    text, _ = body(reg, 512, enc)
    assert 'app_a{host="pico-2"} 1\n' in text and 'app_b{host="pico-2"} 2\n' in text


def test_route():
    assert route(b"GET /metrics HTTP/1.1\r\nHost: x") == 200
    assert route(b"GET /metrics?x=1 HTTP/1.0") == 200
    assert route(b"GET /metrics HTTP/1.0\nHost: x") == 200  # bare LF
    assert route(b"GET /metrics HTTP/1.0\r") == 200
    assert route(b"GET / HTTP/1.1\r\nHost: x") == 404
    assert route(b"GET /metricsx HTTP/1.1") == 404
    assert route(b"POST /metrics HTTP/1.1") == 405
    assert route(b"HEAD /metrics HTTP/1.1") == 405
    assert route(b"garbage") == 400
    assert route(b"GET /metrics") == 400
    assert route(b"GET metrics HTTP/1.1") == 400
    assert route(b"\x00\x01 / HTTP/1.1") == 400
    assert route(b"get /metrics HTTP/1.1") == 400
    assert route(b"GET /metrics SPDY/3") == 400
    # the absolute form (RFC 9112 3.2.2), which a server must take
    assert route(b"GET http://127.0.0.1/metrics HTTP/1.1") == 200
    assert route(b"GET http://board:9100/metrics?x=1 HTTP/1.1") == 200
    assert route(b"GET HTTPS://board/metrics HTTP/1.1") == 200
    assert route(b"GET http://board HTTP/1.1") == 404  # the path "/"
    assert route(b"GET http://board/nope HTTP/1.1") == 404
    assert route(b"GET ftp://board/metrics HTTP/1.1") == 400


def test_body_length():
    from monitoring.promfmt import body_length

    assert body_length(b"GET /metrics HTTP/1.1\r\nHost: x") == 0
    assert body_length(b"GET /metrics HTTP/1.1\r\nContent-Length: 600\r\nHost: x") == 600
    assert body_length(b"GET /metrics HTTP/1.1\ncontent-length:7") == 7
    assert body_length(b"GET /metrics HTTP/1.1\r\nContent-Length: -1") == -1
    assert body_length(b"GET /metrics HTTP/1.1\r\nContent-Length: 1e3") == -1
    assert body_length(b"GET /metrics HTTP/1.1\r\nContent-Length: 99999999999") == -1
    assert body_length(b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked") == -1
    # a header named in the request line is not a header
    assert body_length(b"GET /Content-Length:5 HTTP/1.1") == 0


def test_response_heads():
    h = response_head(200)
    assert h.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n" in h
    assert h.endswith(b"\r\n\r\n")
    h = response_head(404)
    assert h.startswith(b"HTTP/1.0 404 Not Found\r\n")
    assert h.endswith(b"\r\n\r\n404 Not Found\n")
    assert b"Content-Length: 14\r\n" in h
    assert b"Allow: GET\r\n" in response_head(405)
    assert response_head(413).startswith(b"HTTP/1.0 413 Request Entity Too Large\r\n")
    assert response_head(408).endswith(b"\r\n\r\n408 Request Timeout\n")
    assert response_head(400).startswith(b"HTTP/1.0 400 Bad Request\r\n")


def test_every_buffer_size_gives_the_same_text_and_never_overflows():
    reg = Registry()
    s = Source("app", labels={"room": "hall"}, registry=reg)
    s.set("name", "x" * 40)
    s.set("n", -1234567)
    s.set("f", 0.125)
    s.incr("c", 3)
    s.set("b", True)
    whole, _ = body(reg, 4096)
    longest = max(len(part) + 1 for part in whole.split("# HELP ")[1:]) + 6
    for size in range(longest - 3, longest + 40):
        enc = PromEncoder()
        buf = bytearray(size)
        out = []
        for n in enc.chunks(reg, buf):
            assert len(buf) == size and n <= size
            out.append(bytes(buf[:n]))
        text = b"".join(out).decode()
        if size >= longest:
            assert text == whole, size
            assert enc.too_long == 0
        else:
            assert enc.too_long == 1 and "app_name_info" not in text


def test_chunk_header_is_hex_size_and_crlf():
    from monitoring.promfmt import chunk_header

    out = bytearray(10)
    for n, want in ((1, b"1\r\n"), (10, b"a\r\n"), (15, b"f\r\n"), (16, b"10\r\n"),
                    (512, b"200\r\n"), (0xABCDEF, b"abcdef\r\n")):
        k = chunk_header(out, n)
        assert bytes(out[:k]) == want, (n, bytes(out[:k]))


def test_chunked_only_for_http_1_1_requests():
    from monitoring.promfmt import response_head, wants_chunked

    assert wants_chunked(b"GET /metrics HTTP/1.1\r\nHost: x")
    assert wants_chunked(b"GET /metrics HTTP/1.1")
    assert not wants_chunked(b"GET /metrics HTTP/1.0\r\nHost: x")
    assert response_head(200, True).startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nTransfer-Encoding: chunked\r\n" in response_head(200, True)
    assert b"Transfer-Encoding" not in response_head(200)
