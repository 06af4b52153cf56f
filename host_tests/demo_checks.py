"""The demo firmware's end-to-end checks, shared by the MicroPython run
(test_demo.py) and the CircuitPython profile's (test_circuitpython_profile.py):
an operator on the control, trace and Prometheus ports while the demo runs,
then what InfluxDB stored, what rsyslog parsed and the demo's summary."""

import datetime
import json
import time
import urllib.request

from peers import connect, read_lines, wait_until


def operate(proc, control, trace, prom, duration):
    """While ``proc`` (the demo) runs: levels and metrics over the control
    port, the sensor logger quieted, a trace session and a Prometheus
    scrape; then the demo's whole output. Returns a dict of what was seen."""
    seen = {}
    try:
        with connect(control) as c:
            c.sendall(b"l*\n")
            seen["levels"] = read_lines(c, 1)[0]
            c.sendall(b"m\n")
            seen["metrics"] = read_lines(c, 1)[0]
            time.sleep(3)  # some sensor debug records first
            c.sendall(b"Lsensor:error\n")
            seen["quieted"] = read_lines(c, 1)[0]
            seen["quieted_at"] = time.time()
        with connect(trace) as t:
            seen["trace"] = read_lines(t, 4, timeout=5)
        url = "http://127.0.0.1:%d/metrics" % prom
        seen["body"] = urllib.request.urlopen(url, timeout=5).read().decode()
        seen["out"], _ = proc.communicate(timeout=duration + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    seen["rc"] = proc.returncode
    return seen


def check(seen, influxdb, rsyslog, db, host):
    """What the operator saw, what the peers stored and the summary line of
    a demo named ``host`` that wrote to InfluxDB database ``db``."""
    out = seen["out"]
    assert seen["rc"] == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    # the configuration as run_demo writes it: no key refused, every capability on
    assert "ERROR:app:config:" not in out, out[-3000:]
    assert "INFO:app:monitoring started: influx, control, syslog, trace, prometheus" in out, \
        out[-3000:]

    # control: the demo's loggers with their levels, and the metrics switch
    levels = seen["levels"]
    assert levels.startswith("ok: *:"), levels
    for name in ("app", "sensor", "http"):
        assert "%s:debug" % name in levels.split(": ", 1)[1].split(","), levels
    assert seen["metrics"].startswith("ok: *:enabled"), seen["metrics"]
    assert seen["quieted"] == "ok", seen["quieted"]

    # trace: a JSON header naming the device, then samples
    header = json.loads(seen["trace"][0])
    assert header["device"] == host
    assert len(seen["trace"]) >= 4

    # Prometheus: the user's source and the built-ins, with the host label
    body = seen["body"]
    assert ('demo_requests{host="%s"' % host in body
            or 'demo_requests_total{host="%s"' % host in body), body[:2000]
    assert "memory_free{" in body

    # InfluxDB stored every source, each with the device's host tag
    for m in ("memory", "system", "monitoring", "demo", "regions"):
        assert influxdb.count(db, m) >= 3, m
    rows = influxdb.rows(db, "demo")
    assert {r["host"] for r in rows} == {host}
    assert max(r["requests"] for r in rows if r.get("requests") is not None) >= 10

    # rsyslog received the demo's log lines, from every logger, in order
    assert wait_until(lambda: any("demo done" in line["msg"] for line in rsyslog.lines()), 10)
    lines = rsyslog.lines()
    assert {"app", "sensor", "http"} <= {line["msgid"] for line in lines}
    assert all(line["host"] == host for line in lines)

    # the level change reached syslog at once: sensor debug and warning
    # records before it, none after it (rsyslog keeps the record's time)
    def when(line):
        return datetime.datetime.fromisoformat(line["ts"].replace("Z", "+00:00")).timestamp()

    quieted_at = seen["quieted_at"]
    sensor = [(when(line), int(line["sev"])) for line in lines if line["msgid"] == "sensor"]
    assert any(sev == 7 for t, sev in sensor if t < quieted_at - 0.5), sensor[:5]
    assert all(sev <= 3 for t, sev in sensor if t > quieted_at + 0.5), sensor[-5:]
    seq = [int(line["sd"].split('sequenceId="')[1].split('"')[0]) for line in lines
           if 'sequenceId="' in line["sd"]]
    assert seq == sorted(seq) and len(seq) == len(lines)

    # the summary line: nothing dropped, every point and record accounted for
    summary = json.loads(out.split("SUMMARY ", 1)[1].splitlines()[0])
    assert summary["points_dropped"] == 0 and summary["log_dropped"] == 0, summary
    assert summary["points_sent"] == summary["points_produced"] > 0, summary
    assert summary["log_sent"] == len(lines), summary
    return summary


def readme_program():
    """The program of the README's "Your own firmware", as written there."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        text = f.read()
    part = text.split("## Your own firmware", 1)[1]
    return part.split("```python\n", 1)[1].split("```", 1)[0]
