"""TLS budgets on the Unix port (mbedTLS), against real peers (rsyslog
over TLS, InfluxDB 1.6 over HTTPS, certificates from openssl): handshake
time, the worst stall of a 10 ms asyncio ticker during handshakes, the
heap at a handshake's peak and per open TLS connection (MicroPython's
heap, and libc's where this port's mbedTLS allocates: counted by
bench/libc_count.c, built with gcc when there is one), bytes allocated per
syslog record and per Influx flush over TLS against plain in the same run,
and the smallest -X heapsize running Influx over HTTPS and syslog over TLS
together."""

import os
import shutil
import subprocess
import sys
import tempfile

from common import HERE, MicroPython, read_line, report
from peers import Certs, InfluxDB, Rsyslog


def libc_counter(tmp):
    """bench/libc_count.c built into ``tmp``; None without gcc."""
    so = os.path.join(tmp, "libc_count.so")
    try:
        subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", so,
                        os.path.join(HERE, "libc_count.c")], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return so


def smallest_heap(mp, args):
    """The smallest -X heapsize (KB, 4 KB steps) at which tls_heap_bench.py
    says OK, and that program's line there."""
    script = os.path.join(HERE, "mp", "tls_heap_bench.py")

    def ok(kb):
        p = mp.script(script, heapsize="%dk" % kb, args=args, timeout=120, check=False)
        return p.returncode == 0 and p.stdout.startswith("OK"), (p.stdout + p.stderr)[-300:]

    lo, hi = 16, 256  # lo fails, hi works
    good, line = ok(hi)
    if not good:
        return None, line
    while hi - lo > 4:
        mid = (lo + hi) // 2 // 4 * 4
        good, out = ok(mid)
        if good:
            hi, line = mid, out
        else:
            lo = mid
    return hi, line


def main():
    certs = Certs()
    tmp = tempfile.mkdtemp(prefix="mpmon-tlsbench-")
    r = Rsyslog(certs=certs).start()
    plain = InfluxDB().start()
    https = InfluxDB(certs=certs).start()
    try:
        db = "bench"
        plain.create_db(db)
        https.create_db(db)
        ca = certs.path("ca", "der")
        so = libc_counter(tmp)
        mp = MicroPython()
        env = {"LD_PRELOAD": so} if so else None
        p = mp.script(os.path.join(HERE, "mp", "tls_bench.py"), heapsize="512k", env=env,
                      args=[str(r.tcp_port), str(r.tls_port), str(plain.http_port),
                            str(https.http_port), ca, db], timeout=300)
        res = {}
        for line in p.stdout.splitlines():
            read_line(line, res)
        libc = [tuple(int(x) for x in line.split()[1:]) for line in p.stderr.splitlines()
                if line.startswith("LIBC ")]
        # pairs: (before a handshake, after it)
        peaks = [after[1] - before[0] for before, after in zip(libc[0::2], libc[1::2])]
        kept = [after[0] - before[0] for before, after in zip(libc[0::2], libc[1::2])]
        kb, line = smallest_heap(mp, [str(https.http_port), str(r.tls_port), ca, db])
        kb_plain, _ = smallest_heap(mp, [str(plain.http_port), str(r.tcp_port), ca, db, "plain"])
    finally:
        r.cleanup()
        plain.cleanup()
        https.cleanup()
        certs.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        ("TLS handshake to rsyslog, median ms", res["handshake_ms_median"], "ms",
         "max %d ms" % res["handshake_ms_max"], None),
        ("  worst stall of a 10 ms ticker meanwhile", res["handshake_ticker_worst_ms"], "ms",
         "goal <= longest step + 5 ms", res["handshake_ticker_worst_ms"]
         <= res["handshake_longest_call_us"] / 1000 + 5),
        ("  longest mbedTLS step (one call), us", res["handshake_longest_call_us"], "us",
         "key exchange + signature checks", None),
        ("  MicroPython heap at its peak (live), B", res["handshake_heap_peak"], "B",
         "above the idle heap", None),
        ("  MicroPython heap per open connection, B", res["tls_conn_heap_resident"], "B", "",
         None),
    ]
    if libc:
        rows += [
            ("  libc heap (mbedTLS) at its peak, B", max(peaks), "B", "on this port", None),
            ("  libc heap (mbedTLS) per open connection, B", max(kept), "B", "on this port",
             None),
        ]
    else:
        rows.append(("  libc heap (mbedTLS): no gcc to count it", 0, "", "", None))
    rows += [
        ("syslog record over TLS, bytes allocated", res["record_alloc_tls"], "B",
         "TCP: %.1f B" % res["record_alloc_tcp"], None),
        ("  records sent TLS / TCP", res["records_sent_tls"], "",
         "TCP: %d" % res["records_sent_tcp"], None),
        ("Influx flush over HTTPS, bytes allocated", res["flush_alloc_https"], "B",
         "HTTP: %.1f B (a connection each)" % res["flush_alloc_http"], None),
        ("  HTTPS reconnects over 23 flushes", res["flush_reconnects_https"], "",
         "goal 0 (kept open)", res["flush_reconnects_https"] == 0
         and res["flush_errors_https"] == 0),
        ("smallest -X heapsize, Influx HTTPS + syslog TLS", kb or 0, "KB",
         "64-bit port, .mpy; mbedTLS not in it here", None),
        ("  same over HTTP + TCP", kb_plain or 0, "KB", "baseline", None),
    ]
    report("TLS (Unix port, mbedTLS)", rows)
    if kb is None:
        print("  (no heap up to 256 KB ran it: %s)" % line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
