"""Influx budgets: allocation per metric update, per
flush of 20 points, encoder speed vs a naive concatenating encoder measured
in the same run, and the resident heap of the package with the reporter."""

from common import report, run_mp


def main():
    r = run_mp("influx_bench.py")
    ratio = r["encoder_points_per_s"] / r["naive_points_per_s"]
    res = run_mp("resident_bench.py", heapsize="256k", args=["influx"])
    report("Influx (Unix port)", [
        ("metric update, bytes per 10k updates", r["update_alloc_10k"], "B", "goal 0",
         r["update_alloc_10k"] == 0),
        ("flush of 20 points, bytes allocated", r["flush20_alloc"], "B", "goal <= 1024",
         r["flush20_alloc"] <= 1024),
        ("  naive encoder, same 20 points", r["naive_flush20_alloc"], "B", "baseline", None),
        ("encoder points/s", r["encoder_points_per_s"], "pt/s", "", None),
        ("  naive encoder points/s", r["naive_points_per_s"], "pt/s", "baseline", None),
        ("encoder speed ratio vs naive", ratio, "x", "goal >= 3", ratio >= 3),
        ("resident heap: package + reporter, idle", res["resident_bytes"], "B",
         "whole project goal 10 KB", None),
        ("  of which code loaded from .mpy", res["import_bytes"], "B", "in flash when frozen", None),
        ("  of which running state (buffers, task)", res["state_bytes"], "B", "", None),
    ])


if __name__ == "__main__":
    main()
