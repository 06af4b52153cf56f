"""The demo firmware end to end: firmware/main.py on the Unix port for about
15 s against a real InfluxDB and rsyslog, with an operator on the control,
trace and Prometheus ports while it runs."""

import json
import os
import subprocess
import sys
import time

import demo_checks
from peers import busy_port, free_port, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import run_demo  # noqa: E402

DURATION = 15


def test_demo_firmware_feeds_every_peer_and_answers_operators(mp, influxdb, rsyslog, tmp_path):
    db = "demo_e2e"
    influxdb.query('DROP DATABASE "%s"' % db)
    influxdb.create_db(db)
    control, trace, prom = free_port(), free_port(), free_port()
    cfg = run_demo.demo_config(influxdb, rsyslog, control, trace, prom, interval=1, db=db)
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(json.dumps(cfg))
    proc = subprocess.Popen([mp.binary, "-X", "heapsize=256k", os.path.join(ROOT, "firmware", "main.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env=run_demo.firmware_env(mp, str(cfg_path), DURATION))
    seen = demo_checks.operate(proc, control, trace, prom, DURATION)
    demo_checks.check(seen, influxdb, rsyslog, db, "unix-demo")


def test_demo_firmware_logs_through_micropython_lib_logging(mp, rsyslog, tmp_path):
    """On a board the demo logs with micropython-lib's logging (``make
    deploy`` installs it): its console handlers work, and the records reach
    rsyslog through the syslog handler for that module."""
    from mpy import MPLIB

    if not os.path.exists(os.path.join(MPLIB, "logging.py")):
        import pytest

        pytest.skip("micropython-lib logging not fetched to %s (not installable in CI)" % MPLIB)
    # the Unix board's defaults listen on 2323 and 4242: free ports instead, so
    # a `make run` on this machine does not keep monitoring from starting
    cfg = {"hostname": "mplib-demo", "log_level": "debug", "heartbeat_s": 1,
           "syslog": {"transport": "tcp", "host": "127.0.0.1", "port": rsyslog.tcp_port},
           "control": {"port": free_port()}, "trace": {"port": free_port()}}
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(json.dumps(cfg))
    env = run_demo.firmware_env(mp, str(cfg_path), 3)
    env["MICROPYPATH"] = MPLIB + ":" + env["MICROPYPATH"]  # found before adafruit_logging
    p = subprocess.run([mp.binary, "-X", "heapsize=256k", os.path.join(ROOT, "firmware", "main.py")],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "Traceback" not in out, out[-3000:]
    assert "INFO:app:mplib-demo starting on" in out and "DEBUG:sensor:temperature" in out, out[:2000]
    assert wait_until(lambda: any("demo done" in line["msg"] for line in rsyslog.lines()), 10)
    lines = rsyslog.lines()
    assert {"app", "sensor", "http"} <= {line["msgid"] for line in lines}
    assert all(line["host"] == "mplib-demo" for line in lines)


def test_demo_firmware_boots_through_bad_top_level_settings(mp, tmp_path):
    """A wrong type in ``wifi``, ``ntp``, ``watchdog_ms``, ``heartbeat_s``
    or ``log_level`` (a typo a user makes: ``"ntp": "pool.ntp.org"``) gets
    one ``config:`` message naming the key and that setting's default; so
    does a bad key of a section (that section off) and a misspelt section
    (ignored). The firmware boots and its heartbeat keeps running, instead
    of a traceback at boot or a dead heartbeat task."""
    cases = [
        ({"ntp": "pool.ntp.org"}, "config: ntp: expected an object of strings: host, got"),
        ({"wifi": "plant-net"}, "config: wifi: expected an object of strings: ssid,"),
        ({"wifi": {"ssid": 5}}, "config: wifi: expected an object of strings: ssid,"),
        ({"heartbeat_s": "1"}, "config: heartbeat_s: expected a number from"),
        ({"heartbeat_s": 0}, "config: heartbeat_s: expected a number from"),
        ({"watchdog_ms": "8000"}, "config: watchdog_ms: expected 0 (off) or an integer from"),
        ({"sleep_s": "60"}, "config: sleep_s: expected 0 (awake) or a number of seconds from 1 "
                            "to 604800, got '60' (no deep sleep)"),
        ({"log_level": "loud"}, "config: log_level: expected one of debug, info, warning, error, "
                                "critical, got 'loud' (info)"),
        ({"prometheus": {"port": "9100"}}, "config: prometheus.port: expected an integer from 0 "
                                           "to 65535, got '9100' (prometheus off)"),
        ({"prometeus": {"port": 9100}}, "config: prometeus: unknown key (known: hostname, "
                                        "firmware, sources, influx, control, syslog, trace, "
                                        "prometheus, crash) (ignored)"),
    ]
    for bad, message in cases:
        # no listeners (the Unix board's defaults open 2323 and 4242)
        cfg = dict(bad, control=None, trace=None)
        cfg_path = tmp_path / "config.json"
        cfg_path.write_text(json.dumps(cfg))
        p = subprocess.run([mp.binary, "-X", "heapsize=256k", os.path.join(ROOT, "firmware", "main.py")],
                           capture_output=True, text=True, cwd=ROOT, timeout=60,
                           env=run_demo.firmware_env(mp, str(cfg_path), 2.5))
        out = p.stdout + p.stderr
        assert p.returncode == 0 and "Traceback" not in out, (bad, out[-3000:])
        errors = [line for line in out.splitlines() if line.startswith("ERROR:app:config:")]
        assert len(errors) == 1 and errors[0].startswith("ERROR:app:" + message), (bad, out[-2000:])
        # the heartbeat ran on its default period (10 s): once, at 0 s
        assert out.count("INFO:app:alive") == 1, (bad, out[-2000:])
        assert "INFO:app:demo done after 2.5 s" in out and "SUMMARY " in out, (bad, out[-2000:])


def test_make_run_says_which_listener_port_is_taken(tmp_path):
    """``make run`` with a port of the demo's listeners already taken (a
    node_exporter on 9100, another demo on 2323) stops at once, naming the
    port and the variable that moves it; before, the firmware logged the
    failure only to its console file and the run went on with no
    monitoring at all, every command it printed failing."""
    busy, port = busy_port()
    try:
        env = dict(os.environ, DURATION="1", CONTROL_PORT=str(free_port()), TRACE_PORT=str(free_port()),
                   PROMETHEUS_PORT=str(port))
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_demo.py")],
                           capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    finally:
        busy.close()
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stderr == ("make run: port %d (Prometheus endpoint) is in use; choose another with "
                        "PROMETHEUS_PORT=...\n" % port), p.stderr
    assert "demo running" not in p.stdout and time.monotonic() - t0 < 10


def test_make_run_refuses_bad_variables_with_one_line(tmp_path):
    """``make run DURATION=abc`` or ``CONTROL_PORT=70000`` is one line
    naming the variable and exit 2, not a Python traceback."""
    for var, value, what in (("DURATION", "abc", "a number of seconds"),
                             ("DURATION", "-5", "a number of seconds"),
                             ("CONTROL_PORT", "70000", "a port number from 1 to 65535"),
                             ("TRACE_PORT", "x", "a port number from 1 to 65535"),
                             ("PROMETHEUS_PORT", "0", "a port number from 1 to 65535")):
        env = dict(os.environ, DURATION="1", CONTROL_PORT=str(free_port()), TRACE_PORT=str(free_port()),
                   PROMETHEUS_PORT=str(free_port()))
        env[var] = value
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_demo.py")],
                           capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
        assert p.returncode == 2 and p.stdout == "", (var, value, p.stdout, p.stderr)
        assert p.stderr == "make run: %s=%s: expected %s\n" % (var, value, what), p.stderr


def test_demo_firmware_says_when_the_users_configuration_file_is_missing(mp, tmp_path):
    """``MONITORING_CONFIG=conf.jsn`` (a typo), or no ``/config.json`` on a
    board: the firmware says it runs on the board's defaults alone, instead
    of silently leaving every capability the file named off."""
    import shutil

    missing = str(tmp_path / "conf.jsn")
    # the Unix board, with defaults that open no port (its own listen on 2323 and 4242)
    bdir = tmp_path / "board"
    bdir.mkdir()
    shutil.copy(os.path.join(ROOT, "boards", "unix", "monboard.py"), str(bdir / "monboard.py"))
    (bdir / "config.json").write_text(json.dumps({"hostname": "no-user-config"}))
    env = run_demo.firmware_env(mp, missing, 1)
    env["MICROPYPATH"] = str(bdir) + ":" + env["MICROPYPATH"]
    p = subprocess.run([mp.binary, "-X", "heapsize=256k", os.path.join(ROOT, "firmware", "main.py")],
                       capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "Traceback" not in out, out[-2000:]
    assert ("ERROR:app:config: %s: not found (the board's defaults alone)" % missing
            in out.splitlines()), out[-2000:]
    assert "INFO:app:no-user-config starting on unix" in out, out[-2000:]
