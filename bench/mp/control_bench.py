# Control socket budgets on the Unix port: cost of one idle poll of the
# server, allocation and speed of command execution.
import gc
import sys
import time

from benchlib import alloc_of, us_of
from monitoring.control import execute, run as run_cmd
from monitoring.control_server import ControlServer, check
from monitoring.metrics import Registry, Source

port = int(sys.argv[1])


reg = Registry()
for i in range(8):
    Source("src%d" % i, tags=("t%d" % (i % 3),), registry=reg)

section = check({"port": port, "addr": "127.0.0.1"})  # the checking code outside the count
gc.collect()
before = gc.mem_alloc()
srv = ControlServer(reg, None, section)
srv.bind()
gc.collect()
print("server_bytes", gc.mem_alloc() - before)  # start() without a loop: drive step() directly


def steps(n):
    for _ in range(n):
        srv.step()


def empty(n):
    for _ in range(n):
        time.ticks_ms()


steps(10)
print("idle_step_alloc_100", alloc_of(steps, 100))
print("idle_step_us", us_of(steps, 1000) / 1000)
print("ticks_call_us", us_of(empty, 1000) / 1000)


# two connected clients that say nothing
import socket

peers = []
for _ in range(2):
    k = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    k.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    peers.append(k)
steps(20)
assert srv.clients[0].sock is not None and srv.clients[1].sock is not None
print("idle2_step_alloc_100", alloc_of(steps, 100))
print("idle2_step_us", us_of(steps, 1000) / 1000)
for k in peers:
    k.close()


obuf = bytearray(128)


def run(cmd, n):
    # as the server runs a command: a list is written through obuf
    for _ in range(n):
        r = run_cmd(cmd, None, reg)
        if not isinstance(r, str):
            while r.fill(obuf):
                pass


for name, cmd in (("m", b"m"), ("mstar", b"m*"), ("Mset", b"M*:disable,tag:t1:enable,src3:on"),
                  ("bad", b"Mnosuch:on")):
    run(cmd, 10)
    print("exec_%s_alloc" % name, alloc_of(run, cmd, 1))
    print("exec_%s_us" % name, us_of(run, cmd, 1000) / 1000)

# m* over 1000 sources: the reply made whole (execute) against made as it
# is sent, through a 128-byte buffer as the server sends it (every byte
# allocated counted, the collector off)
from benchlib import alloc_gc_off

big = Registry()
for i in range(1000):
    Source("greenhouse-sensor-%04d" % i, registry=big)


def whole():
    return len(execute(b"m*", None, big)) + 1


def streamed():
    r = run_cmd(b"m*", None, big)
    n = 0
    while True:
        k = r.fill(obuf)
        if not k:
            return n
        n += k


whole()
streamed()
a, n = alloc_gc_off(whole)
print("mstar1000_whole_alloc", a)
a, m = alloc_gc_off(streamed)
assert m == n
print("mstar1000_streamed_alloc", a)
print("mstar1000_reply_bytes", n)
srv.stop()
