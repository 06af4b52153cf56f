"""Whole-system budgets: resident heap
per capability, steady-state allocation, loop latency under a control-port
flood against a no-monitoring baseline, and the .mpy size per board arch.
Real InfluxDB (UDP) and rsyslog (TCP) on loopback are the sinks."""

import os
import random
import socket
import subprocess
import threading
import time

from common import ROOT, report, run_mp
from peers import InfluxDB, Rsyslog, free_port


def resident():
    rows = []
    for cap in ("influx", "control", "syslog", "trace", "prometheus", "all"):
        r = run_mp("resident_bench.py", heapsize="256k", args=[cap])
        if cap == "influx":
            rows.append(("resident heap: package + start(), no capability", r["base_bytes"], "B", "", None))
        what = "all four (influx, control, syslog, trace)" if cap == "all" else cap
        rows.append(("resident heap, %s idle" % what, r["resident_bytes"], "B",
                     "goal <= 10240" if cap == "all" else "",
                     r["resident_bytes"] <= 10240 if cap == "all" else None))
        rows.append(("  its code from .mpy / its running state", r["import_bytes"], "B",
                     "/ %d B" % r["state_bytes"], None))
        if cap == "all":
            rows.append(("  running state alone (code frozen into flash)", r["state_bytes"],
                         "B", "goal <= 10240", r["state_bytes"] <= 10240))
    # the same with both queues at 1 KB (influx.buffer_bytes, syslog.queue_bytes): what the
    # rest of the project takes beside the 4 KB defaults the Influx and syslog queues start with
    r = run_mp("resident_bench.py", heapsize="256k", args=["all", "1024"])
    rows.append(("resident heap, all four idle, both queues 1 KB", r["resident_bytes"], "B",
                 "goal <= 10240", r["resident_bytes"] <= 10240))
    rows.append(("  running state alone, both queues 1 KB", r["state_bytes"], "B",
                 "goal <= 10240", r["state_bytes"] <= 10240))
    # the library in place from a ROMFS image (as on a board with a ROMFS
    # partition): its bytecode and constants stay in flash
    subprocess.run(["make", "--no-print-directory", "romfs", "BOARD=unix"], cwd=ROOT, check=True,
                   capture_output=True)
    env = {"ROMFS_IMAGE": os.path.join(ROOT, "build", "unix", "romfs.img")}
    for cap in ("influx", "control", "syslog", "trace", "prometheus", "all"):
        r = run_mp("resident_bench.py", heapsize="256k", args=[cap], env=env)
        what = "all four" if cap == "all" else cap
        rows.append(("resident heap, %s idle, lib in ROMFS" % what, r["resident_bytes"], "B",
                     "", None))
    r = run_mp("resident_bench.py", heapsize="256k", args=["all", "1024"], env=env)
    rows.append(("resident heap, all four idle, lib in ROMFS, both queues 1 KB", r["resident_bytes"],
                 "B", "", None))
    return rows


def smallest_heaps():
    """The smallest -X heapsize (to 2 KB) on which the four capabilities of
    the seed start and idle, by how the library is loaded: from .py (what
    mip installs by default: compiled on the board at import), from .mpy,
    and in place from a ROMFS image."""
    from mpy import LIB, MicroPython, compiled_lib

    mp = MicroPython()
    script = os.path.join(ROOT, "bench", "mp", "resident_bench.py")
    image = os.path.join(ROOT, "build", "unix", "romfs.img")  # resident() made it

    def runs(kb, lib, extra):
        env = mp.env(extra)
        env["MICROPYPATH"] = env["MICROPYPATH"].replace(LIB, lib)
        p = subprocess.run([mp.binary, "-X", "heapsize=%dk" % kb, script, "all"], env=env,
                           capture_output=True, text=True, timeout=120)
        return p.returncode == 0 and "resident_bytes" in p.stdout

    rows = []
    for what, lib, extra in (("from .py (mip's default)", LIB, None),
                             ("from .mpy", compiled_lib(), None),
                             ("in place from ROMFS", compiled_lib(), {"ROMFS_IMAGE": image})):
        lo, hi = 16, 512
        while hi - lo > 2:
            mid = (lo + hi) // 2
            if runs(mid, lib, extra):
                hi = mid
            else:
                lo = mid
        if extra:
            # the Unix port holds the image in its heap; a board, in flash
            hi -= os.path.getsize(image) // 1024
        rows.append(("smallest heap, all four idle, lib %s" % what, hi, "KB",
                     "(less the image, in flash on a board)" if extra else "", None))
    return rows


# lib/'s modules by what a board loads them for (a module shared by several
# parts is counted once, in the first)
PARTS = (
    # options: the sections' checks, which every start() runs
    ("base (package, registry, built-in sources)", ("__init__", "options", "metrics", "sources",
                                                    "compat", "clock", "backoff", "netio",
                                                    "linequeue")),
    ("Influx", ("influx", "lineproto")),
    ("syslog", ("syslog_handler", "syslog", "syslog_cpython")),
    ("control", ("control_server", "control", "logbackend", "listener")),
    ("trace", ("trace", "tracesession", "tracefmt", "regions")),
    ("Prometheus + net/asyncio sources", ("prometheus", "promfmt", "netsources")),
    ("config (the firmware's, at boot)", ("config", "boardsettings")),
    ("CircuitPython's time (loaded there alone)", ("circuitpy",)),
    ("CircuitPython's socket pools (loaded there alone)", ("netpool",)),
    ("syslog over RELP (loaded for transport relp)", ("relp_sender", "relp")),
    ("crash reports and Monitor.flush", ("crash", "crashfmt", "crashboot", "flush")),
)
SEED_PARTS = 5  # base and the four capabilities of the seed


def _build(board, opt):
    subprocess.run(["make", "--no-print-directory", "mpy", "BOARD=" + board, "OPT=%d" % opt],
                   cwd=ROOT, check=True, capture_output=True)
    d = os.path.join(ROOT, "build", board, "lib", "monitoring")
    return {f[:-4]: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".mpy")}


def mpy_sizes():
    rows = []
    for board in ("esp32", "rp2_pico_w"):
        sizes = _build(board, 0)
        total = sum(sizes.values())
        rows.append((".mpy total for lib/, %s" % board, total, "B", "goal <= 24576", total <= 24576))
    seen = set()
    seed = 0
    for i, (part, mods) in enumerate(PARTS):
        n = sum(sizes.get(m, 0) for m in mods if m not in seen)
        seen.update(mods)
        if i < SEED_PARTS:
            seed += n
        rows.append(("  %s" % part, n, "B", "", None))
    rows.append(("  base + the four capabilities of the seed", seed, "B", "", None))
    rest = sum(v for k, v in sizes.items() if k not in seen)
    if rest:
        rows.append(("  modules not in a part above", rest, "B", "", None))
    o3 = sum(_build(board, 3).values())
    _build(board, 0)
    rows.append((".mpy total, make mpy OPT=3 (no line numbers)", o3, "B",
                 "%.0f %% less" % (100.0 * (total - o3) / total), None))
    return rows


def flood(port, stop):
    """Up to 4 clients sending valid, invalid, oversized and half commands."""
    rnd = random.Random(7)
    cmds = [b"l*\n", b"m*\n", b"M*:enable\n", b"Lbogus\n", b"x" * 600 + b"\n", b"L*:info\n", b"m"]
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                s.settimeout(1)
                for _ in range(20):
                    s.sendall(rnd.choice(cmds))
                    try:
                        s.recv(4096)
                    except socket.timeout:
                        pass
        except OSError:
            time.sleep(0.01)


def trace_reader(port, stop):
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                s.settimeout(1)
                while not stop.is_set() and s.recv(4096):
                    pass
        except OSError:
            time.sleep(0.05)


def main():
    influx = InfluxDB().start()
    syslog = Rsyslog().start()
    try:
        rows = resident() + smallest_heaps()
        control, trace = free_port(), free_port()
        args = [str(influx.udp_port), str(syslog.tcp_port), str(control), str(trace)]
        st = run_mp("system_bench.py", heapsize="256k", args=["steady"] + args)
        rows += [
            ("steady state, bytes/s between flushes", st["quiet_bytes_per_s"], "B/s", "goal 0",
             st["quiet_bytes_per_s"] == 0),
            ("steady state, bytes per flush (built-ins + 10)", st["bytes_per_flush"], "B",
             "goal <= 1024", st["bytes_per_flush"] <= 1024),
        ]
        # three runs of each, interleaved; the median of the worst delays,
        # so one hiccup of a shared machine does not decide
        bases, busys = [], []
        for _ in range(3):
            bases.append(run_mp("system_bench.py", heapsize="256k", args=["latency", "none"]))
            control, trace = free_port(), free_port()
            args = [str(influx.udp_port), str(syslog.tcp_port), str(control), str(trace)]
            stop = threading.Event()
            helpers = [threading.Thread(target=flood, args=(control, stop), daemon=True) for _ in range(4)]
            helpers.append(threading.Thread(target=trace_reader, args=(trace, stop), daemon=True))
            for t in helpers:
                t.start()
            try:
                busys.append(run_mp("system_bench.py", heapsize="256k", args=["latency", "all"] + args))
            finally:
                stop.set()
        base = sorted(bases, key=lambda r: r["worst_late_us"])[1]
        busy = sorted(busys, key=lambda r: r["worst_late_us"])[1]
        extra_ms = (busy["worst_late_us"] - base["worst_late_us"]) / 1000
        rows += [
            ("loop lateness worst (median of 3), no monitoring", base["worst_late_us"] / 1000, "ms",
             "baseline", None),
            ("loop lateness worst (median of 3), all + flood", busy["worst_late_us"] / 1000, "ms", "", None),
            ("  worst above baseline", extra_ms, "ms", "goal <= 2", extra_ms <= 2),
            ("  control commands served during the run", busy["control_commands"], "", "", None),
            ("  mean lateness, baseline / all", base["mean_late_us"] / 1000, "ms",
             "/ %.2f ms" % (busy["mean_late_us"] / 1000), None),
        ]
        rows += mpy_sizes()
        report("Whole system (Unix port)", rows)
    finally:
        influx.stop()
        syslog.stop()
        influx.cleanup()
        syslog.cleanup()


if __name__ == "__main__":
    main()
