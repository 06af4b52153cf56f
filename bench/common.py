"""Shared helpers for the benches: run a MicroPython program and read the
``KEY VALUE`` lines it prints."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from mpy import MicroPython  # noqa: E402


def run_mp(script, heapsize=None, args=(), timeout=300):
    """Run bench/mp/<script> under the Unix port; returns {key: value}."""
    p = MicroPython().script(os.path.join(HERE, "mp", script), heapsize=heapsize, args=args,
                             timeout=timeout)
    out = {}
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                out[parts[0]] = parts[1]
    return out


def report(title, rows):
    """Print a table: (name, value, unit, goal text or '', ok or None)."""
    print("\n== %s" % title)
    for name, value, unit, goal, ok in rows:
        flag = "" if ok is None else ("  OK" if ok else "  MISSED")
        v = ("%.2f" % value) if isinstance(value, float) and value != int(value) else "%d" % value
        print("  %-44s %12s %-8s %s%s" % (name, v, unit, goal, flag))
