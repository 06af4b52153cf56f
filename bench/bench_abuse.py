"""The smallest heap for data (beyond the loaded bytecode, as tools/soak.py
sizes it) at which the demo firmware with every capability (influx, syslog,
control, trace, prometheus) survives the abuse set of tools/abuse.py: every
control attack in turn (a connection storm, silent, slowloris, never a line
end, too long a first line, 1 MB of random bytes, half-closed, reset
mid-reply, malformed lines, non-readers), then 50 connections doing all of
it at once. Survives: no MemoryError raised or caught (console, trace ``E``
lines, listeners' step errors), every operator probe answered within 1 s,
points stored == sent. Beside it, the baseline: the smallest heap at which
the demo's own work passes the same checks without abuse (the operator's
probe and the trace reader still on).

Bisected in 4 KB steps, each run ``ABUSE_SECONDS`` (default 30) long; the
binary's word size as the binary says ($MICROPYTHON for a 32-bit build).
"""

import os
import sys

from common import ROOT, report

sys.path.insert(0, os.path.join(ROOT, "tools"))

import abuse  # noqa: E402

SECONDS = float(os.environ.get("ABUSE_SECONDS", 30))
STEP = 4


def passes(kb, attacks, log):
    lines = []
    ok = abuse.run(SECONDS, kb, attacks=attacks, log=lines.append)
    failed = [ln.strip() for ln in lines if "FAILED" in ln]
    log("  %3d KB %-8s %s %s" % (kb, "abuse" if attacks else "baseline", "ok" if ok else "FAILED",
                                 failed[0][:110] if failed else ""))
    return ok


def smallest(lo, hi, attacks, log):
    """The smallest multiple of STEP in (lo, hi] that passes, hi assumed to
    (checked first); None when hi does not."""
    if not passes(hi, attacks, log):
        return None
    while hi - lo > STEP:
        mid = (lo + hi) // 2 // STEP * STEP
        if passes(mid, attacks, log):
            hi = mid
        else:
            lo = mid
    return hi


def main():
    full = abuse.ATTACKS + [("mixed", 50)]
    log = print
    print("\n== abuse: bisecting the data heap (%d s a run)" % SECONDS)
    base = smallest(40, 96, [], log)
    hurt = smallest((base or 96) - STEP, 128, full, log)
    bits = abuse.MicroPython().word_bits
    rows = [
        ("%d-bit: demo alone (baseline), smallest data heap" % bits, base or -1, "KB", "", None),
        ("%d-bit: demo under the abuse set, smallest data heap" % bits, hurt or -1, "KB",
         "goal: the baseline's", hurt is not None and hurt == base),
    ]
    report("Abuse: smallest heap for data on which the demo survives", rows)
    return 0 if hurt is not None else 1


if __name__ == "__main__":
    sys.exit(main())
