# What the bench/mp scripts measure the same way: the heap bytes and the
# time a call costs. Run as files (bench/common.py run_mp, bench_trace.py),
# the scripts have this folder first on their module path.
import gc
import time


def alloc_of(fn, *a):
    # bytes the heap grew by over fn(*a), from a collected heap
    gc.collect()
    before = gc.mem_alloc()
    fn(*a)
    return gc.mem_alloc() - before


def alloc_per(fn, n):
    # bytes per pass of fn(n)'s loop, after fn(10) has warmed it up
    fn(10)
    return alloc_of(fn, n) / n


def alloc_gc_off(fn):
    # (bytes, result) of fn() with the collector off, so that no collection
    # during the call hides what it allocated
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    r = fn()
    after = gc.mem_alloc()
    gc.enable()
    return after - before, r


def numeric_sources(reg, n, more):
    # n sources src0.. labelled room=r0..r2, each with 5 int fields, 2
    # floats, then what more(source, i) sets; returns them
    from monitoring.metrics import Source

    made = []
    for i in range(n):
        s = Source("src%d" % i, labels={"room": "r%d" % (i % 3)}, registry=reg)
        for j in range(5):
            s.set("int%d" % j, i * 1000 + j)
        s.set("f1", 1.5 + i)
        s.set("f2", 0.25)
        more(s, i)
        made.append(s)
    return made


def us_of(fn, *a):
    # microseconds fn(*a) took
    t0 = time.ticks_us()
    fn(*a)
    return time.ticks_diff(time.ticks_us(), t0)
