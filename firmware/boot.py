# Runs before main.py on a board. Collect early and often: a long-running
# firmware fragments the heap less when the collector runs before the heap
# is nearly full (threshold: a quarter of the free heap at boot).
import gc

gc.collect()
gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())
