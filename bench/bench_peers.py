"""The project against what a user would pick instead, on the same work in
the same run (bench/mp/peers_bench.py writes the baselines, after what
those libraries do): the line encoder against a format-string encoder,
Influx over HTTP to a real InfluxDB against a requests-style writer (one
blocking POST per flush), syslog over UDP to a real rsyslog against a bare
"<PRI>msg" client. Ratios are ours / theirs."""

import time

from common import report, run_mp
from peers import InfluxDB, Rsyslog, wait_until

ROUNDS = 100  # flushes of 20 points
RECORDS = 20000
# the bare client's paced rates (records/s)
PACED = (200000, 150000, 120000, 100000, 80000, 60000, 50000, 40000)


def main():
    rows = []
    e = run_mp("peers_bench.py", args=["encode"])
    rows += [
        ("line encoder, points/s", e["ours_points_per_s"], "pt/s", "", None),
        ("  format-string encoder, points/s", e["fmt_points_per_s"], "pt/s", "baseline", None),
        ("  ratio", e["ours_points_per_s"] / e["fmt_points_per_s"], "x", "goal >= 1",
         e["ours_points_per_s"] >= e["fmt_points_per_s"]),
        ("  bytes per 20-point flush, ours / format-string", e["ours_alloc_per_flush"], "B",
         "/ %d B" % e["fmt_alloc_per_flush"], None),
    ]
    influx = InfluxDB().start()
    try:
        influx.create_db("bench_peers")
        r = run_mp("peers_bench.py", args=["influx", str(influx.http_port), "bench_peers", str(ROUNDS)])
    finally:
        influx.cleanup()
    ratio = r["ours_points_per_s"] / max(r["requests_points_per_s"], 1)
    rows += [
        ("Influx over HTTP to InfluxDB, points/s", r["ours_points_per_s"], "pt/s",
         "%d sent, %d dropped" % (r["ours_points"], r["ours_dropped"]), None),
        ("  requests-style writer, points/s", r["requests_points_per_s"], "pt/s",
         "baseline, %d stored" % r["requests_points"], None),
        ("  ratio", ratio, "x", "goal >= 1", ratio >= 1),
    ]
    syslog = Rsyslog().start()
    try:
        s = run_mp("peers_bench.py", args=["syslog", str(syslog.udp_port), str(RECORDS)])
        wait_until(lambda: len(syslog.lines()) >= 2 * RECORDS, 15)
        time.sleep(1)
        lines = syslog.lines()
        p = run_mp("peers_bench.py", args=["paced", str(syslog.udp_port), str(RECORDS),
                                           ",".join(str(r) for r in PACED)])
        time.sleep(1)
        paced = syslog.lines()[len(lines):]
    finally:
        syslog.cleanup()
    got_ours = sum(1 for ln in lines if ln["app"] == "ours")
    got_bare = sum(1 for ln in lines if ln["app"] == "bare")
    rows += [
        ("syslog over UDP to rsyslog, records/s", s["ours_per_s"], "rec/s",
         "%d of %d received, %d dropped (counted)" % (got_ours, RECORDS, s["ours_dropped"]), None),
        ("  bare <PRI>msg client, records/s", s["bare_per_s"], "rec/s",
         "baseline, %d of %d received" % (got_bare, RECORDS), None),
        ("  lost (neither received nor counted), ours / bare",
         RECORDS - got_ours - s["ours_dropped"], "", "/ %d" % (RECORDS - got_bare), None),
    ]
    # the bare client's rate at 0 loss: the fastest paced rate that lost
    # none, it and every slower one (rsyslog's losses come and go from run
    # to run; ours loses none at its full speed: that is its rate at 0 loss)
    bare0 = 0
    kept = True
    for r in reversed(PACED):
        got = sum(1 for ln in paced if ln["app"] == "bare%d" % r)
        rows.append(("  bare client paced at %d rec/s: sent at / received" % r,
                     p["paced_%d_per_s" % r], "rec/s", "%d of %d" % (got, RECORDS), None))
        kept = kept and got == RECORDS
        if kept:
            bare0 = p["paced_%d_per_s" % r]
    ours0 = s["ours_per_s"] if got_ours + s["ours_dropped"] == RECORDS and not s["ours_dropped"] else 0
    rows.append(("  at 0 loss, ours / bare (fastest paced rate, it and slower ones lossless)", ours0 / max(bare0, 1),
                 "x", "%d / %d rec/s, goal >= 1" % (ours0, bare0), ours0 >= bare0 > 0))
    report("Against the alternatives (Unix port, same run)", rows)


if __name__ == "__main__":
    main()
