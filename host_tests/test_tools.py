"""montrace plot and summary on a crafted trace file: what the tool draws
(read back from its SVG, whose text stays text) and prints."""

import json
import os
import re
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(os.path.dirname(HERE), "tools")
SVG = "{http://www.w3.org/2000/svg}"
START_MS = 1796306242566  # 2026-12-03 13:57:22.566 UTC
HEAP_TOTAL = 2072832  # the Unix port's default heap: a narrow sawtooth in a tall heap
BURST = ["sensor read %d" % k for k in range(5)]
LONG = "ota check: no update available from ota.example.net"


def montrace(*args, timeout=120):
    env = dict(os.environ)
    env["PYTHONPATH"] = TOOLS + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "montools.montrace"] + list(args),
                          capture_output=True, text=True, timeout=timeout, env=env)


def write_trace(path, start_unix_ms=START_MS):
    """A 45 s trace as the demo firmware gives on the Unix port: 200 ms
    samples of 165 to 345 KiB used in a 2 MB heap, a library collection
    every 10 s, markers (five within 100 ms among them), a MemoryError
    and three regions: ``handler`` with totals from before the capture,
    ``json`` first used 20 s in, ``idle`` not used during it. Returns the
    markers written, [(ms, label)]."""
    hdr = {"format": "mpmon-trace", "version": 1, "device": "unix-demo", "platform": "linux",
           "micropython": "1.29.0", "heap_total": HEAP_TOTAL, "interval_ms": 200,
           "buffer_size": 1024, "start_unix_ms": start_unix_ms}
    lines = [json.dumps(hdr)]
    markers = []
    alloc = 170000
    gcs = 0
    handler = [25, 107552, 11]
    js = [0, 0, 0]
    for i in range(226):
        ms = i * 200
        if i and i % 50 == 0:
            lines.append("G\t%d\t%d\t%d" % (ms - 2, alloc, 168000 + i * 8))
            alloc = 168000 + i * 8
            gcs += 1
        else:
            alloc += 3000 + (i * 37) % 1100
        lines.append("S\t%d\t%d\t%d\t-\t2208\t-\t%d\t0" % (ms, HEAP_TOTAL - alloc, alloc, gcs))
        if i == 0:
            lines.append("R\t0\tidle\t3\t96\t0\t0")
        if i % 2 == 0:
            handler = [handler[0] + 1, handler[1] + 4400, handler[2] + 1]
            lines.append("R\t%d\thandler\t%d\t%d\t%d\t0" % ((ms,) + tuple(handler)))
        if ms >= 20000 and i % 4 == 0:
            js = [js[0] + 2, js[1] + 2 * 5100, js[2] + 3]
            lines.append("R\t%d\tjson\t%d\t%d\t%d\t0" % ((ms,) + tuple(js)))
        if i % 38 == 19:
            markers.append((ms + 50, "request failed"))
        if i == 120:
            markers += [(ms + 10 + 20 * k, label) for k, label in enumerate(BURST)]
        if i == 150:
            markers.append((ms + 30, LONG))
        for m in markers:
            if ms <= m[0] < ms + 200:
                lines.append("M\t%d\t%s" % m)
        if i == 165:
            lines.append("E\t%d\tMemoryError\thttp" % (ms + 90))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return markers


def svg_texts(path):
    """{group id: [(text, x, y)]} for each axes group of an SVG written by
    matplotlib (a secondary axis is a group of its own inside its axes'
    group), and the figure-level texts under ``None``."""
    root = ET.parse(path).getroot()
    out = {None: []}

    def walk(el, into):
        for child in el:
            if child.tag == SVG + "text":
                # where it is drawn: x/y, or (rotated text) its translate()
                m = re.search(r"translate\(([-\d.e]+)[ ,]+([-\d.e]+)\)",
                              child.get("transform", ""))
                x, y = m.groups() if m else (child.get("x", 0), child.get("y", 0))
                into.append(("".join(child.itertext()), float(x), float(y)))
            elif (child.get("id") or "").startswith("axes_"):
                walk(child, out.setdefault(child.get("id"), []))
            else:
                walk(child, into)

    walk(root, out[None])
    return out


def panels(groups, label):
    """The texts of each axes group that holds ``label``, top first."""
    found = [texts for gid, texts in groups.items()
             if gid is not None and any(t[0] == label for t in texts)]
    return sorted(found, key=lambda texts: min(t[2] for t in texts if t[0] == label))


def panel(groups, label):
    """The texts of the one axes group that holds ``label``."""
    found = panels(groups, label)
    assert len(found) == 1, (label, len(found))
    return found[0]


def numbers(texts):
    return [t for t in texts if re.fullmatch(r"[\d.]+", t[0])]


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head[:8]
    return struct.unpack(">II", head[16:24])


def test_plot_draws_the_capture_on_one_time_base(tmp_path):
    tsv = str(tmp_path / "demo.tsv")
    markers = write_trace(tsv)
    svg, png = str(tmp_path / "demo.svg"), str(tmp_path / "demo.png")
    for path in (svg, png):
        r = montrace("plot", tsv, "-o", path)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "wrote %s (226 samples)\n" % path
    w, h = png_size(png)
    assert w >= 1000 and h >= 800, (w, h)
    assert os.path.getsize(png) > 50000

    groups = svg_texts(svg)
    # the wall clock from the header's start_unix_ms, in UTC, on top
    clock = panel(groups, "wall clock, UTC (trace started 2026-12-03 13:57:22 UTC)")
    clock = [t[0] for t in clock if re.fullmatch(r"\d\d:\d\d:\d\d", t[0])]
    assert len(clock) >= 4 and all("13:57:22" <= c <= "13:58:08" for c in clock), clock
    # every marker and the MemoryError labelled in a strip of their own,
    # above the heap panels, apart from each other (the burst spread out)
    labels = panel(groups, BURST[0])
    want = [lb if len(lb) <= 24 else lb[:23] + "\u2026" for _, lb in markers]
    assert sorted(t[0] for t in labels) == sorted(want + ["MemoryError: http"]), labels
    xs = sorted(t[1] for t in labels)
    assert min(b - a for a, b in zip(xs, xs[1:])) >= 10, xs  # pt: one rotated 8 pt line
    used = panel(groups, "used heap (KiB)")
    free = panel(groups, "free heap (KiB)")
    assert max(t[2] for t in labels) < min(t[2] for t in numbers(used + free))
    # used heap on an axis scaled to its range (165-345 KiB), not 0-2 MB,
    # with the share of the heap on the right
    ticks = [float(t[0]) for t in numbers(used)]
    assert ticks and 150 <= min(ticks) and max(ticks) <= 360, ticks
    pct_used, pct_free = [[float(t[0]) for t in numbers(texts)]
                          for texts in panels(groups, "% of heap total")]
    assert pct_used and 7 <= min(pct_used) and max(pct_used) <= 18, pct_used
    assert pct_free and 82 <= min(pct_free) and max(pct_free) <= 93, pct_free
    # regions: what the capture saw, totals since monitoring started aside
    regions = panel(groups, "KiB allocated inside the region during the capture")
    text = [t[0] for t in regions]
    assert "regions by bytes allocated during the capture" in text
    # handler: 113 R lines, the first sent at the start: 112 passes after it
    assert "  112 passes, 4400 B/pass, 112 ms" in text, text
    assert "  since monitoring started: 138 passes, 591 KiB" in text, text
    assert "  64 passes, 5100 B/pass, 96 ms" in text, text  # json: all in the capture
    assert "  0 passes, 0 B/pass, 0 ms" in text, text  # idle
    legend = [t[0] for t in used]
    for entry in ("used heap (mem_alloc)", "free heap (mem_free)", "gc.collect by the library",
                  "marker", "MemoryError"):
        assert entry in legend, entry
    title = [t[0] for t in groups[None]]
    assert "unix-demo (linux, MicroPython 1.29.0): heap total 2024 KiB, a sample every 200 ms" \
        in title, title


def test_plot_says_when_the_wall_clock_is_unknown(tmp_path):
    tsv = str(tmp_path / "t.tsv")
    write_trace(tsv, start_unix_ms=None)
    svg = str(tmp_path / "t.svg")
    r = montrace("plot", tsv, "-o", svg)
    assert r.returncode == 0, r.stderr
    groups = svg_texts(svg)
    panel(groups, "wall clock unknown: the board's clock was not set when the trace started")
    assert not [t for texts in groups.values() for t in texts
                if re.fullmatch(r"\d\d:\d\d:\d\d", t[0])]


def test_summary_counts_regions_over_the_capture(tmp_path):
    """``count_in_trace`` and ``bytes_in_trace``: from a region's first
    R line (sent when the client connected), or from zero for a region
    first used during the capture."""
    tsv = str(tmp_path / "t.tsv")
    write_trace(tsv)
    r = montrace("summary", tsv, "--json")
    assert r.returncode == 0, r.stderr
    regs = {x["name"]: x for x in json.loads(r.stdout)["regions"]}
    assert (regs["handler"]["count"], regs["handler"]["count_in_trace"]) == (138, 112)
    assert regs["handler"]["bytes_in_trace"] == 112 * 4400
    assert (regs["json"]["count"], regs["json"]["count_in_trace"]) == (64, 64)
    assert regs["json"]["bytes_in_trace"] == 64 * 5100
    assert regs["idle"]["count_in_trace"] == 0


def test_wall_clock_label_is_utc_whatever_the_local_zone(tmp_path):
    tsv = str(tmp_path / "t.tsv")
    write_trace(tsv)
    svg = str(tmp_path / "t.svg")
    env_tz = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    try:
        if hasattr(time, "tzset"):
            time.tzset()
        r = montrace("plot", tsv, "-o", svg)
    finally:
        if env_tz is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = env_tz
        if hasattr(time, "tzset"):
            time.tzset()
    assert r.returncode == 0, r.stderr
    clock = panel(svg_texts(svg), "wall clock, UTC (trace started 2026-12-03 13:57:22 UTC)")
    assert [t[0] for t in clock if t[0].startswith("13:57:")], clock
