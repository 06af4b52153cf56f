# Fragmentation: the largest block a board's application can still get
# after the monitoring has lived through outages, against the same
# application without monitoring (argv: none | calm | all | PARTS,
# then CONTROL_PORT TRACE_PORT, then optionally "map").
#   none  the application loop alone
#   calm  the same loop beside the four capabilities, nothing happening to
#         them (no flush, no record, no client): what their code and state
#         take from the heap
#   all   the same, but Influx (HTTP) and syslog (TCP) point at a port where
#         nobody listens (every flush and record meets a refused connect and
#         a backoff), with 100 connections to each of the control and trace
#         ports from inside the program
#   PARTS one part of "all" at a time, or some of them: a comma-separated
#         list of influx, syslog, control, trace (e.g. "trace")
#   map   the heap's map (micropython.mem_info(1)) printed at the end, after
#         the figures: where the blocks still in use sit
# Prints free_bytes, largest_block and the outage counts.
import asyncio
import gc
import socket
import sys

mode = sys.argv[1]
PARTS = ("influx", "syslog", "control", "trace")
parts = () if mode in ("none", "calm") else PARTS if mode == "all" else mode.split(",")
for p in parts:
    if p not in PARTS:
        raise SystemExit("error: unknown part %s" % p)
FLUSHES = 1000


def largest_block():
    # the largest bytearray the heap can give now (to 16 bytes)
    gc.collect()
    lo, hi = 0, gc.mem_free()
    while hi - lo > 16:
        mid = (lo + hi) // 2
        try:
            b = bytearray(mid)
            del b
            lo = mid
        except MemoryError:
            hi = mid
        gc.collect()
    return lo


async def application(stop):
    # what a sensor board does between reports: small short-lived objects
    # and now and then a page-sized buffer, some kept for a while
    keep = []
    i = 0
    while not stop[0]:
        reading = {"t": i * 0.5, "id": "s%d" % (i % 7)}
        keep.append(("%d" % i, reading))
        if len(keep) > 20:
            keep = keep[10:]
        if i % 50 == 0:
            page = bytearray(2048)
            page[0] = i & 255
        i += 1
        await asyncio.sleep_ms(1)
    # stopped: what it kept for a while goes (a finished task keeps its
    # locals, which would leave them wherever they happened to be)
    keep = reading = page = None


async def knock(port, n):
    # n connections to a listener of this program, each closed at once.
    # A board's clients are elsewhere: what this one makes (its sockets,
    # the connect's EINPROGRESS) is dropped when it is done
    a = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(a)
        except OSError:
            pass
        await asyncio.sleep_ms(5)
        s.close()
        await asyncio.sleep_ms(5)
    a = s = None


async def main():
    stop = [False]
    app = asyncio.create_task(application(stop))
    mon = None
    if mode != "none":
        import monitoring
        from mplogging import logging

        control, trace = int(sys.argv[2]), int(sys.argv[3])
        log = logging.getLogger("app")
        log.setLevel(logging.INFO)
        mon = monitoring.start(
            hostname="frag", logging=logging,
            influx={"host": "127.0.0.1", "port": 9, "transport": "http", "db": "frag",
                    "interval_s": 0.01 if "influx" in parts else 3600},
            syslog={"host": "127.0.0.1", "port": 9, "transport": "tcp", "loggers": ["app"]},
            control={"port": control, "addr": "127.0.0.1"},
            trace={"port": trace, "addr": "127.0.0.1"})
        # short backoffs: a thousand refused connects in seconds
        mon.influx.backoff.max_ms = mon.syslog.backoff.max_ms = 20
        k = asyncio.create_task(knock(control, 100 if "control" in parts else 0))
        t = asyncio.create_task(knock(trace, 100 if "trace" in parts else 0))
        records = "syslog" in parts
        for i in range(FLUSHES):
            if records:
                log.info("record %d while the server is down", i)
            await asyncio.sleep_ms(10)
        await k
        await t
        k = t = None  # the clients' tasks and what their frames kept
        c = mon.counters
        print("points_dropped", c.points_dropped)
        print("log_dropped", c.log_dropped)
    else:
        await asyncio.sleep_ms(10 * FLUSHES)
    # a task's end makes a StopIteration that asyncio's loop keeps until
    # the next task ends: collected first, the application's lands in the
    # lowest hole, not wherever the allocations had reached
    gc.collect()
    stop[0] = True
    await app
    app = None  # its task, and the frame it kept
    # what the application can get now, the monitoring still running
    gc.collect()
    print("free_bytes", gc.mem_free())
    print("largest_block", largest_block())
    if sys.argv[-1] == "map":
        import micropython

        gc.collect()
        micropython.mem_info(1)
    if mon is not None:
        mon.stop()


asyncio.run(main())
