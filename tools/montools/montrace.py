"""montrace: capture, plot and summarise a board's trace port stream.

    montrace HOST[:PORT] [-o FILE] [--duration S]   capture (Ctrl-C stops)
    montrace plot trace.tsv -o trace.svg|trace.png   draw heap over time
    montrace summary trace.tsv [--json]              min free heap, rates, regions

A capture writes the stream as received to stdout, or to FILE with -o
(-o - is stdout too): a JSON header line, then tab-separated lines whose
first column is the kind (S sample, M marker, G library collection, E
error, R region totals); see the README's "Trace port". The count of
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


def plot(t, path, title=None):
    """Render ``t`` to ``path`` (.svg or .png): free and allocated heap
    over time with collections and markers, regions bar chart below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regs = summarize(t).get("regions") or []
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(11, 7.5),
                                  gridspec_kw={"height_ratios": [3, 1.4]})
    s = t.samples
    xs = [x["ms"] / 1000.0 for x in s]
    ax.plot(xs, [x["free"] / 1024.0 for x in s], color="tab:green", lw=1.6, label="free heap")
    ax.plot(xs, [x["alloc"] / 1024.0 for x in s], color="tab:blue", lw=1.6,
            label="allocated heap")
    total = t.header.get("heap_total")
    if total:
        ax.axhline(total / 1024.0, color="black", lw=1.0, ls="-.", alpha=0.5, label="heap total")
    # collections: library ones (G lines) and those seen as a drop in alloc
    gxs = [ms / 1000.0 for ms, _, _ in t.collects]
    for a, b in zip(s, s[1:]):
        if (b["gcs"] or 0) > (a["gcs"] or 0):
            x = b["ms"] / 1000.0
            if not any(abs(x - g) * 1000 <= (b["ms"] - a["ms"]) for g in gxs):
                gxs.append(x)
    lib = set(ms / 1000.0 for ms, _, _ in t.collects)
    first_lib = first_auto = True
    for x in sorted(gxs):
        if x in lib:
            ax.axvline(x, color="tab:purple", lw=1.0, ls="--", alpha=0.8,
                       label="gc.collect by the library" if first_lib else None)
            first_lib = False
        else:
            ax.axvline(x, color="tab:gray", lw=0.9, ls=":", alpha=0.9,
                       label="collection seen (alloc fell)" if first_auto else None)
            first_auto = False
    peak = max([x["alloc"] for x in s] + [x["free"] for x in s] + [total or 0]) / 1024.0
    top = peak * 1.18 if peak > 0 else 1.0
    ax.set_ylim(0, top)
    for i, (ms, label) in enumerate(t.markers):
        x = ms / 1000.0
        ax.axvline(x, color="tab:red", lw=1.2, alpha=0.85, label="marker" if i == 0 else None)
        ax.text(x, top * 0.99, label[:24] + " ", rotation=90, va="top", ha="right", fontsize=8,
                color="tab:red")
    for i, (ms, err, where) in enumerate(t.errors):
        ax.axvline(ms / 1000.0, color="black", lw=2, label="MemoryError" if i == 0 else None)
    ax.set_xlabel("time since trace start (s)")
    ax.set_ylabel("heap (KiB)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    h = t.header
    if title is None:
        title = "%s (%s, MicroPython %s), sample every %s ms" % (
            h.get("device", "?"), h.get("platform", "?"), h.get("micropython", "?"),
            h.get("interval_ms", "?"))
    ax.set_title(title)
    if regs:
        top_regs = regs[:8][::-1]
        names = [r["name"] for r in top_regs]
        kib = [r["bytes"] / 1024.0 for r in top_regs]
        bars = axr.barh(names, kib, color="tab:orange", height=0.6)
        for bar, r in zip(bars, top_regs):
            axr.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                     "  %d passes, %.0f B/pass, %d ms" % (r["count"], r["bytes_per_pass"], r["ms"]),
                     va="center", fontsize=8)
        axr.set_xlabel("bytes allocated inside the region since monitoring started (KiB)")
        axr.set_title("regions by bytes allocated", fontsize=10)
        axr.set_xlim(right=max(kib) * 1.6 if max(kib) > 0 else 1)
        axr.grid(True, axis="x", alpha=0.3)
    else:
        axr.axis("off")
        axr.text(0.5, 0.5, "no regions in this trace", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- command line ------------------------------------------------------------------


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "plot":
        ap = argparse.ArgumentParser(prog="montrace plot", description="draw a trace file")
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
