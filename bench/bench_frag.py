"""Fragmentation: the largest block the application can still allocate
after the monitoring lived through 1000 Influx flushes and 1000 syslog
records with their server down (refused connects, backoffs) and 100
connections to each of the control and trace ports, against the same
application with the monitoring idle and without it, in the same run
(bench/mp/frag_bench.py; 256 KB heap, lib as .mpy)."""

from common import report, run_mp
from peers import free_port


def main():
    none = run_mp("frag_bench.py", heapsize="256k", args=["none"])
    calm = run_mp("frag_bench.py", heapsize="256k", args=["calm", str(free_port()), str(free_port())])
    out = run_mp("frag_bench.py", heapsize="256k", args=["all", str(free_port()), str(free_port())])
    share = out["largest_block"] / calm["largest_block"]
    report("Fragmentation (Unix port, 256 KB heap)", [
        ("largest block, application alone", none["largest_block"], "B",
         "of %d B free" % none["free_bytes"], None),
        ("largest block, beside the four capabilities, idle", calm["largest_block"], "B",
         "of %d B free" % calm["free_bytes"], None),
        ("largest block, after the outages", out["largest_block"], "B",
         "of %d B free" % out["free_bytes"], None),
        ("  share of the idle figure", share * 100, "%", "goal >= 90", share >= 0.9),
        ("  points dropped / records dropped (counted)", out["points_dropped"], "",
         "/ %d" % out["log_dropped"], None),
    ])


if __name__ == "__main__":
    main()
