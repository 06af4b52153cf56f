# Whole-system figures on the Unix port.
#   steady INFLUX_UDP_PORT SYSLOG_TCP_PORT CONTROL TRACE
#       every capability running idle, 10 s interval, no clients: bytes
#       allocated per second between flushes and per flush.
#   latency MODE [INFLUX_UDP_PORT SYSLOG_TCP_PORT CONTROL TRACE]
#       MODE "none" (no monitoring) or "all": the worst and mean lateness
#       of a 10 ms asyncio.sleep loop over 8 s while a demo task logs and
#       updates metrics (the host floods the control port meanwhile).
import array
import gc
import sys
import time

import asyncio

mode = sys.argv[1]


def ports(i):
    return int(sys.argv[i]), int(sys.argv[i + 1]), int(sys.argv[i + 2]), int(sys.argv[i + 3])


def demo_logger():
    from mplogging import logging

    log = logging.getLogger("app")
    log.setLevel(logging.INFO)
    log.addHandler(logging.NullHandler())
    return log


def start_all(influx_udp, syslog_tcp, control, trace, interval, log=None):
    import monitoring
    from monitoring.metrics import Source

    user = Source("user", tags=("app",))
    for i in range(10):
        user.set("f%d" % i, i * 10)
    syslog = {"host": "127.0.0.1", "port": syslog_tcp, "transport": "tcp"}
    logmod = None
    if log is not None:
        from mplogging import logging as logmod

        syslog["loggers"] = [log]
    mon = monitoring.start(
        hostname="bench", logging=logmod,
        influx={"host": "127.0.0.1", "port": influx_udp, "transport": "udp",
                "interval_s": interval},
        syslog=syslog, control={"port": control, "addr": "127.0.0.1"}, trace={"port": trace})
    return mon, user


async def steady():
    mon, user = start_all(*ports(2), interval=10)
    counters = mon.counters
    await asyncio.sleep(1)
    samples = 250  # 25 s at 100 ms
    alloc = array.array("i", [0] * samples)
    produced = array.array("i", [0] * samples)
    gc.collect()
    gc.disable()
    for i in range(samples):
        alloc[i] = gc.mem_alloc()
        produced[i] = counters.points_produced
        await asyncio.sleep_ms(100)
    gc.enable()
    quiet_bytes = 0
    quiet_ms = 0
    flush_bytes = 0
    flushes = 0
    for i in range(1, samples):
        d = alloc[i] - alloc[i - 1]
        if produced[i] != produced[i - 1] or produced[i - 1] != produced[i - 2 if i > 1 else 0]:
            flush_bytes += d
            if produced[i] != produced[i - 1]:
                flushes += 1
        else:
            quiet_bytes += d
            quiet_ms += 100
    print("quiet_bytes_per_s", quiet_bytes * 1000 // max(quiet_ms, 1))
    print("flushes", flushes)
    print("bytes_per_flush", flush_bytes // max(flushes, 1))
    mon.stop()


async def latency():
    kind = sys.argv[2]
    mon = None
    log = demo_logger()
    if kind == "all":
        mon, user = start_all(*ports(3), interval=1, log=log)
    else:
        from monitoring.metrics import Source

        user = Source("user", tags=("app",))

    async def app():
        n = 0
        while True:
            n += 1
            user.incr("f1")
            if n % 10 == 0:
                log.info("demo record %d", n)
            await asyncio.sleep_ms(20)

    t = asyncio.create_task(app())
    await asyncio.sleep(1)
    worst = 0
    total = 0
    n = 0
    end = time.ticks_add(time.ticks_ms(), 8000)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        t0 = time.ticks_us()
        await asyncio.sleep_ms(10)
        late = time.ticks_diff(time.ticks_us(), t0) - 10000
        if late > worst:
            worst = late
        total += late
        n += 1
    t.cancel()
    print("worst_late_us", worst)
    print("mean_late_us", total // n)
    if mon is not None:
        print("control_commands", mon.control.commands)
        mon.stop()


asyncio.run(steady() if mode == "steady" else latency())
