"""Trace budgets: allocation of the idle listener (vs the bare
event loop measured in the same run), per sample at 10 Hz with a client
reading, per region enter/exit with the ``regions`` metrics source on, and
the region's time cost vs a plain ``with`` of a trivial context manager.
Run with ``-X heapsize=128k`` (a board-sized heap): ``gc.mem_alloc()`` scans
the heap's allocation table, so its cost grows with the heap."""

import os
import socket
import threading

from common import HERE, MicroPython, read_line, report
from peers import free_port  # host_tests/, on the path by common


def main():
    port = free_port()
    mp = MicroPython()
    # the file itself, not a copy: its folder (bench/mp/benchlib.py) is on its path
    p = mp.spawn_script(os.path.join(HERE, "mp", "trace_bench.py"), heapsize="128k",
                        args=[str(port)])
    out = {}
    client = None
    stop = threading.Event()
    try:
        for line in p.stdout:
            parts = read_line(line, out)
            if parts and parts[0] == "CONNECT":
                client = socket.create_connection(("127.0.0.1", port))

                def reader(s=client):
                    s.settimeout(0.5)
                    while not stop.is_set():
                        try:
                            if not s.recv(65536):
                                return
                        except socket.timeout:
                            pass
                        except OSError:
                            return

                threading.Thread(target=reader, daemon=True).start()
            if parts and parts[0] == "DONE":
                break
        p.wait(timeout=60)
    finally:
        stop.set()
        if client is not None:
            client.close()
        if p.poll() is None:
            p.kill()
            p.wait()
    ratio = out["region_us_per_pass"] / out["plain_with_us_per_pass"]
    report("Trace port (Unix port)", [
        ("event loop alone, bytes/s", out["baseline_idle_Bps"], "B/s", "baseline", None),
        ("tracing idle (no client), bytes/s", out["idle_Bps"], "B/s", "goal 0",
         out["idle_Bps"] <= out["baseline_idle_Bps"]),
        ("tracing active 10 Hz, bytes per sample", out["active_B_per_sample"], "B",
         "goal <= 64", out["active_B_per_sample"] <= 64),
        ("  samples in the 5 s window", out["active_samples"], "", "", None),
        ("  lines dropped", out["active_dropped"], "", "", None),
        ("region enter/exit, metrics on, B per 1000", out["region_alloc_1000"], "B",
         "goal 0", out["region_alloc_1000"] == 0 and out["regions_source_active"] == 1),
        ("region enter/exit, monitoring off, B per 1000", out["region_off_alloc_1000"], "B",
         "goal 0", out["region_off_alloc_1000"] == 0),
        ("region pass, us", out["region_us_per_pass"], "us", "", None),
        ("  of which 2 x gc.mem_alloc() (scans the heap), us", 2 * out["mem_alloc_us"], "us",
         "", None),
        ("region pass, monitoring off, us", out["region_off_us_per_pass"], "us", "", None),
        ("  plain `with` of a trivial manager, us", out["plain_with_us_per_pass"], "us",
         "baseline", None),
        ("region cost ratio vs plain with", ratio, "x", "", None),
    ])


if __name__ == "__main__":
    main()
