"""montrace: capture, plot and summarise a board's trace port stream.

    montrace HOST[:PORT] [-o FILE] [--duration S]   capture (Ctrl-C stops)
    montrace plot trace.tsv -o trace.svg|trace.png   draw heap over time
    montrace summary trace.tsv [--json]              min free heap, rates, regions

A capture writes the stream as received to stdout, or to FILE with -o
(-o - is stdout too): a JSON header line, then tab-separated lines whose
first column is the kind (S sample, M marker, G library collection, E
error, R region totals); see docs/trace.md. The count of
samples captured and, on a terminal, a live progress line go to stderr.
"""

import argparse
import json
import os
import socket
import sys
import time

DEFAULT_PORT = 4242
# the board's one line to a client while another one is served
BUSY = "error: trace already active"
SAMPLE_COLS = ("ms", "free", "alloc", "largest", "stack", "tasks", "gcs", "dropped")


# -- reading a trace ---------------------------------------------------------


class Refused(Exception):
    """The board answered with an ``error:`` line instead of a header;
    ``args[0]`` is that line."""


class Trace:
    """A parsed trace file: ``header`` (dict), ``samples`` (list of dicts
    with SAMPLE_COLS keys, None for ``-``), ``markers`` [(ms, label)],
    ``collects`` [(ms, before, after)], ``errors`` [(ms, error, where)],
    ``regions`` {name: (ms, count, bytes, region_ms, inexact)} (last line
    per name), ``first_regions`` (first line per name), ``bad`` (lines not
    understood)."""

    def __init__(self):
        self.header = {}
        self.samples = []
        self.markers = []
        self.collects = []
        self.errors = []
        self.regions = {}
        self.first_regions = {}
        self.bad = 0


def _int(v):
    return None if v == "-" else int(v)


def parse_lines(lines):
    """Parse an iterable of text lines into a :class:`Trace`."""
    t = Trace()
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            continue
        if line.startswith("{"):
            try:
                t.header = json.loads(line)
            except ValueError:
                t.bad += 1
            continue
        p = line.split("\t")
        try:
            if p[0] == "S" and len(p) == 9:
                t.samples.append(dict(zip(SAMPLE_COLS, (_int(v) for v in p[1:]))))
            elif p[0] == "M" and len(p) == 3:
                t.markers.append((int(p[1]), p[2]))
            elif p[0] == "G" and len(p) == 4:
                t.collects.append((int(p[1]), int(p[2]), int(p[3])))
            elif p[0] == "E" and len(p) == 4:
                t.errors.append((int(p[1]), p[2], p[3]))
            elif p[0] == "R" and len(p) == 7:
                rec = (int(p[1]), int(p[3]), int(p[4]), int(p[5]), int(p[6]))
                t.regions[p[2]] = rec
                t.first_regions.setdefault(p[2], rec)
            else:
                t.bad += 1
        except ValueError:
            t.bad += 1
    return t


def load(path):
    """Read a trace file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse_lines(f)


def summarize(t):
    """The summary figures of a :class:`Trace`, as a dict."""
    s = t.samples
    out = {"device": t.header.get("device"), "samples": len(s), "markers": len(t.markers),
           "collects_by_library": len(t.collects), "errors": len(t.errors),
           "dropped": sum(x["dropped"] or 0 for x in s), "bad_lines": t.bad}
    if not s:
        return out
    dur_ms = s[-1]["ms"] - s[0]["ms"]
    low = min(s, key=lambda x: x["free"])
    # allocation rate: growth of mem_alloc between consecutive samples; an
    # interval where it fell (a collection) is left out (its allocation is
    # unknown) from both the bytes and the time
    grown = 0
    ms_counted = 0
    for a, b in zip(s, s[1:]):
        if b["alloc"] >= a["alloc"]:
            grown += b["alloc"] - a["alloc"]
            ms_counted += b["ms"] - a["ms"]
    out.update({
        "duration_s": dur_ms / 1000.0,
        "heap_total": t.header.get("heap_total"),
        "min_free": low["free"],
        "min_free_at_s": low["ms"] / 1000.0,
        "max_alloc": max(x["alloc"] for x in s),
        "alloc_rate_Bps": (grown * 1000.0 / ms_counted) if ms_counted else 0.0,
        "collections": (s[-1]["gcs"] or 0) - (s[0]["gcs"] or 0),
    })
    regs = []
    for d in region_deltas(t):
        name = d["name"]
        ms, count, nbytes, rms, inexact = t.regions[name]
        regs.append({"name": name, "count": count, "bytes": nbytes, "ms": rms,
                     "inexact": inexact,
                     "bytes_per_pass": (nbytes / count) if count else 0.0,
                     "count_in_trace": d["count"], "bytes_in_trace": d["bytes"]})
    regs.sort(key=lambda r: -r["bytes"])
    out["regions"] = regs
    return out


def region_deltas(t):
    """Per region, what happened inside it during the capture, so its
    figures share the plot's time base instead of the board's uptime: its
    last ``R`` line minus its baseline. The board sends every region's
    totals when a client connects (those that do not fit its buffer with
    the next sample), so a region first seen by the second sample existed
    before: its first line is the baseline; one first seen later was first
    used during the capture: its baseline is zero. A list of dicts (also
    ``total_count``/``total_bytes``: since monitoring started) sorted by
    bytes, biggest first."""
    s = t.samples
    started = s[min(1, len(s) - 1)]["ms"] if s else 0
    out = []
    for name, (ms, count, nbytes, rms, inexact) in t.regions.items():
        f = t.first_regions[name]
        if f[0] > started:
            f = (f[0], 0, 0, 0, 0)
        out.append({"name": name, "count": count - f[1], "bytes": nbytes - f[2],
                    "ms": rms - f[3], "inexact": inexact - f[4],
                    "total_count": count, "total_bytes": nbytes})
    out.sort(key=lambda r: (-r["bytes"], -r["total_bytes"], r["name"]))
    return out


def format_summary(d):
    """Human-readable summary text."""
    lines = ["device %s: %d samples over %.1f s" % (d.get("device"), d["samples"],
                                                   d.get("duration_s", 0.0))]
    if d["samples"]:
        lines.append("min free heap: %d B at %.2f s (heap total %s B, max allocated %d B)"
                     % (d["min_free"], d["min_free_at_s"], d.get("heap_total"), d["max_alloc"]))
        lines.append("allocation rate: %.0f B/s" % d["alloc_rate_Bps"])
        lines.append("collections observed: %d (run by the library: %d)"
                     % (d["collections"], d["collects_by_library"]))
    lines.append("markers: %d, errors: %d, lines dropped by the board: %d"
                 % (d["markers"], d["errors"], d["dropped"]))
    regs = d.get("regions") or []
    if regs:
        lines.append("top regions by bytes (totals since monitoring started):")
        lines.append("  %-20s %8s %12s %10s %10s" % ("region", "passes", "bytes", "B/pass", "ms"))
        for r in regs[:10]:
            lines.append("  %-20s %8d %12d %10.0f %10d" % (r["name"][:20], r["count"], r["bytes"],
                                                          r["bytes_per_pass"], r["ms"]))
    return "\n".join(lines)


# -- capture -------------------------------------------------------------------


def parse_target(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("bad port in %r" % text)
    return host, int(port)


class OutputFile:
    """``-o FILE`` for a capture: checked writable when made (before
    connecting), emptied only when the board's stream begins, so a refused
    or failed capture leaves an earlier trace in place (and the file of a
    capture already running with the same name intact); a file it created
    and never wrote to is removed on close."""

    def __init__(self, path):
        self.path = path
        self.existed = os.path.exists(path)
        open(path, "a", encoding="utf-8").close()  # OSError now, not after connecting
        self.f = None

    def write(self, text):
        if self.f is None:
            self.f = open(self.path, "w", encoding="utf-8")
        self.f.write(text)

    def flush(self):
        if self.f is not None:
            self.f.flush()

    def close(self):
        if self.f is not None:
            self.f.close()
        elif not self.existed:
            try:
                os.remove(self.path)
            except OSError:
                pass


def show(progress, samples, secs, free):
    """One live progress line (rewritten in place with CR)."""
    progress.write("\r%6d samples  %7.1f s  free heap %s B   " % (
        samples, secs, "-" if free is None else free))
    progress.flush()


def capture(host, port, out, duration=None, progress=None, connect_timeout=5.0):
    """Write the stream from ``host:port`` to the file object ``out`` until
    EOF, ``duration`` seconds or Ctrl-C. ``progress`` (a text stream) gets
    a live line. Returns (samples, seconds). Raises :class:`Refused` when
    the board refuses (``BUSY``: another client is tracing)."""
    s = socket.create_connection((host, port), timeout=connect_timeout)
    s.settimeout(0.25)
    start = time.monotonic()
    samples = 0
    free = None
    pending = b""
    first = True
    last_shown = 0.0
    try:
        while duration is None or time.monotonic() - start < duration:
            try:
                data = s.recv(65536)
            except socket.timeout:
                data = None
            if data == b"":
                break
            if data:
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    text = line.decode("utf-8", "replace")
                    if first:
                        first = False
                        if text.startswith("error:"):
                            raise Refused(text)
                    out.write(text + "\n")
                    if text.startswith("S\t"):
                        samples += 1
                        try:
                            free = int(text.split("\t")[2])
                        except (IndexError, ValueError):
                            pass
            now = time.monotonic()
            if progress is not None and now - last_shown >= 0.2:
                last_shown = now
                show(progress, samples, now - start, free)
    except KeyboardInterrupt:
        pass
    finally:
        s.close()
        out.flush()
        if progress is not None:
            show(progress, samples, time.monotonic() - start, free)
            progress.write("\n")
    return samples, time.monotonic() - start


# -- plot --------------------------------------------------------------------------

LABEL_MAX = 24  # characters of a marker label drawn (the file keeps all)


def collections_seen(t):
    """Times (s) of the collections: ``(library, observed)``, the G lines
    and the samples whose ``gcs`` grew with no G line near them."""
    s = t.samples
    lib = sorted(ms / 1000.0 for ms, _, _ in t.collects)
    seen = []
    for a, b in zip(s, s[1:]):
        if (b["gcs"] or 0) > (a["gcs"] or 0):
            x = b["ms"] / 1000.0
            if not any(abs(x - g) * 1000 <= (b["ms"] - a["ms"]) for g in lib):
                seen.append(x)
    return lib, seen


def wall_clock_text(start_ms):
    """``start_unix_ms`` as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start_ms / 1000.0))


def _span(lo, hi, floor):
    # an axis range around [lo, hi] with a margin, at least ``floor`` tall
    pad = max((hi - lo) * 0.08, floor / 2.0)
    return lo - pad, hi + pad


def place_labels(xs, sep, lo, hi):
    """Positions for labels wanted at the sorted ``xs``, each at least
    ``sep`` from the next and inside [lo, hi], as close to its own x as
    that allows (a run of labels too close together is spread evenly
    around where they were wanted). Needs ``(len(xs) - 1) * sep <= hi - lo``."""
    runs = []  # [x of the run's first label, number of labels, sum of (x - k * sep)]
    for x in xs:
        runs.append([x, 1, x])
        while True:
            r = runs[-1]
            r[0] = min(max(r[2] / r[1], lo), hi - (r[1] - 1) * sep)
            if len(runs) < 2 or runs[-2][0] + runs[-2][1] * sep <= r[0]:
                break
            q = runs.pop()
            p = runs[-1]
            p[2] += q[2] - q[1] * p[1] * sep
            p[1] += q[1]
    out = []
    for x0, n, _ in runs:
        out.extend(x0 + k * sep for k in range(n))
    return out


def _events_strip(ax, t, fig, lo, hi):
    """Markers (red) and MemoryErrors (black) as ticks in a strip of their
    own, labels rotated above them: no label crosses a heap line. Labels
    too close together are spread apart, each joined to its tick; when
    there are more than fit, MemoryErrors keep theirs and every other
    marker loses its label until the rest fit (the strip says how many).
    Returns the times of the markers labelled."""
    ev = [(ms / 1000.0, label, "tab:red", 1) for ms, label in t.markers]
    ev += [(ms / 1000.0, "%s: %s" % (err, where), "black", 0) for ms, err, where in t.errors]
    ev.sort(key=lambda e: e[0])
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    for side in ("left", "right"):
        ax.spines[side].set_visible(False)
    if not ev:
        ax.text(0.5, 0.5, "no markers in this trace", transform=ax.transAxes, ha="center",
                va="center", color="0.4", fontsize=9)
        return []
    for x, _, color, _ in ev:
        ax.plot([x, x], [0, 0.08], color=color, lw=1.3)
    # the x distance a rotated label takes, from the strip's drawn width
    fig.canvas.draw()
    width_pt = ax.get_window_extent().width * 72.0 / fig.dpi
    sep = 10.5 * (hi - lo) / width_pt if width_pt > 0 and hi > lo else 1.0
    room = max(1, int((hi - lo) / sep) + 1)
    shown = list(ev)
    while len(shown) > room:
        keep = [e for e in shown if not e[3]]
        markers = [e for e in shown if e[3]]
        if len(keep) >= room or len(markers) <= 1:
            shown = (keep + markers)[:room]
            break
        shown = sorted(keep + markers[::2], key=lambda e: e[0])
    at = place_labels([e[0] for e in shown], sep, lo, hi)
    for (x, label, color, _), q in zip(shown, at):
        if len(label) > LABEL_MAX:
            label = label[:LABEL_MAX - 1] + "\u2026"
        ax.plot([x, q], [0.08, 0.17], color=color, lw=0.7, alpha=0.8)
        ax.text(q, 0.19, label, rotation=90, ha="center", va="bottom", fontsize=8, color=color)
    if len(shown) < len(ev):
        ax.text(1.01, 0.05, "%d more not labelled\n(too close together)" % (len(ev) - len(shown)),
                transform=ax.transAxes, ha="left", va="bottom", fontsize=8, color="0.35")
    return [e[0] for e in shown if e[3]]


def plot(t, path, title=None):
    """Render ``t`` to ``path`` (.svg or .png), one time base (seconds
    since the trace started, with the wall clock above when the header
    has ``start_unix_ms``): a strip of marker labels, used heap and free
    heap each on an axis scaled to its own range (with % of the heap
    total on the right), collections and markers as vertical lines, and
    the regions' allocation during the capture as bars below."""
    import matplotlib

    matplotlib.use("Agg")
    import datetime

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    s = t.samples
    h = t.header
    total = h.get("heap_total")
    xs = [x["ms"] / 1000.0 for x in s]
    all_regs = region_deltas(t)
    regs = all_regs[:8]
    longest = max([len(m[1]) for m in t.markers] +
                  [len("%s: %s" % e[1:]) for e in t.errors] + [8])
    strip_h = 0.45 + 0.062 * min(longest, LABEL_MAX)
    reg_h = 0.9 + 0.36 * len(regs) if regs else 0.7
    heights = [strip_h, 2.9, 2.2, reg_h]
    fig = plt.figure(figsize=(12, sum(heights) + 1.3), layout="constrained")
    gs = fig.add_gridspec(4, 1, height_ratios=heights)
    axm = fig.add_subplot(gs[0])
    axa = fig.add_subplot(gs[1], sharex=axm)
    axf = fig.add_subplot(gs[2], sharex=axm)
    axr = fig.add_subplot(gs[3])

    kib = 1024.0
    alloc = [x["alloc"] / kib for x in s]
    free = [x["free"] / kib for x in s]
    mk = "o" if len(s) == 1 else None  # a lone sample is a dot, not an invisible line
    handles = axa.plot(xs, alloc, color="tab:blue", lw=1.5, marker=mk,
                       label="used heap (mem_alloc)")
    axa.set_ylim(*_span(min(alloc), max(alloc), 1.0))
    axa.set_ylabel("used heap (KiB)")
    handles += axf.plot(xs, free, color="tab:green", lw=1.5, marker=mk,
                        label="free heap (mem_free)")
    lows = free
    largest = [(x, v["largest"] / kib) for x, v in zip(xs, s) if v["largest"] is not None]
    if largest:
        handles += axf.plot([p[0] for p in largest], [p[1] for p in largest], color="tab:olive",
                            lw=1.2, ls="--", label="largest free block")
        lows = free + [p[1] for p in largest]
    axf.set_ylim(*_span(min(lows), max(free), 1.0))
    axf.set_ylabel("free heap (KiB)")
    low = min(range(len(s)), key=lambda i: s[i]["free"])
    axf.plot([xs[low]], [free[low]], "o", color="tab:green", ms=5)
    right = xs[-1] > xs[0] and (xs[low] - xs[0]) > 0.75 * (xs[-1] - xs[0])
    axf.annotate("min %.0f KiB at %.1f s" % (free[low], xs[low]), (xs[low], free[low]),
                 xytext=(-6 if right else 6, 4), textcoords="offset points", fontsize=8,
                 color="tab:green", ha="right" if right else "left",
                 bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    if total:
        pct = (lambda v: v * kib * 100.0 / total, lambda p: p * total / 100.0 / kib)
        for ax in (axa, axf):
            ax.secondary_yaxis("right", functions=pct).set_ylabel("% of heap total", fontsize=9)

    lib, seen = collections_seen(t)
    for ax in (axa, axf):
        for x in lib:
            ax.axvline(x, color="tab:purple", lw=1.0, ls="--", alpha=0.8)
        for x in seen:
            ax.axvline(x, color="tab:gray", lw=0.9, ls=":")
        for ms, _, _ in t.errors:
            ax.axvline(ms / 1000.0, color="black", lw=1.8)
        ax.grid(True, alpha=0.3)
    plt.setp(axa.get_xticklabels(), visible=False)
    plt.setp(axm.get_xticklabels(), visible=False)
    axm.tick_params(axis="x", length=0)
    axf.set_xlabel("time since trace start (s)")
    # one time base for every panel: the samples and any event after them
    times = xs + [m[0] / 1000.0 for m in t.markers] + [e[0] / 1000.0 for e in t.errors]
    lo, hi = min(times), max(times)
    if hi <= lo:
        hi = lo + 1.0
    axm.set_xlim(lo, hi)
    # the legend: the heap lines, then one entry per kind of vertical line
    for shown, color, ls, lw, alpha, label in (
            (lib, "tab:purple", "--", 1.0, 0.8, "gc.collect by the library"),
            (seen, "tab:gray", ":", 0.9, 1.0, "collection seen (used heap fell)"),
            (t.markers, "tab:red", "-", 0.8, 0.35, "marker"),
            (t.errors, "black", "-", 1.8, 1.0, "MemoryError")):
        if shown:
            handles.append(Line2D([], [], color=color, ls=ls, lw=lw, alpha=alpha, label=label))
    axa.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.09, 1.0), fontsize=9)

    start = h.get("start_unix_ms")
    if isinstance(start, (int, float)) and start > 0:
        utc = datetime.timezone.utc
        t0 = mdates.date2num(datetime.datetime.fromtimestamp(start / 1000.0, utc))
        top = axm.secondary_xaxis("top", functions=(lambda x: t0 + x / 86400.0,
                                                    lambda d: (d - t0) * 86400.0))
        loc = mdates.AutoDateLocator(tz=utc, minticks=5, maxticks=12)
        top.xaxis.set_major_locator(loc)
        top.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=utc))
        top.set_xlabel("wall clock, UTC (trace started %s)" % wall_clock_text(start), fontsize=9)
    else:
        axm.set_title("wall clock unknown: the board's clock was not set when the trace started",
                      fontsize=9, color="0.35", loc="left")
    if title is None:
        title = "%s (%s, MicroPython %s): heap total %s, a sample every %s ms" % (
            h.get("device", "?"), h.get("platform", "?"), h.get("micropython", "?"),
            "%.0f KiB" % (total / kib) if total else "?", h.get("interval_ms", "?"))
    fig.suptitle(title)

    if regs:
        rows = regs[::-1]
        names = [r["name"] for r in rows]
        vals = [max(r["bytes"], 0) / kib for r in rows]
        bars = axr.barh(names, vals, color="tab:orange", height=0.55)
        for bar, r in zip(bars, rows):
            note = "  %d passes, %.0f B/pass, %d ms" % (
                r["count"], r["bytes"] / r["count"] if r["count"] else 0, r["ms"])
            if r["inexact"]:
                note += ", %d inexact" % r["inexact"]
            note += "\n  since monitoring started: %d passes, %.0f KiB" % (
                r["total_count"], r["total_bytes"] / kib)
            axr.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, note, va="center",
                     fontsize=8)
        axr.set_xlabel("KiB allocated inside the region during the capture")
        axr.set_title("regions by bytes allocated during the capture" + (
            " (top 8 of %d)" % len(all_regs) if len(all_regs) > 8 else ""), fontsize=10)
        axr.set_xlim(0, max(vals) * 1.8 if max(vals) > 0 else 1)
        axr.grid(True, axis="x", alpha=0.3)
    else:
        axr.axis("off")
        axr.text(0.5, 0.5, "no regions in this trace", ha="center", va="center")
    # last: the labels are laid out on the strip's final width; the heap
    # panels get a line for each labelled marker (all of them when they fit)
    for x in _events_strip(axm, t, fig, lo, hi):
        for ax in (axa, axf):
            ax.axvline(x, color="tab:red", lw=0.8, alpha=0.35)
    # SVG text stays text (searchable, selectable), not outlines
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(path, dpi=110)
    plt.close(fig)


# -- command line ------------------------------------------------------------------


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "plot":
        ap = argparse.ArgumentParser(
            prog="montrace plot",
            description="draw a trace file against time since the trace started (and the wall "
                        "clock, UTC, when the board's clock was set): marker labels, used and "
                        "free heap each on an axis scaled to its range, collections, and the "
                        "bytes each region allocated during the capture")
        ap.add_argument("trace")
        ap.add_argument("-o", "--output", required=True, help="output .svg or .png")
        ap.add_argument("--title")
        a = ap.parse_args(argv[1:])
        ext = os.path.splitext(a.output)[1].lower()
        if ext not in (".svg", ".png"):
            print("error: output must end in .svg or .png", file=sys.stderr)
            return 2
        try:
            t = load(a.trace)
        except OSError as e:
            print("error: %s" % e, file=sys.stderr)
            return 1
        if not t.samples:
            print("error: %s: no samples" % a.trace, file=sys.stderr)
            return 1
        plot(t, a.output, a.title)
        print("wrote %s (%d samples)" % (a.output, len(t.samples)))
        return 0
    if argv and argv[0] == "summary":
        ap = argparse.ArgumentParser(prog="montrace summary", description="summarise a trace file")
        ap.add_argument("trace")
        ap.add_argument("--json", action="store_true", help="machine-readable output")
        a = ap.parse_args(argv[1:])
        try:
            d = summarize(load(a.trace))
        except OSError as e:
            print("error: %s" % e, file=sys.stderr)
            return 1
        print(json.dumps(d, indent=1) if a.json else format_summary(d))
        return 0
    ap = argparse.ArgumentParser(prog="montrace", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", help="HOST[:PORT] of the board (port %d by default)" % DEFAULT_PORT)
    ap.add_argument("-o", "--output", default="-",
                    help="trace file to write (stdout when absent or -)")
    ap.add_argument("--duration", type=float, help="stop after this many seconds")
    a = ap.parse_args(argv)
    try:
        host, port = parse_target(a.target)
    except ValueError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    try:
        out = sys.stdout if a.output == "-" else OutputFile(a.output)
    except OSError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    to_stdout = out is sys.stdout
    # the live line shares a terminal badly with the stream itself
    progress = sys.stderr if sys.stderr.isatty() and not (to_stdout and out.isatty()) else None
    try:
        n, secs = capture(host, port, out, a.duration, progress)
        out.write("")  # a capture that got no line still leaves its (empty) file
    except Refused as e:
        if e.args[0] == BUSY:
            why = "trace port busy (another client is capturing; one client at a time)"
        else:
            why = "the board refused: %s" % e.args[0][len("error:"):].strip()
        print("error: %s:%d: %s" % (host, port, why), file=sys.stderr)
        return 1
    except BrokenPipeError:
        if out is not sys.stdout:
            raise
        # the reader of "-o -" went away (montrace ... -o - | head): done,
        # and Python's own last flush of stdout must not complain either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        print("error: %s:%d: %s" % (host, port, e), file=sys.stderr)
        return 1
    finally:
        if out is not sys.stdout:
            out.close()
    print("captured %d samples in %.1f s to %s" % (n, secs, "stdout" if to_stdout else a.output),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
