"""Battery nodes: the demo firmware in its ``sleep_s`` mode on the Unix port,
20 wake/deep-sleep cycles against a real InfluxDB (HTTP) and rsyslog (TCP):
the time awake per cycle (the firmware's start to its deep sleep, and the
process's start to its exit), the bytes sent per cycle, and the idle
wake-ups per second of the listeners when they are on (each one a board's
CPU kept out of light sleep)."""

import json
import os
import subprocess
import sys
import tempfile
import time

from common import ROOT, report, run_mp
from peers import InfluxDB, Rsyslog

sys.path.insert(0, os.path.join(ROOT, "tools"))
import run_demo  # noqa: E402
from mpy import MicroPython  # noqa: E402

CYCLES = 20
DEEPSLEEP_EXIT = 4


def cycles(mp, influx, syslog, work):
    state = os.path.join(work, "state")
    os.makedirs(state)
    cfg = {"hostname": "battery", "log_level": "info", "sleep_s": 60, "trace": None,
           "control": None, "sources": {"net": False}, "crash": {},
           "influx": {"transport": "http", "host": "127.0.0.1", "port": influx.http_port,
                      "db": "bench", "interval_s": 3600, "precision": "ms"},
           "syslog": {"transport": "tcp", "host": "127.0.0.1", "port": syslog.tcp_port}}
    path = os.path.join(work, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    env = run_demo.firmware_env(mp, path)
    env["MONITORING_STATE"] = state
    awake, wall, sent = [], [], []
    for _ in range(CYCLES):
        t0 = time.monotonic()
        p = subprocess.run([mp.binary, "-X", "heapsize=256k",
                            os.path.join(ROOT, "firmware", "main.py")],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
        wall.append((time.monotonic() - t0) * 1000)
        if p.returncode != DEEPSLEEP_EXIT:
            raise SystemExit("cycle failed (exit %d): %s" % (p.returncode, p.stdout[-2000:]))
        line = [x for x in p.stdout.splitlines() if x.startswith("CYCLE ")][0]
        f = dict(w.split("=") for w in line.split()[2:])
        if f["left"] != "0" or f["dropped"] != "0":
            raise SystemExit("cycle left or dropped points: " + line)
        awake.append(int(f["awake_ms"]))
        sent.append(int(f["bytes"]))
    return awake, wall, sent


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def main():
    mp = MicroPython()
    work = tempfile.mkdtemp(prefix="bench-battery-")
    influx = InfluxDB(os.path.join(work, "influxdb"))
    syslog = Rsyslog(os.path.join(work, "rsyslog"))
    os.makedirs(influx.dir, exist_ok=True)
    os.makedirs(syslog.dir, exist_ok=True)
    try:
        influx.start()
        influx.create_db("bench")
        syslog.start()
        awake, wall, sent = cycles(mp, influx, syslog, work)
        stored = len(influx.rows("bench", "demo"))
        records = len([x for x in syslog.lines() if x["msg"].startswith("cycle ")])
    finally:
        influx.cleanup()
        syslog.cleanup()
    w = run_mp("wakeups_bench.py", heapsize="256k", args=["3"])
    rows = [
        ("cycles, points and records stored", CYCLES, "", "%d points, %d records" % (stored, records),
         stored >= CYCLES and records == CYCLES),
        ("awake per cycle, firmware start to sleep, median", median(awake), "ms",
         "max %d ms" % max(awake), None),
        ("awake per cycle, process start to exit, median", int(median(wall)), "ms",
         "max %d ms" % max(wall), None),
        ("bytes sent per cycle (Influx HTTP + syslog TCP), median", median(sent), "B",
         "max %d B" % max(sent), None),
    ]
    for name in ("control", "trace", "prometheus"):
        rows.append(("idle wake-ups of the %s listener" % name, w["%s_wakeups_per_s" % name],
                     "/s", "", None))
    rows.append(("idle wake-ups of the three listeners", w["listeners_wakeups_per_s"], "/s",
                 "", None))
    report("battery nodes (Unix port, real InfluxDB and rsyslog)", rows)


if __name__ == "__main__":
    main()
