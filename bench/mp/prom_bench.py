# Prometheus budgets on the Unix port: bytes allocated per scrape (encoder
# alone, and a whole HTTP scrape through the server), against a naive
# encoder that builds the body as one string, measured in the same run.
import gc
import socket
import sys
import time

import asyncio
from benchlib import alloc_gc_off, numeric_sources
from monitoring.metrics import Registry
from monitoring.promfmt import PromEncoder, escape_label_value, metric_name
from monitoring.prometheus import PrometheusServer, check
from monitoring.sources import Counters, add_builtin_sources

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 19199
NSRC = int(sys.argv[2]) if len(sys.argv) > 2 else 20

reg = Registry()
reg.set_host("pico-1")
add_builtin_sources(reg, Counters(), "bench")


def counter_and_string(s, i):
    s.incr("events", i)
    s.set("state", "ok")


# NSRC sources of 5 int fields, 2 floats, 1 counter, 1 string: 9 families each
numeric_sources(reg, NSRC, counter_and_string)

enc = PromEncoder()
buf = bytearray(512)


def scrape():
    total = 0
    for n in enc.chunks(reg, buf):
        total += n
    return total


def naive():
    # what a straightforward handler does: the whole body as one string
    out = []
    for s in reg.active_sources():
        s.sample()
        lab = 'host="%s"' % escape_label_value(reg.host)
        for k, v in s.labels:
            lab += ',%s="%s"' % (k, escape_label_value(v))
        for f in s.names:
            v = s.fields[f]
            kind = 2 if type(v) is str else (1 if f in s.counters else 0)
            name = metric_name(s.name, f, kind)
            out.append("# HELP %s %s: %s\n# TYPE %s %s\n" % (
                name, s.name, f, name, "counter" if kind == 1 else "gauge"))
            if kind == 2:
                out.append('%s{%s,value="%s"} 1\n' % (name, lab, escape_label_value(v)))
            else:
                out.append("%s{%s} %s\n" % (name, lab, int(v) if type(v) is bool else v))
    return "".join(out).encode()


body_len = scrape()  # builds the caches
a, _ = alloc_gc_off(scrape)
print("body_bytes", body_len)
print("families", body_len and sum(len(s.names) for s in reg.sources))
print("scrape_alloc", a)
try:
    naive()
    b, body = alloc_gc_off(naive)
    print("naive_alloc", b)
    assert len(body) == body_len, (len(body), body_len)
    N = 200
    t0 = time.ticks_us()
    for _ in range(N):
        scrape()
    t1 = time.ticks_us()
    for _ in range(N):
        naive()
    t2 = time.ticks_us()
    print("scrape_us", time.ticks_diff(t1, t0) // N)
    print("naive_us", time.ticks_diff(t2, t1) // N)
except MemoryError:
    body = None
    gc.enable()
    gc.collect()
    print("naive_alloc MemoryError")


async def http_scrapes(n):
    # n whole scrapes through the server, by a client in this process
    # reading into a preallocated buffer
    rbuf = bytearray(1024)
    addr = socket.getaddrinfo("127.0.0.1", PORT)[0][-1]
    got = 0
    for _ in range(n):
        c = socket.socket()
        c.connect(addr)
        c.setblocking(False)
        c.send(b"GET /metrics HTTP/1.0\r\n\r\n")
        while True:
            r = c.readinto(rbuf)
            if r is None:
                await asyncio.sleep_ms(0)
                continue
            if r == 0:
                break
            got += r
        c.close()
    return got


async def client_only(n):
    # the same client against a plain listener that answers nothing: its
    # own allocation, subtracted from the above
    addr = socket.getaddrinfo("127.0.0.1", PORT + 1)[0][-1]
    for _ in range(n):
        c = socket.socket()
        c.connect(addr)
        c.setblocking(False)
        c.send(b"GET /metrics HTTP/1.0\r\n\r\n")
        c.close()


async def main():
    srv = PrometheusServer(reg, check({"port": PORT, "addr": "127.0.0.1"}), poll_ms=1)
    srv.start()
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(socket.getaddrinfo("127.0.0.1", PORT + 1)[0][-1])
    lst.listen(50)
    await http_scrapes(2)
    n = 10
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    got = await http_scrapes(n)
    total = gc.mem_alloc() - before
    gc.enable()
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    await client_only(n)
    client = gc.mem_alloc() - before
    gc.enable()
    print("http_scrape_alloc", (total - client) // n)
    print("http_response_bytes", got // n)
    print("server_scrapes", srv.scrapes)
    srv.stop()
    lst.close()


asyncio.run(main())
