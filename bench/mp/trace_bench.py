# Trace budgets on the Unix port: idle listener, active sampling at 10 Hz,
# region enter/exit. Prints KEY VALUE lines. argv[1]: the trace port.
# The host (bench_trace.py) connects as the trace client when told "CONNECT".
import asyncio
import gc
import sys
import time

import monitoring
from benchlib import alloc_of, us_of

PORT = int(sys.argv[1])


async def alloc_over(ms):
    gc.collect()
    a = gc.mem_alloc()
    t = time.ticks_ms()
    await asyncio.sleep_ms(ms)
    return gc.mem_alloc() - a, time.ticks_diff(time.ticks_ms(), t)


async def main():
    # baseline: the event loop with one sleeping task and no monitoring
    await asyncio.sleep_ms(100)
    b, t = await alloc_over(2000)
    print("baseline_idle_Bps", b * 1000 // t)
    mon = monitoring.start(trace={"port": PORT, "interval_ms": 100})
    await asyncio.sleep_ms(300)
    b, t = await alloc_over(3000)
    print("idle_Bps", b * 1000 // t)
    print("CONNECT", 1)
    while not mon.trace.active:
        await asyncio.sleep_ms(10)
    await asyncio.sleep_ms(1000)  # warm-up: header sent, first samples
    s0 = mon.trace.samples
    b, t = await alloc_over(5000)
    n = mon.trace.samples - s0
    print("active_samples", n)
    print("active_alloc", b)
    print("active_B_per_sample", b // max(n, 1))
    print("active_dropped", mon.trace.dropped)
    mon.stop()
    # regions with the metrics source on: an Influx reporter (UDP to the
    # discard port, one flush an hour) makes the source exist
    mon = monitoring.start(influx={"host": "127.0.0.1", "port": 9, "transport": "udp",
                                   "interval_s": 3600})
    await asyncio.sleep_ms(50)
    def passes(r, n):
        for i in range(n):
            with monitoring.region("bench"):
                pass

    passes(None, 10)  # the first pass creates the regions machinery and source
    src = mon.registry.get("regions")
    print("regions_source_active", int(src is not None and src.active))
    print("region_alloc_1000", alloc_of(passes, None, 1000))
    print("region_us_per_pass", us_of(passes, None, 1000) / 1000)

    t0 = time.ticks_us()
    for i in range(1000):
        gc.mem_alloc()
    print("mem_alloc_us", time.ticks_diff(time.ticks_us(), t0) / 1000)

    class Plain:
        def __enter__(self):
            return self

        def __exit__(self, a, b, c):
            return False

    p = Plain()

    def plain(n):
        for i in range(n):
            with p:
                pass

    plain(10)
    print("plain_with_us_per_pass", us_of(plain, 1000) / 1000)
    mon.stop()
    # both off: monitoring stopped
    passes(None, 10)
    print("region_off_alloc_1000", alloc_of(passes, None, 1000))
    print("region_off_us_per_pass", us_of(passes, None, 1000) / 1000)
    print("DONE", 1)


asyncio.run(main())
