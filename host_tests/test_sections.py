"""One vocabulary: a configuration file's document is start()'s keywords.

Each of boards/*/config.json and docs/config.example.json is loaded with
json.load and passed as ``monitoring.start(**doc)`` on the Unix port,
with only hosts and ports moved to the test's peers on loopback; every
capability it names must then run and answer its real peer.
"""

import glob
import json
import os
import socket
import urllib.request

import pytest

from mpy import ROOT
from peers import free_port, wait_until

CONFIGS = sorted(glob.glob(os.path.join(ROOT, "boards", "*", "config.json"))) + [
    os.path.join(ROOT, "docs", "config.example.json")]

PROGRAM = r"""
import asyncio, json, sys, monitoring
import monboard  # boards/unix: imports adafruit_logging, the logging module here
from monitoring.metrics import Source
log = monboard.logging_module().getLogger("")
app = Source("sections", tags=("test",))
async def main():
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    mon = monitoring.start(**doc)
    app.set("v", 7)
    log.setLevel(20)
    log.info("sections test record")
    print("RUNNING", " ".join(k for k in ("influx", "control", "syslog", "trace", "prometheus") if getattr(mon, k) is not None),
          )
    await asyncio.sleep(float(sys.argv[2]))
    if mon.influx is not None:
        mon.influx.collect()
        await mon.influx.aclose()
    await asyncio.sleep(0.3)
    mon.stop()
    c = mon.counters
    print("STOPPED", c.log_queued, c.log_sent, c.log_dropped, mon.syslog and mon.syslog.last_error)
asyncio.run(main())
"""


def _ask(port, line):
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(line)
        buf = b""
        while buf.count(b"\n") < line.count(b"\n"):
            got = s.recv(4096)
            if not got:
                break
            buf += got
        return buf.decode()


def _first_line(port):
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        buf = b""
        while b"\n" not in buf:
            got = s.recv(4096)
            if not got:
                break
            buf += got
        return buf.split(b"\n")[0].decode()


def test_every_shipped_config_is_a_valid_document():
    """Each file passes the same checks start() makes (CPython)."""
    import monitoring

    for path in CONFIGS:
        with open(path) as f:
            doc = json.load(f)
        opts = monitoring.check(doc)
        assert "sources" in opts, path


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_start_runs_every_section_of_a_config_file(mp, influxdb, rsyslog, path, tmp_path):
    with open(path) as f:
        doc = json.load(f)
    ports = {}
    if "influx" in doc:
        db = "sections_%d" % free_port()
        influxdb.create_db(db)
        doc["influx"].update(host="127.0.0.1", port=influxdb.http_port, transport="http",
                             db=db, interval_s=0.2)
    if "syslog" in doc:
        doc["syslog"].update(host="127.0.0.1", port=rsyslog.tcp_port, transport="tcp")
    for name in ("control", "trace", "prometheus"):
        if name in doc:
            ports[name] = free_port()
            doc[name].update(port=ports[name], addr="127.0.0.1")
    if "crash" in doc:
        doc["crash"].update(store="file", file=str(tmp_path / "crash.bin"))
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(doc))
    proc = mp.spawn(PROGRAM, args=(str(cfg), "3"))
    try:
        for line in proc.stdout:  # after what the root logger printed
            if line.startswith("RUNNING"):
                break
        assert line.startswith("RUNNING"), proc.stdout.read()
        running = set(line.split()[1:])
        assert running == set(n for n in ("influx", "control", "syslog", "trace", "prometheus")
                              if n in doc), (running, path)
        if "control" in doc:
            ctl = doc["control"]
            auth = b"auth %s\n" % ctl["token"].encode() if ctl.get("token") else b""
            assert _ask(ports["control"], auth + b"m\n").splitlines()[-1].startswith("ok: ")
            # the crash section's report, none here; without the section, an error
            assert _ask(ports["control"], auth + b"c\n").splitlines()[-1] == (
                "ok: none" if "crash" in doc else "error: no crash reports")
        if "trace" in doc:
            assert _first_line(ports["trace"]).startswith("{")
        if "prometheus" in doc:
            body = urllib.request.urlopen(
                "http://127.0.0.1:%d/metrics" % ports["prometheus"], timeout=3).read().decode()
            assert "sections_v" in body
        out = proc.stdout.read()
        assert proc.wait(20) == 0 and "STOPPED" in out, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if "influx" in doc:
        assert wait_until(lambda: influxdb.count(db, "sections") >= 1, 5)
        assert influxdb.rows(db, "sections")[0]["host"] == doc["hostname"]
    if "syslog" in doc:
        assert wait_until(lambda: [x for x in rsyslog.lines() if x["msg"] == "sections test record"],
                          5), (out, rsyslog.lines())
