# TLS on the Unix port (mbedTLS): handshake time, the worst stall of a
# 10 ms asyncio ticker during handshakes, heap (MicroPython's and, through
# bench/libc_count.c when preloaded, libc's, where this port's mbedTLS
# allocates) at the peak of a handshake and per open connection, and bytes
# allocated per syslog record and per Influx flush, TLS against plain in
# the same run. argv: RSYSLOG_TCP RSYSLOG_TLS INFLUX_HTTP INFLUX_HTTPS CA DB
import gc
import os
import sys

import asyncio
from monitoring.compat import ticks_diff, ticks_ms
from time import ticks_us
from monitoring.influx import InfluxReporter
from monitoring.influx import check as icheck
from monitoring.metrics import Registry, Source
from monitoring.netio import TcpClient
from monitoring.sources import Counters
from monitoring.syslog_handler import SyslogSender
from monitoring.syslog_handler import check as scheck
from monitoring.tlsio import Tls

RS_TCP, RS_TLS, IN_HTTP, IN_HTTPS = (int(x) for x in sys.argv[1:5])
CA, DB = sys.argv[5], sys.argv[6]
LIBC = bool(os.getenv("LD_PRELOAD"))
libc = []


def libc_mark():
    # libc's bytes in use and its peak since the last mark (LIBC lines on
    # stderr, read by bench_tls.py in order); the shell's parent is us
    if LIBC:
        os.system("kill -USR1 $PPID")


state = {"late": 0, "run": True, "peak": 0, "hs_ms": 0}


async def ticker():
    # a 10 ms ticker: how late each tick comes is how long the loop was held
    nxt = ticks_ms() + 10
    while state["run"]:
        await asyncio.sleep_ms(max(ticks_diff(nxt, ticks_ms()), 0))
        late = ticks_diff(ticks_ms(), nxt)
        if late > state["late"]:
            state["late"] = late
        nxt += 10


async def sampler(conn, t0, live):
    # the heap's peak while the handshake is under way (with ``live``, what
    # is live: collected first, which stalls the loop), and when it ended
    while state["run"]:
        if live:
            gc.collect()
        a = gc.mem_alloc()
        if a > state["peak"]:
            state["peak"] = a
        if conn.sock is not None and not conn.handshaking and not state["hs_ms"]:
            state["hs_ms"] = ticks_diff(ticks_ms(), t0)
        await asyncio.sleep_ms(1)


FRAME = b"38 <14>1 - bench tls - - - handshake test"
longest = [0]


class Timed:
    # the TLS socket, each call timed: the longest is one mbedTLS step
    def __init__(self, s):
        self.s = s

    def _t(self, f, b):
        t = ticks_us()
        try:
            return f(b)
        finally:
            d = ticks_diff(ticks_us(), t)
            if d > longest[0]:
                longest[0] = d

    def send(self, b):
        return self._t(self.s.send, b)

    def readinto(self, b):
        return self._t(self.s.readinto, b)

    def close(self):
        self.s.close()


async def handshakes(n, live):
    sec = scheck({"host": "127.0.0.1", "port": RS_TLS, "transport": "tls", "ca": CA,
                  "server_name": "localhost"})
    tls = Tls(sec, "127.0.0.1")
    times = []
    peaks = []
    resident = []
    for _ in range(n):
        conn = TcpClient("127.0.0.1", RS_TLS, 5000, None, None, tls)
        gc.collect()
        base = gc.mem_alloc()
        libc_mark()
        state["peak"] = base
        state["hs_ms"] = 0
        t0 = ticks_ms()
        state["run"] = True
        sm = asyncio.create_task(sampler(conn, t0, live))
        tk = asyncio.create_task(ticker())
        await conn.connect()
        conn.sock = Timed(conn.sock)
        await conn.send(FRAME)
        state["run"] = False
        await tk
        await sm
        gc.collect()
        resident.append(gc.mem_alloc() - base)
        libc_mark()
        times.append(state["hs_ms"])
        peaks.append(state["peak"] - base)
        conn.close()
        await asyncio.sleep_ms(20)
    if live:
        print("handshake_heap_peak", max(peaks))
        print("tls_conn_heap_resident", max(resident))
        return
    times.sort()
    print("handshake_ms_median", times[n // 2])
    print("handshake_ms_max", times[-1])
    print("handshake_ticker_worst_ms", state["late"])
    print("handshake_longest_call_us", longest[0])


async def records(transport, port, n):
    o = {"host": "127.0.0.1", "port": port, "transport": transport}
    if transport == "tls":
        o.update(ca=CA, server_name="localhost")
    s = SyslogSender(Counters(), scheck(o), hostname="bench")
    for _ in range(5):
        s.log(20, "b", "warm up the connection")
    await s.send()

    async def go():
        for _ in range(n):
            s.log(20, "b", "request 1234 served in 12 ms, status ok")
            await s.send()

    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    await go()
    after = gc.mem_alloc()
    gc.enable()
    sent = s.counters.log_sent
    s.stop()
    return (after - before) / n, sent


async def flushes(transport, port, n):
    reg = Registry()
    reg.set_host("pico-1")
    src = Source("app", registry=reg)
    for i in range(8):
        src.set("f%d" % i, i)
    o = {"host": "127.0.0.1", "port": port, "transport": transport, "db": DB}
    if transport == "https":
        o.update(ca=CA, server_name="localhost")
    rep = InfluxReporter(reg, Counters(), icheck(o))
    for _ in range(3):
        await rep.flush()
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for _ in range(n):
        await rep.flush()
    after = gc.mem_alloc()
    gc.enable()
    c = rep.counters
    rep.stop()
    return (after - before) / n, c.send_errors, c.reconnects


async def main():
    await handshakes(8, False)  # times, and what a handshake allocates
    await handshakes(4, True)  # the live heap
    for t, port in (("tcp", RS_TCP), ("tls", RS_TLS)):
        per, sent = await records(t, port, 200)
        print("record_alloc_%s" % t, per)
        print("records_sent_%s" % t, sent)
    for t, port in (("http", IN_HTTP), ("https", IN_HTTPS)):
        per, errors, reconnects = await flushes(t, port, 20)
        print("flush_alloc_%s" % t, per)
        print("flush_errors_%s" % t, errors)
        print("flush_reconnects_%s" % t, reconnects)


asyncio.run(main())
