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


def us_of(fn, *a):
    # microseconds fn(*a) took
    t0 = time.ticks_us()
    fn(*a)
    return time.ticks_diff(time.ticks_us(), t0)
