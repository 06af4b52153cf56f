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
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import soak  # noqa: E402


def run_soak(**kw):
    """A two-minute soak; returns it with its report lines (its peers stopped)."""
    lines = []
    s = soak.Soak(120, seed=1, log=lines.append, **kw)
    try:
        s.ok = s.run()
    except BaseException as e:  # reported by the test, in its own thread's stead
        s.ok = False
        lines.append("soak raised %r" % e)
    finally:
        s.influx.stop()
        s.syslog.stop()
    s.report = "\n".join(lines + s.events[-40:])
    return s


def test_two_minute_soaks_plain_and_over_tls_account_for_everything():
    # the two soaks run side by side (their own peers, ports and heaps):
    # two minutes of the suite, not four
    out = {}
    tls = threading.Thread(target=lambda: out.update(tls=run_soak(syslog="tls")))
    tls.start()
    plain = run_soak()
    tls.join()
    tls = out["tls"]

    report = plain.report
    assert plain.ok, report
    names = [c[0] for c in plain.checks]
    assert "heap high-water mark did not grow" in names, report
    assert "syslog (RELP): unique records received + dropped == queued" in names, report
    assert "syslog (RELP): duplicates <= log_resent" in names, report
    print(report)
    assert plain.summary["points_produced"] > 100 and plain.summary["log_queued"] > 100, report
    plain.cleanup()

    report = tls.report
    assert tls.ok, report
    names = [c[0] for c in tls.checks]
    assert "heap high-water mark did not grow" in names, report
    assert "syslog: sent == received + swallowed by the stalled sink" in names, report
    print(report)
    assert tls.summary["points_produced"] > 100 and tls.summary["log_queued"] > 100, report
    assert tls.summary["points_sent"] > 100, report  # stored over HTTPS
    tls.cleanup()
