"""Trace port under the MicroPython Unix port (``-X heapsize=128k``), read
by real TCP clients, and montrace capturing, plotting and summarising it."""

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from peers import free_port, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(os.path.dirname(HERE), "tools")
HEAP = "128k"

COMMON = """
import asyncio, gc, json, sys
import monitoring
PORT = int(sys.argv[1])

async def wait_client(mon, timeout_ms=10000):
    t = 0
    while not mon.trace.active:
        await asyncio.sleep_ms(10)
        t += 10
        if t > timeout_ms:
            raise SystemExit("no client")

def report(mon, **more):
    t = mon.trace
    if t is None:
        print("RESULT " + json.dumps(more))
        return
    d = {"sessions": t.sessions, "refused": t.refused, "samples": t.samples,
         "dropped": t.dropped, "timeouts": t.timeouts, "active": t.active,
         "memory_errors": t.memory_errors}
    d.update(more)
    print("RESULT " + json.dumps(d))
"""


def spawn(mp, body, heapsize=HEAP):
    """Start ``COMMON + body`` with a free port as its PORT; returns (Popen, port)."""
    port = free_port()
    return mp.spawn(COMMON + body, heapsize=heapsize, args=[str(port)]), port


def reap(p):
    """Kill ``p`` if it still runs."""
    if p.poll() is None:
        p.kill()
        p.wait()


def finish(p, timeout=30):
    try:
        out, _ = p.communicate(timeout=timeout)
    finally:
        reap(p)
    assert p.returncode == 0, out
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:]), out
    raise AssertionError("no RESULT line:\n" + out)


def connect(port, timeout=10.0, rcvbuf=None):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket()
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        try:
            s.connect(("127.0.0.1", port))
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def read_all(s, timeout=20.0):
    s.settimeout(timeout)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data.decode()
        data += chunk


def read_lines(s, n, timeout=5.0):
    """Read until ``n`` complete lines arrived; returns them."""
    s.settimeout(timeout)
    data = b""
    while data.count(b"\n") < n:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode().split("\n")[:n]


def parse(text):
    lines = [ln for ln in text.split("\n") if ln]
    header = json.loads(lines[0])
    rows = [ln.split("\t") for ln in lines[1:]]
    return header, rows


def session_text(mp, body, heapsize=HEAP, timeout=20.0):
    """Run ``body``, read its whole trace as its one client, then wait for
    its RESULT; returns (result, console output, trace text)."""
    p, port = spawn(mp, body, heapsize)
    s = connect(port)
    try:
        text = read_all(s, timeout)
    finally:
        s.close()
    res, out = finish(p)
    return res, out, text


def one_session(mp, body, heapsize=HEAP):
    """As :func:`session_text`, the trace parsed; returns (result, header, rows)."""
    res, _, text = session_text(mp, body, heapsize)
    header, rows = parse(text)
    return res, header, rows


REGIONS_BODY = """
async def main():
    mon = monitoring.start(trace={"port": PORT, "interval_ms": 50}, hostname="tracetest")
    print("READY")
    await wait_client(mon)
    keep = []
    gc.collect()
    await asyncio.sleep_ms(150)
    monitoring.mark("begin")
    for i in range(30):
        with monitoring.region("kilo"):
            keep.append(bytearray(1000))
        await asyncio.sleep_ms(10)
    await asyncio.sleep_ms(120)
    monitoring.mark("half")
    small = []
    for i in range(40):
        with monitoring.region("small"):
            small.append(bytearray(200))
        await asyncio.sleep_ms(5)
    await asyncio.sleep_ms(120)
    monitoring.mark("end")
    monitoring.memory_error("app")
    keep = small = None
    freed = monitoring.collect()
    await asyncio.sleep_ms(150)
    report(mon, freed=freed, bias=mon.regions.bias)
    mon.stop()

asyncio.run(main())
"""


def test_regions_markers_and_samples(mp):
    res, header, rows = one_session(mp, REGIONS_BODY)
    assert header["format"] == "mpmon-trace" and header["version"] == 1
    assert header["device"] == "tracetest" and header["platform"] == "linux"
    assert header["interval_ms"] == 50
    # -X heapsize=128k: the header says so (within the GC's bookkeeping)
    assert 120 * 1024 <= header["heap_total"] <= 128 * 1024, header["heap_total"]
    assert header["columns"]["S"].split() == ["ms", "free", "alloc", "largest", "stack", "tasks",
                                              "gcs", "dropped"]
    kinds = [r[0] for r in rows]
    assert set(kinds) <= set("SMGER"), set(kinds)
    samples = [r for r in rows if r[0] == "S"]
    assert all(len(r) == 9 for r in samples)
    ms = [int(r[1]) for r in samples]
    assert all(b > a for a, b in zip(ms, ms[1:])), ms
    assert len(samples) >= 15 and res["samples"] == len(samples)
    # every line's time is monotonic, events included
    allms = [int(r[1]) for r in rows]
    assert allms == sorted(allms)
    for r in samples:
        free, alloc = int(r[2]), int(r[3])
        assert free + alloc == header["heap_total"], r
        assert r[4] == "-" and r[6] == "-"  # no largest-block / task count on unix
        assert int(r[5]) > 0  # micropython.stack_use()
        assert r[8] == "0"  # nothing dropped: the client reads
    # markers, in order, where they were set
    marks = [(i, r[2]) for i, r in enumerate(rows) if r[0] == "M"]
    assert [m[1] for m in marks] == ["begin", "half", "end"]

    def sample_before(idx):
        return [r for r in rows[:idx] if r[0] == "S"][-1]

    def sample_after(idx):
        return [r for r in rows[idx:] if r[0] == "S"][0]

    a0 = int(sample_before(marks[0][0])[3])
    a1 = int(sample_before(marks[1][0])[3])
    a2 = int(sample_before(marks[2][0])[3])
    g0, g1 = int(sample_before(marks[0][0])[7]), int(sample_before(marks[2][0])[7])
    assert g0 == g1, "no collection expected while 38 KB were kept"
    # mem_alloc grew by what was kept: 30 x 1000 B, then 40 x 200 B (+ the
    # objects' headers and block rounding, list growth)
    assert 30000 <= a1 - a0 <= 30000 * 1.15, a1 - a0
    assert 8000 <= a2 - a1 <= 8000 * 1.5, a2 - a1
    # region totals (last R line per region) within tolerance of the requests
    last = {}
    for r in rows:
        if r[0] == "R":
            last[r[2]] = r
    assert set(last) == {"kilo", "small"}
    k = last["kilo"]
    assert int(k[3]) == 30 and int(k[6]) == 0
    assert 30000 <= int(k[4]) <= 30000 * 1.12, k
    sm = last["small"]
    assert int(sm[3]) == 40 and int(sm[6]) == 0
    assert 8000 <= int(sm[4]) <= 8000 * 1.4, sm
    # the regions' bytes match the heap growth they caused
    assert abs((a1 - a0) - int(k[4])) <= 1500, (a1 - a0, k)
    assert abs((a2 - a1) - int(sm[4])) <= 1500, (a2 - a1, sm)
    # events: the MemoryError report and the library collection
    errs = [r for r in rows if r[0] == "E"]
    assert errs == [[errs[0][0], errs[0][1], "MemoryError", "app"]]
    gcs = [r for r in rows if r[0] == "G"]
    assert len(gcs) == 1
    before, after = int(gcs[0][2]), int(gcs[0][3])
    assert before - after >= 38000 and res["freed"] == before - after
    after_gc = sample_after(rows.index(gcs[0]))
    assert int(after_gc[7]) == g1 + 1  # the collection is counted once
    assert int(after_gc[3]) <= after + 1024
    assert res["memory_errors"] == 1 and res["sessions"] == 1


SECOND_CLIENT_BODY = """
async def main():
    mon = monitoring.start(trace={"port": PORT, "interval_ms": 50})
    print("READY")
    for i in range(500):
        await asyncio.sleep_ms(10)
        if mon.trace.sessions >= 2 and mon.trace.active and mon.trace.samples > 40:
            break
    await asyncio.sleep_ms(200)
    report(mon)
    mon.stop()

asyncio.run(main())
"""


def test_second_client_refused_then_served_after_first_leaves(mp):
    p, port = spawn(mp, SECOND_CLIENT_BODY)
    a = connect(port)
    try:
        head = read_lines(a, 2)
        assert head[0].startswith("{") and head[1].startswith("S\t")
        b = connect(port)
        try:
            assert read_all(b, 5) == "error: trace already active\n"
        finally:
            b.close()
        # the first client is still served
        more = read_lines(a, 5)
        assert sum(1 for ln in more if ln.startswith("S\t")) >= 3
    finally:
        a.close()
    # a new client right after the first left is served
    c = connect(port)
    try:
        head = read_lines(c, 2)
        assert json.loads(head[0])["format"] == "mpmon-trace"
        assert head[1].startswith("S\t0\t")
        # and keeps getting samples
        more = read_lines(c, 3)
        assert len(more) == 3 and all(ln.startswith("S\t") for ln in more), more
    finally:
        c.close()
    res, out = finish(p)
    assert res["refused"] == 1 and res["sessions"] == 2, res


ANY_LABEL_BODY = """
async def main():
    mon = monitoring.start(trace={"port": PORT, "interval_ms": 50})
    await wait_client(mon)
    raised = []
    for label in (5, None, 2.5, "ok"):
        try:
            monitoring.mark(label)
        except Exception as e:
            raised.append(repr(e))
    try:
        monitoring.memory_error(7)
    except Exception as e:
        raised.append(repr(e))
    await asyncio.sleep_ms(200)
    report(mon, raised=raised)
    mon.stop()

asyncio.run(main())
"""


def test_a_marker_of_any_type_never_raises_when_a_client_connects(mp):
    """``monitoring.mark(5)`` does nothing while nobody traces; it must not
    start raising TypeError into the application the moment an operator
    connects montrace: a label that is neither str nor bytes is written as
    its text."""
    res, out, text = session_text(mp, ANY_LABEL_BODY, timeout=10)
    assert res["raised"] == [], out
    rows = [ln.split("\t") for ln in text.splitlines()[1:]]
    assert [r[2] for r in rows if r[0] == "M"] == ["5", "None", "2.5", "ok"], text
    assert [r[2:] for r in rows if r[0] == "E"] == [["MemoryError", "7"]], text


BAD_REGION_BODY = """
async def main():
    mon = monitoring.start(trace={"port": PORT, "interval_ms": 50})
    raised = []
    for phase in range(2):
        if phase:
            await wait_client(mon)
        for name in ("", "a\\nb", 5, None):
            try:
                with monitoring.region(name):
                    pass
            except Exception as e:
                raised.append((phase, repr(e)))
    with monitoring.region("good"):
        pass
    await asyncio.sleep_ms(200)
    report(mon, raised=raised, regions=sorted(mon.regions.by_name))
    mon.stop()

asyncio.run(main())
"""


def test_a_bad_region_name_never_raises_when_a_client_connects(mp):
    """``monitoring.region("")`` (or 5, None, a name with a control
    character) is a no-op while nobody traces; it must not start raising
    ValueError into the application when an operator connects montrace:
    such a region is not measured, traced or not."""
    res, out, text = session_text(mp, BAD_REGION_BODY, timeout=10)
    assert res["raised"] == [] and res["regions"] == ["good"], out
    assert [ln.split("\t")[2] for ln in text.splitlines() if ln.startswith("R\t")] == ["good"], text


STALL_BODY = """
async def spam(mon):
    # markers as fast as the loop allows: 100-byte lines, no allocation
    label = b"x" * 100
    while True:
        for i in range(20):
            monitoring.mark(label)
        await asyncio.sleep_ms(2)

async def main():
    mon = monitoring.start(trace={"port": PORT, "interval_ms": 10})
    t = mon.trace
    t.sndbuf = 4096
    t.write_timeout_ms = 1500
    print("READY")
    task = asyncio.create_task(spam(mon))
    # phase 1: a client that never reads; the loop keeps running
    await wait_client(mon)
    ticks = 0
    peaks = []
    gc.collect()
    while t.active and ticks < 600:
        await asyncio.sleep_ms(10)
        ticks += 1
        if ticks % 25 == 0:
            peaks.append(gc.mem_alloc())
    phase1 = {"ticks": ticks, "peaks": peaks, "dropped": t.dropped, "timeouts": t.timeouts,
              "active": t.active}
    # phase 2: a slow client, served again
    await wait_client(mon)
    while t.active:
        await asyncio.sleep_ms(10)
    task.cancel()
    report(mon, phase1=phase1)
    mon.stop()

asyncio.run(main())
"""


def test_client_that_never_reads_drops_and_is_dropped(mp):
    p, port = spawn(mp, STALL_BODY)
    s = connect(port, rcvbuf=4096)
    try:
        t0 = time.monotonic()
        # never read; the board must end the session on its own
        # phase 2: a slow reader (pauses, then reads everything)
        time.sleep(2.5)
        slow = connect(port, rcvbuf=4096)
        try:
            time.sleep(0.8)
            slow.settimeout(5)
            data = b""
            while len(data) < 200000:
                chunk = slow.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            slow.close()
    finally:
        s.close()
    res, out = finish(p)
    ph1 = res["phase1"]
    # the never-reading client: session ended by the write timeout after
    # ~1.5 s, lines dropped and counted, the loop ran all along
    assert ph1["timeouts"] == 1 and not ph1["active"], ph1
    assert ph1["dropped"] > 100, ph1
    assert 50 <= ph1["ticks"] < 600, ph1  # 10 ms ticks kept coming
    peaks = ph1["peaks"]
    assert len(peaks) >= 4
    assert max(peaks) - min(peaks) <= 2048, peaks  # heap bounded
    # the slow client saw the drops counted in a sample line
    text = data.decode()
    header, rows = parse(text)
    drops = [int(r[8]) for r in rows if r[0] == "S" and len(r) == 9]
    assert drops and max(drops) > 0, drops[:20]
    assert res["sessions"] == 2 and res["dropped"] > ph1["dropped"]
    assert time.monotonic() - t0 < 30


NON_READER_BODY = """
async def main():
    mon = monitoring.start(trace={"port": PORT, "interval_ms": 10})
    print("READY")
    await wait_client(mon)
    waited = 0
    while mon.trace.active and waited < 30000:
        await asyncio.sleep_ms(50)
        waited += 50
    report(mon, waited_ms=waited)
    mon.stop()

asyncio.run(main())
"""


def test_a_client_that_never_reads_is_closed_with_the_default_settings(mp):
    """With the trace section's defaults, a client that reads nothing (a
    1 KB receive buffer) is ended by the write timeout within seconds,
    instead of the Unix port's kernel taking megabytes for it."""
    p, port = spawn(mp, NON_READER_BODY)
    s = connect(port, rcvbuf=1024)
    try:
        res, out = finish(p, timeout=60)
    finally:
        s.close()
    assert res["timeouts"] == 1 and not res["active"], res
    assert res["waited_ms"] < 20000, res
    assert res["dropped"] > 0, res


def test_a_client_that_left_with_input_unread_frees_the_slot_at_once(mp):
    """A client that sent input the board did not read, then closed: the
    next client, right after, is served (the board reads the leftover input
    to find the end), ten times in a row."""
    p, port = spawn(mp, LEFT_BODY)
    try:
        for i in range(10):
            a = connect(port)
            assert read_lines(a, 1)[0].startswith("{"), i
            a.sendall(b"x" * 4000 + b"\n")
            a.close()
            b = connect(port)
            try:
                head = read_lines(b, 1)[0]
                assert head.startswith("{"), (i, head)
            finally:
                b.close()
    finally:
        res, out = finish(p)
    assert res["refused"] == 0 and res["sessions"] == 20, res


LEFT_BODY = """
async def main():
    mon = monitoring.start(trace={"port": PORT, "interval_ms": 1000})
    print("READY")
    while mon.trace.sessions < 20:
        await asyncio.sleep_ms(10)
    while mon.trace.active:
        await asyncio.sleep_ms(10)
    report(mon)
    mon.stop()

asyncio.run(main())
"""


MONTRACE_BODY = """
async def worker():
    keep = []
    i = 0
    while True:
        with monitoring.region("http"):
            keep.append(bytearray(700))
        with monitoring.region("json"):
            x = [str(j) for j in range(16)]
        if i % 40 == 0:
            monitoring.mark("batch %d" % (i // 40))
        if len(keep) >= 30:
            keep = []
            monitoring.collect()
        i += 1
        await asyncio.sleep_ms(25)

async def main():
    mon = monitoring.start(trace={"port": PORT, "interval_ms": 100}, hostname="board-a")
    print("READY")
    w = asyncio.create_task(worker())
    await wait_client(mon)
    while mon.trace.active:
        await asyncio.sleep_ms(50)
    w.cancel()
    report(mon)
    mon.stop()

asyncio.run(main())
"""


def montrace_argv_env(args):
    env = dict(os.environ)
    env["PYTHONPATH"] = TOOLS + os.pathsep + env.get("PYTHONPATH", "")
    return [sys.executable, "-m", "montools.montrace"] + list(args), env


def montrace(*args, timeout=60):
    argv, env = montrace_argv_env(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def montrace_capture(port, tsv, seconds, **popen):
    """Start ``montrace 127.0.0.1:PORT -o TSV --duration SECONDS`` in the
    background; returns the Popen."""
    argv, env = montrace_argv_env(["127.0.0.1:%d" % port, "-o", tsv, "--duration", str(seconds)])
    return subprocess.Popen(argv, env=env, **popen)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head[:8]
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_montrace_capture_plot_and_summary(mp, tmp_path):
    p, port = spawn(mp, MONTRACE_BODY)
    tsv = str(tmp_path / "trace.tsv")
    cap = montrace_capture(port, tsv, 10, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        wait_until(lambda: os.path.exists(tsv) and os.path.getsize(tsv) > 0, timeout=10)
        # a second montrace is refused while the first captures: one line
        # that says why, as the tool's other errors; the file it was given
        # (an earlier trace, or the one being captured) is left as it was
        other = tmp_path / "other.tsv"
        other.write_text("an earlier trace\n")
        for path in (str(other), tsv, str(tmp_path / "new.tsv")):
            second = montrace("127.0.0.1:%d" % port, "-o", path, "--duration", "2")
            assert second.returncode == 1
            assert second.stderr == ("error: 127.0.0.1:%d: trace port busy (another client is "
                                     "capturing; one client at a time)\n" % port), second.stderr
        assert other.read_text() == "an earlier trace\n"
        assert not os.path.exists(str(tmp_path / "new.tsv"))
        cout, cerr = cap.communicate(timeout=30)
    finally:
        reap(cap)
    assert cap.returncode == 0, cerr
    res, out = finish(p)
    assert res["refused"] == 3
    with open(tsv) as f:
        text = f.read()
    header, rows = parse(text)
    samples = [r for r in rows if r[0] == "S"]
    dur = (int(samples[-1][1]) - int(samples[0][1])) / 1000
    assert 9.0 <= dur <= 10.5 and 85 <= len(samples) <= 105, (dur, len(samples))
    assert "captured %d samples" % len(samples) in cerr

    svg = str(tmp_path / "trace.svg")
    png = str(tmp_path / "trace.png")
    for path in (svg, png):
        r = montrace("plot", tsv, "-o", path)
        assert r.returncode == 0, r.stderr
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    texts = set("".join(e.itertext()) for e in root.iter("{http://www.w3.org/2000/svg}text"))
    # the board's clock is set: the wall clock the header gives, in UTC
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(header["start_unix_ms"] / 1000))
    for label in ("used heap (KiB)", "free heap (KiB)", "time since trace start (s)",
                  "used heap (mem_alloc)", "free heap (mem_free)", "marker", "http", "json",
                  "regions by bytes allocated during the capture",
                  "wall clock, UTC (trace started %s)" % started):
        assert label in texts, (label, sorted(texts))
    # every marker labelled (about one a second: they all fit)
    marks = [r[2] for r in rows if r[0] == "M"]
    assert marks and all(m in texts for m in marks), (marks, sorted(texts))
    w, h = png_size(png)
    assert w >= 800 and h >= 600, (w, h)
    assert os.path.getsize(png) > 20000

    r = montrace("summary", tsv, "--json")
    assert r.returncode == 0, r.stderr
    summ = json.loads(r.stdout)
    # recompute from the file
    frees = [(int(s[2]), int(s[1])) for s in samples]
    lo = min(frees)
    assert summ["samples"] == len(samples)
    assert summ["min_free"] == lo[0]
    assert summ["min_free_at_s"] == min(ms for f, ms in frees if f == lo[0]) / 1000
    allocs = [(int(s[1]), int(s[3])) for s in samples]
    grown = sum(b[1] - a[1] for a, b in zip(allocs, allocs[1:]) if b[1] >= a[1])
    ms = sum(b[0] - a[0] for a, b in zip(allocs, allocs[1:]) if b[1] >= a[1])
    assert summ["alloc_rate_Bps"] == pytest.approx(grown * 1000 / ms)
    # the worker allocates ~700 B + ~1 KB per 25 ms pass: tens of KB/s
    assert 20000 <= summ["alloc_rate_Bps"] <= 200000
    assert summ["collections"] == int(samples[-1][7]) - int(samples[0][7]) >= 3
    last = {}
    for r in rows:
        if r[0] == "R":
            last[r[2]] = r
    top = summ["regions"]
    assert [x["name"] for x in top] == sorted(last, key=lambda n: -int(last[n][4]))
    for x in top:
        assert x["bytes"] == int(last[x["name"]][4]) and x["count"] == int(last[x["name"]][3])
    http = [x for x in top if x["name"] == "http"][0]
    assert 700 <= http["bytes_per_pass"] <= 850, http
    markers = [r for r in rows if r[0] == "M"]
    assert summ["markers"] == len(markers) >= 5
    r = montrace("summary", tsv)
    assert "min free heap: %d B" % lo[0] in r.stdout and "http" in r.stdout


BAD_BODY = """
import monitoring
for sec in ({"port": 70000}, {"port": 1, "interval_ms": 5}, {"port": 1, "interval_ms": "fast"},
            {"port": 1, "buffer_bytes": 100}, {"port": 1, "interval": 50}):
    try:
        monitoring.start(trace=sec)
        print("started?")
    except ValueError as e:
        print("error:", e)
    print("current", monitoring.current)
"""


def test_bad_options_refused_without_state_change(mp):
    out = mp.run(COMMON + BAD_BODY, heapsize=HEAP, args=["0"]).stdout
    errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert errors == [
        "error: trace.port: expected an integer from 0 to 65535, got 70000",
        "error: trace.interval_ms: expected an integer from 10 to 60000, got 5",
        "error: trace.interval_ms: expected an integer from 10 to 60000, got 'fast'",
        "error: trace.buffer_bytes: expected an integer from 256 to 65536, got 100",
        "error: trace.interval: unknown key (known: port, addr, interval_ms, buffer_bytes)",
    ], out
    assert "started?" not in out
    assert out.count("current None") == 5


CYCLES_BODY = """
async def main():
    mon = monitoring.start(trace={"port": PORT, "interval_ms": 20})
    print("READY")
    after = []
    for n in range(6):
        await wait_client(mon)
        while mon.trace.active:
            await asyncio.sleep_ms(10)
        await asyncio.sleep_ms(50)
        gc.collect()
        after.append(gc.mem_alloc())
    report(mon, after=after, session=mon.trace.session is None)
    mon.stop()

asyncio.run(main())
"""


def test_nothing_kept_after_a_session(mp):
    p, port = spawn(mp, CYCLES_BODY)
    for n in range(6):
        s = connect(port)
        try:
            lines = read_lines(s, 6)
            assert lines[0].startswith("{") and lines[1].startswith("S\t")
        finally:
            s.close()
        time.sleep(0.15)
    res, out = finish(p)
    assert res["sessions"] == 6 and res["session"] and not res["active"]
    after = res["after"]
    # the first session loads tracesession/tracefmt; after that, an ended
    # session leaves nothing behind: the heap does not grow (a session's
    # buffer alone is 1 KB: a leak would add >= 4 KB over these 5; the
    # conservative collector keeps up to about 1.7 KB more or less from one
    # measure to the next, as a stale pointer on the stack says)
    assert max(after[1:]) - min(after[1:]) <= 2048, after
    assert after[-1] - after[1] <= 2048, after


def test_montrace_live_progress_on_a_terminal(mp, tmp_path):
    import pty

    p, port = spawn(mp, MONTRACE_BODY)
    master, slave = pty.openpty()
    tsv = str(tmp_path / "t.tsv")
    cap = montrace_capture(port, tsv, 2, stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's last writer left
                break
            if not chunk:
                break
            seen += chunk
        cap.wait(timeout=30)
    finally:
        os.close(master)
        reap(cap)
    finish(p)
    text = seen.decode()
    progress = [part for part in text.split("\r") if "samples" in part and "free heap" in part]
    assert len(progress) >= 3, text
    # the last progress line agrees with the file
    with open(tsv) as f:
        lines = f.read().splitlines()
    samples = [ln.split("\t") for ln in lines if ln.startswith("S\t")]
    last = progress[-1].split()
    assert int(last[0]) == len(samples)
    assert last[-2] == samples[-1][2]  # current free heap, bytes
    assert "captured %d samples" % len(samples) in text


def test_montrace_bad_target_and_refused_connection():
    port = free_port()
    r = montrace("127.0.0.1:notaport", "-o", os.devnull)
    assert r.returncode == 2 and "error: bad port" in r.stderr
    r = montrace("127.0.0.1:%d" % port, "-o", os.devnull)
    assert r.returncode == 1 and "error: 127.0.0.1:%d" % port in r.stderr



def test_montrace_missing_or_unwritable_files_give_an_error_line(tmp_path):
    """A trace file that cannot be read (plot, summary) or an output that
    cannot be written (capture) is one ``error:`` line and exit 1, not a
    Python traceback; the capture checks its output before connecting."""
    missing = str(tmp_path / "nope.tsv")
    for args in (("summary", missing), ("summary", missing, "--json"),
                 ("plot", missing, "-o", str(tmp_path / "x.png")),
                 ("127.0.0.1:%d" % free_port(), "-o", str(tmp_path / "no" / "dir.tsv"))):
        r = montrace(*args)
        assert r.returncode == 1 and "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, (args, r.stderr)
        assert ("nope.tsv" if args[0] in ("plot", "summary") else "dir.tsv") in r.stderr, r.stderr


INFLUX_BODY = """
async def main():
    mon = monitoring.start(hostname="pico-r",
                           influx={"host": "127.0.0.1", "port": int(sys.argv[2]),
                                   "transport": "http", "db": sys.argv[3], "interval_s": 0.2})
    keep = []
    gc.collect()
    for i in range(12):
        with monitoring.region("handler"):
            keep.append(bytearray(500))
    for i in range(3):
        with monitoring.region("parse"):
            pass
    r = mon.regions.by_name
    # the reporter's own flushes send the totals (nothing changes them now)
    await asyncio.sleep_ms(700)
    report(mon, handler=[r["handler"].count, r["handler"].bytes, r["handler"].ms],
           parse=[r["parse"].count, r["parse"].bytes, r["parse"].ms],
           sent=mon.counters.points_sent, errors=mon.influx.last_error)
    mon.stop()

asyncio.run(main())
"""


def test_regions_metrics_source_stored_by_influxdb(mp, influxdb, influx_db):
    p = mp.spawn(COMMON + INFLUX_BODY, heapsize=HEAP,
                 args=["0", str(influxdb.http_port), influx_db])
    res, out = finish(p)
    assert res["errors"] is None, res
    rows = influxdb.rows(influx_db, "regions")
    # one point per flush, every one with the same totals
    assert len(rows) >= 2 and res["sent"] >= len(rows), rows
    row = rows[-1]
    assert all(r == dict(row, time=r["time"]) for r in rows), rows
    assert row["host"] == "pico-r"
    assert [row["handler_count"], row["handler_bytes"], row["handler_ms"]] == res["handler"]
    assert [row["parse_count"], row["parse_bytes"], row["parse_ms"]] == res["parse"]
    assert row["handler_count"] == 12 and 6000 <= row["handler_bytes"] <= 6000 * 1.3
    assert row["parse_count"] == 3 and row["parse_bytes"] == 0
    types = influxdb.field_types(influx_db, "regions")
    assert set(types.values()) == {"integer"} and len(types) == 6


SMALL_HEAP_BODY = """
async def main():
    mon = monitoring.start(trace={"port": PORT, "interval_ms": 50})
    print("READY")
    await wait_client(mon)
    for i in range(20):
        with monitoring.region("r"):
            x = bytearray(100)
        monitoring.mark(b"m")
        await asyncio.sleep_ms(20)
    gc.collect()
    report(mon, free=gc.mem_free())
    mon.stop()

asyncio.run(main())
"""


def test_a_session_in_a_64k_heap(mp):
    res, header, rows = one_session(mp, SMALL_HEAP_BODY, heapsize="64k")
    assert header["heap_total"] <= 64 * 1024
    assert sum(1 for r in rows if r[0] == "M") == 20
    assert [r for r in rows if r[0] == "R"][-1][2:4] == ["r", "20"]
    assert res["samples"] >= 5 and res["dropped"] == 0 and res["memory_errors"] == 0
    # room left for the application: 17 KB before the option checks, about
    # 15 KB with the socket pool and the trace port's guards against
    # clients that do not read or leave input behind; a floor, not a target
    assert res["free"] > 12 * 1024, res


def test_montrace_to_a_pipe_that_closes_ends_quietly():
    """``montrace board -o - | head`` : when the reader goes away, montrace
    stops without blaming the board (``error: HOST:PORT: Broken pipe``,
    exit 1) and without Python's "Exception ignored" at exit."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    port = lst.getsockname()[1]

    def board():
        c, _ = lst.accept()
        try:
            c.sendall(b'{"format": "mpmon-trace", "version": 1}\n')
            line = b"S\t0\t1000\t2000\t-\t-\t-\t0\t0\n"
            for _ in range(2000):
                c.sendall(line * 50)
        except OSError:
            pass
        finally:
            c.close()

    t = threading.Thread(target=board, daemon=True)
    t.start()
    env = dict(os.environ)
    env["PYTHONPATH"] = TOOLS + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.Popen([sys.executable, "-m", "montools.montrace", "127.0.0.1:%d" % port, "-o", "-",
                          "--duration", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert p.stdout.readline().startswith(b"{")
        p.stdout.close()  # the reader goes away
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
        lst.close()
    err = err.decode()
    assert p.returncode == 0, err
    assert "error" not in err and "Exception ignored" not in err and "Traceback" not in err, err


def test_montrace_without_output_writes_the_stream_to_stdout(mp):
    """``montrace HOST:PORT`` (the README's quick start) captures to
    stdout, as ``-o -`` does; the closing count goes to stderr."""
    p, port = spawn(mp, MONTRACE_BODY)
    try:
        r = montrace("127.0.0.1:%d" % port, "--duration", "2", timeout=30)
        assert r.returncode == 0, r.stderr
    except BaseException:
        reap(p)
        raise
    res, out = finish(p)
    header, rows = parse(r.stdout)
    assert header["format"] == "mpmon-trace" and header["device"] == "board-a"
    samples = [row for row in rows if row[0] == "S"]
    assert 10 <= len(samples) <= 25 and res["samples"] >= len(samples), (len(samples), res)
    assert r.stderr == "captured %d samples in %s s to stdout\n" % (
        len(samples), r.stderr.split()[4]), r.stderr
    h = montrace("--help")
    assert h.returncode == 0 and "stdout" in h.stdout and "[-o OUTPUT]" in h.stdout, h.stdout
