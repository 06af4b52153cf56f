# Influx budgets on the Unix port: allocation per update, per flush, encoder speed.
import time

from benchlib import alloc_of, numeric_sources
from monitoring.influx import InfluxReporter, check
from monitoring.metrics import Registry, Source
from monitoring.sources import Counters


reg = Registry()
src = Source("app", tags=("demo",), labels={"room": "hall"}, registry=reg)
src.incr("requests")
src.set("temperature", 21)
src.set("level", 3)


def updates(n):
    for _ in range(n):
        src.incr("requests")
        src.set("level", 7)


updates(100)
print("update_alloc_10k", alloc_of(updates, 10000))

# 20 points: 20 sources of 5 int fields + 2 floats + 1 string
points = numeric_sources(reg, 20, lambda s, i: s.set("state", "ok"))

reg.remove("app")
reg.set_host("pico-1")
rep = InfluxReporter(reg, Counters(), check({"host": "127.0.0.1", "port": 9, "transport": "udp",
                                            "buffer_bytes": 8192}))


def flush():
    # what the reporter does every interval, minus the network
    rep.collect()
    rep.queue.consume(rep.queue.used)


flush()
print("flush20_alloc", alloc_of(flush))


def naive_line(s, host, ts):
    def esc(x):
        return x.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")

    parts = []
    for k, v in s.fields.items():
        if type(v) is int:
            parts.append(esc(k) + "=" + str(v) + "i")
        elif type(v) is float:
            parts.append(esc(k) + "=" + repr(v))
        elif type(v) is bool:
            parts.append(esc(k) + "=" + ("true" if v else "false"))
        else:
            parts.append(esc(k) + '="' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')
    tags = ",".join(esc(k) + "=" + esc(v) for k, v in (("host", host),) + s.labels)
    return (s.name.replace(",", "\\,").replace(" ", "\\ ") + "," + tags + " " + ",".join(parts)
            + ts + "\n").encode()


def naive_flush(ts=" 1700000000000000000"):
    body = b""
    for s in points:
        body += naive_line(s, "pico-1", ts)
    return body


print("naive_flush20_alloc", alloc_of(naive_flush))
ROUNDS = 100


def timed(fn):
    t0 = time.ticks_us()
    for _ in range(ROUNDS):
        fn()
    return time.ticks_diff(time.ticks_us(), t0)


# interleaved, best of 5 each: the machine may be busy with other work
t_enc = t_naive = 1 << 30
for _ in range(5):
    t_enc = min(t_enc, timed(flush))
    t_naive = min(t_naive, timed(naive_flush))
print("encoder_points_per_s", int(ROUNDS * 20 * 1000000 / t_enc))
print("naive_points_per_s", int(ROUNDS * 20 * 1000000 / t_naive))
