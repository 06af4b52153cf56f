"""Fragmentation: the largest block the application can still allocate
after the monitoring lived through 1000 Influx flushes and 1000 syslog
records with their server down (refused connects, backoffs) and 100
connections to each of the control and trace ports, against the same
application with the monitoring idle and without it, in the same run
(bench/mp/frag_bench.py; 256 KB heap, lib as .mpy). One small object left
where the heap had reached moves a figure by tens of KB: the idle and the
outage figures are the medians of RUNS runs each, with their ranges."""

from common import report, run_mp
from peers import free_port


RUNS = 5


def median(mode):
    # the run with the median largest block of RUNS, and the range
    runs = sorted((run_mp("frag_bench.py", heapsize="256k",
                          args=[mode, str(free_port()), str(free_port())])
                   for _ in range(RUNS)), key=lambda r: r["largest_block"])
    r = runs[len(runs) // 2]
    r["range"] = "%d-%d" % (runs[0]["largest_block"] // 1024, runs[-1]["largest_block"] // 1024)
    return r


def main():
    none = run_mp("frag_bench.py", heapsize="256k", args=["none"])
    calm = median("calm")
    out = median("all")
    share = out["largest_block"] / calm["largest_block"]
    report("Fragmentation (Unix port, 256 KB heap)", [
        ("largest block, application alone", none["largest_block"], "B",
         "of %d B free" % none["free_bytes"], None),
        ("largest block, beside the four capabilities, idle", calm["largest_block"], "B",
         "of %d B free, %s KB in %d runs" % (calm["free_bytes"], calm["range"], RUNS), None),
        ("largest block, after the outages", out["largest_block"], "B",
         "of %d B free, %s KB in %d runs" % (out["free_bytes"], out["range"], RUNS), None),
        ("  share of the idle figure", share * 100, "%", "goal >= 90", share >= 0.9),
        ("  points dropped / records dropped (counted)", out["points_dropped"], "",
         "/ %d" % out["log_dropped"], None),
    ])


if __name__ == "__main__":
    main()
