"""Control socket budgets: what an idle server costs per poll
(allocation and time, against a bare ``time.ticks_ms()`` call measured in the
same run), what one command costs, and the resident heap of the package with
the control server."""

from common import report, run_mp
from peers import free_port  # host_tests/, on the path by common


def main():
    r = run_mp("control_bench.py", args=[str(free_port())])
    res = run_mp("resident_bench.py", heapsize="256k", args=["control"])
    rows = [
        ("idle poll (no client), bytes per 100 polls", r["idle_step_alloc_100"], "B", "goal 0",
         r["idle_step_alloc_100"] == 0),
        ("idle poll, time", r["idle_step_us"], "us", "", None),
        ("  time.ticks_ms() call", r["ticks_call_us"], "us", "baseline", None),
        ("idle poll vs ticks_ms() call", r["idle_step_us"] / r["ticks_call_us"], "x", "", None),
        ("  idle CPU at 50 polls/s", r["idle_step_us"] * 50 / 1e4, "%", "goal < 0.1 %",
         r["idle_step_us"] * 50 / 1e4 < 0.1),
        ("idle poll, 2 silent clients, bytes per 100 polls", r["idle2_step_alloc_100"], "B",
         "goal 0", r["idle2_step_alloc_100"] == 0),
        ("idle poll, 2 silent clients, time", r["idle2_step_us"], "us", "", None),
    ]
    for name, cmd in (("m", "m"), ("mstar", "m*  (8 sources)"),
                      ("Mset", "M*:disable,tag:t1:enable,src3:on"), ("bad", "Mnosuch:on")):
        rows.append(("command %s: bytes allocated" % cmd, r["exec_%s_alloc" % name], "B", "", None))
        rows.append(("command %s: time" % cmd, r["exec_%s_us" % name], "us", "", None))
    rows += [
        ("m* over 1000 sources, reply length", r["mstar1000_reply_bytes"], "B", "", None),
        ("  bytes allocated, made whole (baseline)", r["mstar1000_whole_alloc"], "B", "", None),
        ("  bytes allocated, sent as made (128 B buffer)", r["mstar1000_streamed_alloc"], "B",
         "short-lived: a memoryview per name", None),
        ("server object, 2 client slots, bound", r["server_bytes"], "B", "", None),
        ("resident heap: package + control server, idle", res["resident_bytes"], "B",
         "whole project goal 10 KB", None),
        ("  of which code loaded from .mpy", res["import_bytes"], "B", "in flash when frozen", None),
        ("  of which running state (incl. logging module)", res["state_bytes"], "B",
         "start() imports the logging module", None),
    ]
    report("Control socket (Unix port)", rows)


if __name__ == "__main__":
    main()
