# Idle wake-ups per second of each listener (control, trace, prometheus)
# and of the whole loop, with nothing connected: the cost to a battery
# board that keeps them on. Each listener's step() is counted over
# SECONDS of idle running.
#   wakeups_bench.py SECONDS
import asyncio
import sys
import time

import monitoring

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3


def counted(srv, box):
    step = srv.step

    def counting():
        box[0] += 1
        return step()

    srv.step = counting


async def main():
    mon = monitoring.start(hostname="wake", control={"port": 0, "addr": "127.0.0.1"},
                           trace={"port": 0, "addr": "127.0.0.1"},
                           prometheus={"port": 0, "addr": "127.0.0.1"})
    # a listener polls at its poll_ms for the first second without events,
    # then every 250 ms: counted once it has settled
    await asyncio.sleep_ms(1500)
    boxes = {}
    for name in ("control", "trace", "prometheus"):
        boxes[name] = [0]
        counted(getattr(mon, name), boxes[name])
    t0 = time.ticks_ms()
    await asyncio.sleep(SECONDS)
    dt = time.ticks_diff(time.ticks_ms(), t0) / 1000
    total = 0
    for name in ("control", "trace", "prometheus"):
        n = boxes[name][0] / dt
        total += n
        print("%s_wakeups_per_s %.1f" % (name, n))
    print("listeners_wakeups_per_s %.1f" % total)
    mon.stop()


asyncio.run(main())
