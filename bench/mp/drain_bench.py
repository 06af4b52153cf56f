# Draining a full syslog queue: microseconds and heap bytes per message
# sent, for queues of 1 KB to 256 KB (argv: TRANSPORT PORT; udp or tcp,
# octet framing; TCP connected before). A cost that grows with the queue is
# a quadratic drain. Then a record at a time, as the sending task sends them.
import asyncio
import gc
import sys
import time

from monitoring.sources import Counters
from monitoring.syslog_handler import SyslogSender, check

transport, port = sys.argv[1], int(sys.argv[2])


async def drain(qbytes):
    s = SyslogSender(Counters(), check({"host": "127.0.0.1", "port": port, "transport": transport,
                                        "queue_bytes": qbytes, "app_name": "drain"}),
                     hostname="pico-1")
    if transport == "tcp":
        await s._conn.connect()
    n = 0
    while s.queue.used + 120 < qbytes:
        s.log(20, "drain", "message %d of a full queue" % n)
        n += 1
    await s.send()  # the first sends: what they allocate once is not per message
    n0 = s.counters.log_sent
    while s.queue.used + 120 < qbytes:
        s.log(20, "drain", "message %d of a full queue" % n)
        n += 1
    gc.collect()
    gc.disable()  # no collection hides what the drain allocates
    a0 = gc.mem_alloc()
    t0 = time.ticks_us()
    while s.queue.used:
        await s.send()
    dt = time.ticks_diff(time.ticks_us(), t0)
    a = gc.mem_alloc() - a0
    gc.enable()
    sent = s.counters.log_sent - n0
    s.stop()
    return sent, dt, a


async def one_at_a_time(n=1000):
    # the usual case: a record logged, the sending task woken, the record
    # sent (run() first tries without a coroutine); only the sending counted
    s = SyslogSender(Counters(), check({"host": "127.0.0.1", "port": port, "transport": transport,
                                        "app_name": "drain"}), hostname="pico-1")
    if transport == "tcp":
        await s._conn.connect()
    for i in range(3):  # what the first sends allocate once
        s.log(20, "drain", "warm-up %d" % i)
        s._send_now() or await s.send()
    gc.collect()
    gc.disable()
    a = 0
    slow = 0
    for i in range(n):
        s.log(20, "drain", "one record at a time")
        a0 = gc.mem_alloc()
        if not s._send_now():
            slow += 1  # the socket had no room at once
            await s.send()
        a += gc.mem_alloc() - a0
    gc.enable()
    c = s.counters
    s.stop()
    return a / n, slow, c.log_sent, c.log_queued


async def main():
    for kb in (1, 16, 64, 256):
        sent, dt, a = await drain(kb * 1024)
        print("drain_%s_%dk_us_per_msg" % (transport, kb), dt / max(sent, 1))
        print("drain_%s_%dk_alloc_per_msg" % (transport, kb), a / max(sent, 1))
        print("drain_%s_%dk_msgs" % (transport, kb), sent)
        await asyncio.sleep_ms(100)
    per, slow, sent, queued = await one_at_a_time()
    print("one_%s_alloc_per_msg" % transport, per)
    print("one_%s_waited" % transport, slow)
    print("one_%s_sent" % transport, sent)
    print("one_%s_queued" % transport, queued)


asyncio.run(main())
