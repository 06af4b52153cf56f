"""Crash reports and battery nodes on the Unix port, against a real
InfluxDB and rsyslog: the demo firmware (firmware/main.py) with a task
that raises, restarted as the board would restart after its reset; a
MemoryError on a full heap; a loop hung until a watchdog's kill; 20
wake/deep-sleep cycles."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

from peers import free_port, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import run_demo  # noqa: E402
FIRMWARE = os.path.join(ROOT, "firmware")
RESET_EXIT, DEEPSLEEP_EXIT = 3, 4

# the demo firmware, its sensor task replaced by one that raises (or hangs)
CRASHY = r"""
import os, sys, time
sys.path.insert(0, %(firmware)r)
import asyncio, monitoring
import main as fw

async def bad(src, log):
    await asyncio.sleep(float(os.getenv("CRASH_AFTER")))
    if os.getenv("HANG"):
        monitoring.beat(b"stuck-task")
        time.sleep(60)  # the loop hangs: only a watchdog ends this
    if os.getenv("FILL"):
        hold = []
        while True:  # until the heap is full: MemoryError
            hold.append(bytearray(512))
    raise ValueError("sensor unplugged")

if os.getenv("CRASH_AFTER"):
    fw.sensor = bad
fw.run()
"""


def record(path):
    """(crashes, pending report length, report text) of the stored record."""
    with open(path, "rb") as f:
        b = f.read()
    assert b[:4] == b"MCR1", b[:16]
    n = b[12] | b[13] << 8
    return int.from_bytes(b[4:8], "little"), n, b[104:104 + n].decode()


class Board:
    """The firmware as a board runs it: boots, runs until it resets,
    deep-sleeps or its run ends; its RTC memory and reset cause kept in
    ``state`` (boards/unix/monboard.py)."""

    def __init__(self, mp, tmp_path, cfg):
        self.mp = mp
        self.state = tmp_path / "state"
        self.state.mkdir(exist_ok=True)
        self.cfg = tmp_path / "config.json"
        self.cfg.write_text(json.dumps(cfg))
        self.script = tmp_path / "crashy.py"
        self.script.write_text(CRASHY % {"firmware": FIRMWARE})

    def env(self, duration=None, **extra):
        env = run_demo.firmware_env(self.mp, str(self.cfg), duration)
        env["MONITORING_STATE"] = str(self.state)
        env.update(extra)
        return env

    def boot(self, duration=None, heap="256k", timeout=60, **extra):
        p = subprocess.run([self.mp.binary, "-X", "heapsize=" + heap, str(self.script)],
                           capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                           env=self.env(duration, **extra))
        return p.returncode, p.stdout + p.stderr

    def spawn(self, duration=None, heap="256k", **extra):
        return subprocess.Popen([self.mp.binary, "-X", "heapsize=" + heap, str(self.script)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=ROOT, env=self.env(duration, **extra))

    @property
    def rtc(self):
        return str(self.state / "rtc.bin")


def ask(port, line):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(line + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            got = s.recv(65536)
            if not got:
                break
            buf += got
        return buf.decode()


def config(influxdb, rsyslog, db, control=None, influx_port=None, syslog_port=None, **more):
    cfg = {"hostname": "crashy", "log_level": "info", "heartbeat_s": 1, "trace": None,
           "control": {"port": control} if control else None,
           "influx": {"transport": "http", "host": "127.0.0.1",
                      "port": influx_port or influxdb.http_port, "db": db, "interval_s": 0.5,
                      "precision": "ms"},
           "syslog": {"transport": "tcp", "host": "127.0.0.1",
                      "port": syslog_port or rsyslog.tcp_port},
           "crash": {}}
    cfg.update(more)
    return cfg


def crash_lines(rsyslog):
    return [line for line in rsyslog.lines() if line["msgid"] == "crash"]


def system_rows(influxdb, db, since=0):
    """The system source's rows with the crash fields, stamped at or after
    ``since`` (ns)."""
    return [r for r in influxdb.rows(db, "system")
            if r.get("crashes") is not None and r["time"] >= since]


def test_a_task_that_raises_is_reported_after_the_reset(mp, influxdb, rsyslog, tmp_path):
    db = "crash_task"
    influxdb.query('DROP DATABASE "%s"' % db)
    influxdb.create_db(db)
    control = free_port()
    board = Board(mp, tmp_path, config(influxdb, rsyslog, db, control))

    # boot 1: the sensor task raises; the firmware writes the report and resets
    rc, out = board.boot(CRASH_AFTER="1.5")
    assert rc == RESET_EXIT, out[-3000:]
    assert "ValueError: sensor unplugged" in out, out[-3000:]
    crashes, n, text = record(board.rtc)
    assert crashes == 1 and n > 0, (crashes, n)
    head, _, rest = text.partition("\n")
    assert head.startswith("ValueError after 1 s; heap free ") and head.endswith(
        "; firmware demo-0.1"), head
    assert rest.startswith("Traceback (most recent call last):\n"), text
    assert 'in bad\nValueError: sensor unplugged\nlast records:\n' in text, text
    assert "0 s I app: monitoring started: influx, control, syslog\n" in text, text
    assert not crash_lines(rsyslog)  # nothing sent before the reset

    # boot 2: the report goes out once the sinks are up, then is cleared
    since = time.time_ns()
    p = board.spawn(duration=4)
    try:
        assert wait_until(lambda: crash_lines(rsyslog), 10), rsyslog.lines()[-5:]
        reply = ask(control, b"c")
    finally:
        out, _ = p.communicate(timeout=30)
    assert p.returncode == 0, out[-3000:]
    assert "reset cause: soft_reset" in out, out[:2000]
    (line,) = crash_lines(rsyslog)
    assert line["sev"] == "2" and line["app"] == "demo-0.1" and line["host"] == "crashy", line
    # the report as the message, its LFs escaped as every syslog message's
    want = text.replace("\\", "\\\\").replace("\n", "\\n")
    assert line["msg"] == want, (line["msg"], want)
    assert reply == "ok: " + want + "\n", reply
    assert wait_until(lambda: record(board.rtc)[1] == 0, 5), record(board.rtc)
    assert record(board.rtc)[0] == 1
    rows = system_rows(influxdb, db, since)
    assert rows and {r["reset_cause"] for r in rows} == {"soft_reset"}, rows[:3]
    assert {r["crashes"] for r in rows} == {1}, rows[:3]
    assert {r["last_crash_uptime_s"] for r in rows} == {1}, rows[:3]

    # boot 3 crashes again; boot 4 delivers it: crashes = 2
    rc, out = board.boot(CRASH_AFTER="0.5")
    assert rc == RESET_EXIT, out[-3000:]
    rc, out = board.boot(duration=3)
    assert rc == 0, out[-3000:]
    assert len(crash_lines(rsyslog)) == 2 and record(board.rtc)[:2] == (2, 0)
    assert max(r["crashes"] for r in system_rows(influxdb, db)) == 2

    # a boot with no crash since: nothing sent, c shows none
    p = board.spawn(duration=2)
    try:
        time.sleep(1.5)
        assert ask(control, b"c") == "ok: none\n"
    finally:
        p.communicate(timeout=30)
    assert len(crash_lines(rsyslog)) == 2


def test_with_the_sinks_down_the_report_waits_for_the_next_boot(mp, influxdb, rsyslog, tmp_path):
    db = "crash_down"
    influxdb.query('DROP DATABASE "%s"' % db)
    influxdb.create_db(db)
    up = config(influxdb, rsyslog, db)
    board = Board(mp, tmp_path, up)
    rc, out = board.boot(CRASH_AFTER="0.5")
    assert rc == RESET_EXIT, out[-3000:]
    since = time.time_ns()
    # the next boot finds neither sink: the report stays
    board.cfg.write_text(json.dumps(config(influxdb, rsyslog, db, influx_port=free_port(),
                                           syslog_port=free_port())))
    rc, out = board.boot(duration=3)
    assert rc == 0, out[-3000:]
    assert record(board.rtc)[:1] == (1,) and record(board.rtc)[1] > 0
    # influx down alone: the record goes to syslog, the report still stays
    board.cfg.write_text(json.dumps(config(influxdb, rsyslog, db, influx_port=free_port())))
    rc, out = board.boot(duration=3)
    assert rc == 0, out[-3000:]
    assert len(crash_lines(rsyslog)) == 1 and record(board.rtc)[1] > 0
    # both up: delivered, cleared
    board.cfg.write_text(json.dumps(up))
    rc, out = board.boot(duration=3)
    assert rc == 0, out[-3000:]
    assert record(board.rtc)[:2] == (1, 0)
    assert len(crash_lines(rsyslog)) == 2
    assert "ValueError: sensor unplugged" in crash_lines(rsyslog)[-1]["msg"]
    assert {r["crashes"] for r in system_rows(influxdb, db, since)} == {1}


def test_the_report_over_relp_is_cleared_once_acknowledged(mp, influxdb, tmp_path):
    from peers import Rsyslog

    db = "crash_relp"
    influxdb.query('DROP DATABASE "%s"' % db)
    influxdb.create_db(db)
    r = Rsyslog(str(tmp_path / "rsyslog"), relp_port=True)
    os.makedirs(r.dir, exist_ok=True)
    r.start()
    try:
        cfg = config(influxdb, r, db)
        cfg["syslog"] = {"transport": "relp", "host": "127.0.0.1", "port": r.relp_port}
        board = Board(mp, tmp_path, cfg)
        rc, out = board.boot(CRASH_AFTER="0.5")
        assert rc == RESET_EXIT, out[-3000:]
        # imrelp stopped: the record cannot be acknowledged, the report stays
        r.stop()
        rc, out = board.boot(duration=2)
        assert rc == 0 and record(board.rtc)[1] > 0, out[-3000:]
        r.start()
        rc, out = board.boot(duration=3)
        assert rc == 0, out[-3000:]
        assert record(board.rtc)[:2] == (1, 0)
        (line,) = crash_lines(r)
        assert "ValueError: sensor unplugged" in line["msg"] and line["sev"] == "2", line
    finally:
        r.cleanup()


def test_a_watchdog_reset_names_the_task_that_last_beat(mp, influxdb, rsyslog, tmp_path):
    db = "crash_wdt"
    influxdb.query('DROP DATABASE "%s"' % db)
    influxdb.create_db(db)
    board = Board(mp, tmp_path, config(influxdb, rsyslog, db))
    p = board.spawn(CRASH_AFTER="1.2", HANG="1")
    time.sleep(3)  # hung since 1.2 s: the watchdog's kill
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=10)
    crashes, n, _ = record(board.rtc)
    assert (crashes, n) == (0, 0)  # nothing could be written at the kill
    since = time.time_ns()
    rc, out = board.boot(duration=3, MONITORING_RESET_CAUSE="wdt_reset")
    assert rc == 0, out[-3000:]
    (line,) = crash_lines(rsyslog)
    assert line["msg"].startswith("watchdog reset; last beat: stuck-task after 1 s"), line
    rows = system_rows(influxdb, db, since)
    assert {r["reset_cause"] for r in rows} == {"wdt_reset"} and {r["crashes"] for r in rows} == {1}
    assert record(board.rtc)[:2] == (1, 0)


def test_the_demo_reports_a_memory_error_in_a_task_and_delivers_it(mp, influxdb, rsyslog,
                                                                    tmp_path):
    db = "crash_fill"
    influxdb.query('DROP DATABASE "%s"' % db)
    influxdb.create_db(db)
    board = Board(mp, tmp_path, config(influxdb, rsyslog, db))
    rc, out = board.boot(CRASH_AFTER="0.5", FILL="1")
    assert rc == RESET_EXIT, out[-3000:]
    crashes, n, text = record(board.rtc)
    assert crashes == 1 and text.startswith("MemoryError after 0 s; heap free "), text
    assert "in bad\nMemoryError: memory allocation failed" in text, text
    rc, out = board.boot(duration=3)
    assert rc == 0, out[-3000:]
    (line,) = crash_lines(rsyslog)
    assert "MemoryError: memory allocation failed" in line["msg"], line
    assert record(board.rtc)[:2] == (1, 0)


FULL = r"""
import asyncio, gc, sys, monitoring
async def main():
    mon = monitoring.start(hostname="full", firmware="full-1", crash={"store": "file", "file": sys.argv[1]})
    hold = [None] * 4000
    i = 0
    for size in (4096, 1024, 256, 64, 16):
        try:
            while i < len(hold):
                hold[i] = bytearray(size)
                i += 1
        except MemoryError:
            pass
    free = gc.mem_free()
    try:
        hold[i] = bytearray(64)
        raise RuntimeError("room left")
    except MemoryError as e:
        ok = monitoring.crash_report(e)
    n = i
    hold = None
    gc.collect()
    print("STORED", ok, free, n)
asyncio.run(main())
"""


def test_a_memory_error_on_a_full_heap_is_still_written(mp, tmp_path):
    path = tmp_path / "crash.bin"
    p = mp.run(FULL, heapsize=mp.board_heap(64), args=[str(path)])
    words = p.stdout.split()
    assert words[:2] == ["STORED", "True"], p.stdout + p.stderr
    assert int(words[2]) < 64, p.stdout  # the heap was full
    crashes, n, text = record(str(path))
    assert crashes == 1 and text.startswith("MemoryError after 0 s; heap free "), text
    assert "firmware full-1\nTraceback (most recent call last):" in text, text
    assert text.rstrip().endswith("MemoryError: memory allocation failed, allocating 64 bytes") \
        or "MemoryError" in text.splitlines()[-1], text
    assert not os.path.exists(str(path) + ".tmp")


def test_battery_node_twenty_wake_sleep_cycles(mp, influxdb, rsyslog, tmp_path):
    db = "crash_battery"
    influxdb.query('DROP DATABASE "%s"' % db)
    influxdb.create_db(db)
    cfg = config(influxdb, rsyslog, db, sleep_s=60)
    cfg["influx"]["interval_s"] = 3600
    cfg["sources"] = {"net": False}
    board = Board(mp, tmp_path, dict(cfg, sleep_s=0))
    # a crash first, awake; the first wake delivers its report before sleeping
    rc, out = board.boot(CRASH_AFTER="0.3")
    assert rc == RESET_EXIT and record(board.rtc)[:1] == (1,), out[-3000:]
    board.cfg.write_text(json.dumps(cfg))
    awake = []
    wall = []
    sent = []
    for i in range(20):
        t0 = time.monotonic()
        rc, out = board.boot(timeout=30)
        wall.append(time.monotonic() - t0)
        assert rc == DEEPSLEEP_EXIT, out[-3000:]
        (line,) = [x for x in out.splitlines() if x.startswith("CYCLE ")]
        f = dict(w.split("=") for w in line.split()[2:])
        assert int(line.split()[1]) == i, line
        assert f["dropped"] == "0" and f["left"] == "0", line
        if i == 0:
            assert record(board.rtc)[:2] == (1, 0) and len(crash_lines(rsyslog)) == 1
        awake.append(int(f["awake_ms"]))
        sent.append(int(f["bytes"]))
    print("\nawake ms per cycle (firmware start to sleep):", awake)
    print("process ms per cycle (start to exit):", [int(w * 1000) for w in wall])
    print("bytes sent per cycle:", sent)
    rows = influxdb.rows(db, "demo")
    assert sorted({r["cycle"] for r in rows}) == list(range(20)), rows[:3]
    msgs = [line["msg"] for line in rsyslog.lines() if line["msgid"] == "app"]
    for i in range(20):
        assert any(m.startswith("cycle %d: temperature" % i) for m in msgs), (i, msgs[-5:])
    # counters kept across the sleeps: the monitoring source's points_sent grows
    mon = [r["points_sent"] for r in influxdb.rows(db, "monitoring")]
    assert max(mon) >= 19 * 4, mon


CARRY_ON = r"""
import asyncio, sys, monitoring, monboard
async def main():
    mon = monitoring.start(hostname="carry", firmware="carry-1", logging=monboard.logging_module(),
                           influx={"host": "127.0.0.1", "port": %(influx)d, "db": %(db)r,
                                   "interval_s": 0.3},
                           syslog={"host": "127.0.0.1", "port": %(syslog)d, "transport": "tcp"},
                           crash={"store": "file", "file": sys.argv[1]})
    await asyncio.sleep(0.5)
    try:
        {}["sensor"]
    except KeyError as e:
        print("STORED", monitoring.crash_report(e), monitoring.crash_report(e))
    for i in range(50):
        await asyncio.sleep(0.1)
        if not mon.crash.fmt.pending():
            break
    print("PENDING", mon.crash.fmt.pending(), mon.crash.fmt.crashes())
    mon.stop()
asyncio.run(main())
"""


def test_a_report_written_by_a_firmware_that_carries_on_goes_out_at_once(mp, influxdb, rsyslog,
                                                                         tmp_path):
    db = "crash_carry"
    influxdb.query('DROP DATABASE "%s"' % db)
    influxdb.create_db(db)
    path = tmp_path / "crash.bin"
    p = mp.run(CARRY_ON % {"influx": influxdb.http_port, "db": db, "syslog": rsyslog.tcp_port},
               args=[str(path)])
    assert "STORED True True" in p.stdout and "PENDING 0 1" in p.stdout, p.stdout + p.stderr
    (line,) = crash_lines(rsyslog)
    assert line["msg"].startswith("KeyError after 0 s; heap free "), line
    assert "KeyError: sensor" in line["msg"] and line["app"] == "carry-1", line
    assert record(str(path))[:2] == (1, 0)
    assert max(r["crashes"] for r in system_rows(influxdb, db)) == 1
