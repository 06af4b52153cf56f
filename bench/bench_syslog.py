"""Syslog budgets: allocation of a filtered-out record and
of a logged record versus a naive format-with-concatenation formatter run
alongside, and messages per second from the Unix port to a real rsyslog
over TCP with 0 loss."""

import os
import time

from common import MicroPython, report, run_mp
from mpy import MPLIB  # host_tests/, on the path by common
from peers import Rsyslog, wait_until

COUNT = 20000


def mplib_figures():
    """micropython-lib logging's figures, when a fetched copy is present."""
    if not os.path.exists(os.path.join(MPLIB, "logging.py")):
        return None
    return run_mp("syslog_mplib_bench.py", env={"MICROPYPATH": MicroPython().path + ":" + MPLIB})


def main():
    r = Rsyslog().start()
    try:
        res = run_mp("syslog_bench.py", args=[str(r.tcp_port), str(COUNT)])
        wait_until(lambda: len(r.lines()) >= COUNT, 30)
        time.sleep(0.5)
        received = len(r.lines())
        drains = {}
        for t, port in (("udp", r.udp_port), ("tcp", r.tcp_port)):
            drains.update(run_mp("drain_bench.py", heapsize="1m", args=[t, str(port)]))
    finally:
        r.cleanup()
    ml = mplib_figures()
    res.update(run_mp("resident_bench.py", heapsize="256k", args=["syslog"]))
    ratio = res["naive_alloc_per_msg"] / max(res["logged_alloc_per_msg"], 1)
    speed = res["logged_msgs_per_s"] / res["naive_msgs_per_s"]
    lost = COUNT - received
    report("Syslog (Unix port)", [
        ("filtered-out record (adafruit_logging), B", res["filtered_alloc_per_record"], "B",
         "library's cost", None),
        ("  same, with a %d argument, B", res["filtered_args_alloc_per_record"], "B",
         "library formats first", None),
        ("record below the handler's level (emit), B", res["below_handler_alloc_per_record"],
         "B", "goal 0", res["below_handler_alloc_per_record"] == 0),
        ("logged record: format + queue, B per msg", res["logged_alloc_per_msg"], "B",
         "goal <= 64", res["logged_alloc_per_msg"] <= 64),
        ("  naive concatenating formatter, B per msg", res["naive_alloc_per_msg"], "B",
         "baseline", None),
        ("  allocation ratio naive / ours", ratio, "x", "", None),
        ("logged record through adafruit_logging, B", res["logger_alloc_per_msg"], "B",
         "incl. the library", None),
        ("format + queue msgs/s", res["logged_msgs_per_s"], "msg/s", "", None),
        ("  naive formatter msgs/s", res["naive_msgs_per_s"], "msg/s", "baseline", None),
        ("  speed ratio ours / naive", speed, "x", "", None),
        ("to rsyslog over TCP, msgs/s", res["tput_msgs_per_s"], "msg/s", "goal >= 2000",
         res["tput_msgs_per_s"] >= 2000 and lost == 0),
        ("  messages logged / received by rsyslog", COUNT, "", "received %d, lost %d, "
         "dropped %d" % (received, lost, res["tput_dropped"]), lost == 0),
        ("resident heap: package + syslog, idle", res["resident_bytes"], "B",
         "incl. adafruit_logging", None),
        ("  of which code loaded from .mpy", res["import_bytes"], "B", "in flash when frozen",
         None),
    ] + [
        ("draining a full %d KB queue, %s, us per message" % (kb, t),
         drains["drain_%s_%dk_us_per_msg" % (t, kb)], "us",
         "%d messages; flat is linear" % drains["drain_%s_%dk_msgs" % (t, kb)], None)
        for t in ("udp", "tcp") for kb in (1, 16, 64, 256)
    ] + [
        ("  bytes allocated per message sent, %d KB, %s" % (kb, t),
         drains["drain_%s_%dk_alloc_per_msg" % (t, kb)], "B",
         "a datagram's memoryview" if t == "udp" else "connected", None)
        for t in ("udp", "tcp") for kb in (1, 256)
    ] + [
        ("  bytes allocated per record sent as it comes, %s" % t, drains["one_%s_alloc_per_msg" % t],
         "B", "%d of %d sent, %d waited for room" % (
             drains["one_%s_sent" % t], drains["one_%s_queued" % t], drains["one_%s_waited" % t]),
         None)
        for t in ("udp", "tcp")
    ] + ([] if ml is None else [
        ("filtered-out record (micropython-lib logging), B",
         ml["mplib_filtered_alloc_per_record"], "B", "the *args call (library)", None),
        ("logged record through micropython-lib logging, B", ml["mplib_logged_alloc_per_record"],
         "B", "incl. the library's msg % args", None),
    ]))
    if ml is None:
        print("  (micropython-lib logging figures skipped: %s/logging.py absent)" % MPLIB)


if __name__ == "__main__":
    main()
