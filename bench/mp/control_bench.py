# Control socket budgets on the Unix port: cost of one idle poll of the
# server, allocation and speed of command execution.
import gc
import sys
import time

from benchlib import alloc_of, us_of
from monitoring.control import execute
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


def run(cmd, n):
    for _ in range(n):
        execute(cmd, None, reg)


for name, cmd in (("m", b"m"), ("mstar", b"m*"), ("Mset", b"M*:disable,tag:t1:enable,src3:on"),
                  ("bad", b"Mnosuch:on")):
    run(cmd, 10)
    print("exec_%s_alloc" % name, alloc_of(run, cmd, 1))
    print("exec_%s_us" % name, us_of(run, cmd, 1000) / 1000)
srv.stop()
