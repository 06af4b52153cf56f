# The project against what a user would write instead, on the same work in
# the same run (argv: MODE ...):
#   influx HTTP_PORT DB ROUNDS   points/s to a real InfluxDB over HTTP: the
#       reporter, and a requests-style writer (format-string lines, one
#       blocking connect + POST + read per flush, as micropython-lib's
#       requests does)
#   encode                       points/s of LineEncoder, and of a
#       format-string encoder ("%s,%s %s" % ... per point)
#   syslog UDP_PORT COUNT        records/s over UDP to a real rsyslog: the
#       handler and sender, and a bare "<PRI>msg" client (sendto per record)
# The baselines are written here, after what those libraries do.
import asyncio
import socket
import sys
import time

from benchlib import alloc_of, numeric_sources
from monitoring.metrics import Registry
from monitoring.sources import Counters

mode = sys.argv[1]
N = 20  # points per flush


def fmt_value(v):
    t = type(v)
    if t is int:
        return "%di" % v
    if t is float:
        return repr(v)
    if t is bool:
        return "true" if v else "false"
    return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')


def fmt_lines(points, host):
    # one "%s,%s %s" per point: what a line-protocol helper over requests does
    out = []
    for s in points:
        tags = ",".join("%s=%s" % kv for kv in (("host", host),) + s.labels)
        fields = ",".join("%s=%s" % (k, fmt_value(v)) for k, v in s.fields.items())
        out.append("%s,%s %s" % (s.name, tags, fields))
    return ("\n".join(out) + "\n").encode()


def post(addr, path, body):
    # a blocking HTTP/1.0 POST, connection closed after it: urequests' way
    s = socket.socket()
    try:
        s.connect(addr)
        s.write(b"POST %s HTTP/1.0\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path, len(body)))
        s.write(body)
        head = s.read(12)
        while s.read(256):
            pass
    finally:
        s.close()
    return int(head[9:12])


def timed_ms(fn):
    t0 = time.ticks_ms()
    fn()
    return time.ticks_diff(time.ticks_ms(), t0) or 1


if mode == "encode":
    from monitoring.influx import InfluxReporter, check

    reg = Registry()
    reg.set_host("pico-1")
    points = numeric_sources(reg, N, lambda s, i: s.set("state", "ok"))
    rep = InfluxReporter(reg, Counters(), check({"host": "127.0.0.1", "port": 9,
                                                "transport": "udp", "buffer_bytes": 8192}))

    def ours():
        for _ in range(100):
            rep.collect()
            rep.queue.consume(rep.queue.used)

    def theirs():
        for _ in range(100):
            fmt_lines(points, "pico-1")

    ours()
    best_o = best_f = 1 << 30
    for _ in range(5):  # interleaved, best of 5: the machine is shared
        best_o = min(best_o, timed_ms(ours))
        best_f = min(best_f, timed_ms(theirs))
    print("ours_points_per_s", 100 * N * 1000 // best_o)
    print("fmt_points_per_s", 100 * N * 1000 // best_f)
    print("ours_alloc_per_flush", alloc_of(lambda: (rep.collect(), rep.queue.consume(rep.queue.used))))
    print("fmt_alloc_per_flush", alloc_of(lambda: fmt_lines(points, "pico-1")))

elif mode == "influx":
    from monitoring.influx import InfluxReporter, check

    port, db, rounds = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    reg = Registry()
    reg.set_host("pico-1")
    points = numeric_sources(reg, N, lambda s, i: s.set("state", "ok"))
    counters = Counters()
    rep = InfluxReporter(reg, counters, check({"host": "127.0.0.1", "port": port, "db": db,
                                               "transport": "http", "precision": "s"}))

    async def ours():
        t0 = time.ticks_ms()
        for _ in range(rounds):
            await rep.flush()
        return time.ticks_diff(time.ticks_ms(), t0) or 1

    dt = asyncio.run(ours())
    print("ours_points", counters.points_sent)
    print("ours_dropped", counters.points_dropped)
    print("ours_points_per_s", counters.points_sent * 1000 // dt)
    addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    path = b"/write?db=%s&precision=s" % db.encode()
    t0 = time.ticks_ms()
    ok = 0
    for _ in range(rounds):
        if post(addr, path, fmt_lines(points, "pico-2")) == 204:
            ok += N
    dt = time.ticks_diff(time.ticks_ms(), t0) or 1
    print("requests_points", ok)
    print("requests_points_per_s", ok * 1000 // dt)

elif mode == "syslog":
    from mplogging import logging  # adafruit_logging, with the Unix port's time
    from monitoring.syslog_handler import AdafruitHandler, SyslogSender, check

    port, count = int(sys.argv[2]), int(sys.argv[3])

    async def ours():
        s = SyslogSender(Counters(), check({"host": "127.0.0.1", "port": port, "app_name": "ours",
                                            "queue_bytes": 65536}), hostname="pico-1")
        s.start()
        log = logging.getLogger("ours")
        log.setLevel(logging.INFO)
        log.addHandler(AdafruitHandler(s))
        await asyncio.sleep_ms(50)
        t0 = time.ticks_ms()
        for i in range(count):
            log.info("message %d of the run", i)
            if i % 10 == 9:
                await asyncio.sleep_ms(0)
        while s.queue.used:
            await asyncio.sleep_ms(1)
        dt = time.ticks_diff(time.ticks_ms(), t0) or 1
        c = s.counters
        print("ours_sent", c.log_sent)
        print("ours_dropped", c.log_dropped)
        print("ours_per_s", c.log_sent * 1000 // dt)
        s.stop()

    asyncio.run(ours())
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    t0 = time.ticks_ms()
    for i in range(count):
        # what a bare client sends: no header but the priority
        sock.sendto(b"<14>bare: message %d of the run" % i, addr)
    dt = time.ticks_diff(time.ticks_ms(), t0) or 1
    sock.close()
    print("bare_sent", count)
    print("bare_per_s", count * 1000 // dt)

elif mode == "paced":
    # the bare client again, paced: COUNT records at each rate of RATES
    # (records/s), tagged bare<RATE>, a pause between them for rsyslog to
    # catch up; which of them all arrive tells its rate at 0 loss
    port, count = int(sys.argv[2]), int(sys.argv[3])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    for rate in sys.argv[4].split(","):
        r = int(rate)
        head = b"<14>bare%d: message " % r
        t0 = time.ticks_us()
        for i in range(count):
            if i % 20 == 0:
                due = i * 1000000 // r
                while time.ticks_diff(time.ticks_us(), t0) < due:
                    pass
            sock.sendto(head + b"%d" % i, addr)
        dt = time.ticks_diff(time.ticks_us(), t0) or 1
        print("paced_%d_per_s" % r, count * 1000000 // dt)
        time.sleep_ms(1500)
    sock.close()
