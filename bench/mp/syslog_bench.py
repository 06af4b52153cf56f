# Syslog budgets on the Unix port: allocation of filtered-out and logged
# records, formatter vs a naive concatenating formatter, and throughput to
# a real rsyslog over TCP (argv: PORT COUNT, or nothing to skip it).
import sys
import time

try:
    import asyncio
except ImportError:
    import uasyncio as asyncio

from benchlib import alloc_per, us_of
from monitoring import clock
from monitoring.sources import Counters
from monitoring.syslog_handler import AdafruitHandler, SyslogSender, check
from mplogging import logging


def rate(fn, n):
    return n * 1000000 / us_of(fn, n)


sender = SyslogSender(Counters(), check({"host": "127.0.0.1", "port": 9, "transport": "tcp",
                                         "framing": "octet", "app_name": "bench"}),
                      hostname="pico-1")
q = sender.queue
MSG = "request 1234 served in 12 ms, status ok"


def logged(n):
    # what a handler does for one record (format + queue), minus the network
    for _ in range(n):
        sender.log(20, "http", MSG)
        q.clear()  # what the sender frees later: not this record's cost


seq = [0]


def naive_log(n):
    for _ in range(n):
        seq[0] += 1
        ns = clock.unix_ns()
        t = clock.utc_fields(ns)
        ts = "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % t
        text = MSG.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        line = ("<" + str(3 * 8 + 6) + ">1 " + ts + " " + "pico-1" + " " + "bench" + " - "
                + "http" + ' [meta sequenceId="' + str(seq[0]) + '"] ' + text)
        data = line.encode()[:2048]
        frame = str(len(data)).encode() + b" " + data


print("logged_alloc_per_msg", alloc_per(logged, 1000))
print("naive_alloc_per_msg", alloc_per(naive_log, 1000))
print("logged_msgs_per_s", rate(logged, 5000))
print("naive_msgs_per_s", rate(naive_log, 5000))

# through the logging module: adafruit_logging (CircuitPython)
log = logging.getLogger("bench")
log.setLevel(logging.INFO)
h = AdafruitHandler(sender)
log.addHandler(h)


def filtered(n):
    for _ in range(n):
        log.debug("dropped")


def filtered_args(n):
    for _ in range(n):
        log.debug("value %d", 42)


def through_logger(n):
    for _ in range(n):
        log.info(MSG)
        q.clear()


rec = logging.LogRecord("bench", logging.INFO, "INFO", MSG, 0.0, ())


def below_handler(n):
    # the handler's part for a record under its own level: count only
    for _ in range(n):
        h.emit(rec)


print("filtered_alloc_per_record", alloc_per(filtered, 1000))
print("filtered_args_alloc_per_record", alloc_per(filtered_args, 1000))
print("logger_alloc_per_msg", alloc_per(through_logger, 1000))
h.setLevel(logging.ERROR)
print("below_handler_alloc_per_record", alloc_per(below_handler, 1000))
log.removeHandler(h)

if len(sys.argv) > 2:
    port = int(sys.argv[1])
    count = int(sys.argv[2])

    async def throughput():
        s = SyslogSender(Counters(), check({"host": "127.0.0.1", "port": port, "transport": "tcp",
                                            "framing": "octet", "app_name": "bench"}),
                         hostname="pico-1")
        s.start()
        log2 = logging.getLogger("tput")
        log2.setLevel(logging.INFO)
        log2.addHandler(AdafruitHandler(s))
        await asyncio.sleep_ms(50)
        t0 = time.ticks_ms()
        for i in range(count):
            log2.info("message %d of the throughput run", i)
            if i % 10 == 9:
                await asyncio.sleep_ms(0)
        while s.queue.used:
            await asyncio.sleep_ms(1)
        dt = time.ticks_diff(time.ticks_ms(), t0)
        c = s.counters
        print("tput_msgs", c.log_sent)
        print("tput_dropped", c.log_dropped)
        print("tput_ms", dt)
        print("tput_msgs_per_s", c.log_sent * 1000 / dt)
        s.stop()

    asyncio.run(throughput())
