"""The soak of `make soak` (tools/soak.py), for two minutes: the demo
firmware with a board-sized heap for data (see tools/soak.py) while InfluxDB
and rsyslog restart (SIGTERM and SIGKILL), rsyslog stalls (SIGSTOP), the
control port is flooded and trace clients come and go; syslog over RELP.
Every check of the soak must hold: no crash, no growth of the heap
high-water mark, points accounted for, every syslog record queued received
or counted dropped, exactly, duplicates at most log_resent, replies
well-formed. And the same faults over TLS (syslog over TLS, Influx over
HTTPS: every restart a new handshake, the stalled sink a stalled
handshake), the records sent all received."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import soak  # noqa: E402


def test_two_minute_soak_with_faults_accounts_for_everything():
    lines = []
    s = soak.Soak(120, seed=1, log=lines.append)
    try:
        ok = s.run()
    finally:
        s.influx.stop()
        s.syslog.stop()
    report = "\n".join(lines + s.events[-40:])
    assert ok, report
    names = [c[0] for c in s.checks]
    assert "heap high-water mark did not grow" in names, report
    assert "syslog (RELP): unique records received + dropped == queued" in names, report
    assert "syslog (RELP): duplicates <= log_resent" in names, report
    print(report)
    assert s.summary["points_produced"] > 100 and s.summary["log_queued"] > 100, report
    s.cleanup()


def test_two_minute_soak_over_tls_accounts_for_everything():
    lines = []
    s = soak.Soak(120, seed=1, log=lines.append, syslog="tls")
    try:
        ok = s.run()
    finally:
        s.influx.stop()
        s.syslog.stop()
    report = "\n".join(lines + s.events[-40:])
    assert ok, report
    names = [c[0] for c in s.checks]
    assert "heap high-water mark did not grow" in names, report
    assert "syslog: sent == received + swallowed by the stalled sink" in names, report
    print(report)
    assert s.summary["points_produced"] > 100 and s.summary["log_queued"] > 100, report
    assert s.summary["points_sent"] > 100, report  # stored over HTTPS
    s.cleanup()
