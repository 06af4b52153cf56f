"""The operator can always get in: the demo firmware on the Unix port with a
board-sized heap (tools/abuse.py: 96 KB of data beyond the loaded bytecode)
while 50 connections abuse its control port at once, in every way at the
same time (silent, one byte every 200 ms, never a line end, too long a
first line, reset in the middle of their replies, never reading,
half-closed, malformed lines), and InfluxDB keeps receiving its points: the
operator's probe is answered within 1 s every time."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import abuse  # noqa: E402


def test_operator_answered_within_1s_whatever_50_abusive_connections_do():
    lines = []
    a = abuse.Abuse(22, heapsize=96, attacks=[("mixed", 50)], log=lines.append)
    try:
        ok = a.run()
    finally:
        a.influx.stop()
        a.syslog.stop()
    report = "\n".join(lines + a.events)
    assert ok, report
    # the probes came all through the abuse (checked in ``ok``: no gap over
    # 2 s), and the abuse was real: the slots were taken from abusive
    # clients again and again
    assert a.window[1] - a.window[0] > 10, report
    ctl = a.listeners["control"]
    assert ctl["evicted"] > 200 and ctl["errors"] > 100, report
    assert a.summary["points_sent"] > 50, report
    a.cleanup()
