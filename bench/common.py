"""Shared helpers for the benches: run a MicroPython program and read the
``KEY VALUE`` lines it prints."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from mpy import MicroPython  # noqa: E402


def run_mp(script, heapsize=None, args=(), timeout=300, env=None):
    """Run bench/mp/<script> under the Unix port (``env``: variables to set
    for it); returns {key: value}."""
    p = MicroPython().script(os.path.join(HERE, "mp", script), heapsize=heapsize, args=args,
                             timeout=timeout, env=env)
    out = {}
    for line in p.stdout.splitlines():
        read_line(line, out)
    return out


def read_line(line, out):
    """A ``KEY VALUE`` line into ``out`` (the value as a float when it is
    a number); returns the line's words."""
    parts = line.split()
    if len(parts) == 2:
        try:
            out[parts[0]] = float(parts[1])
        except ValueError:
            out[parts[0]] = parts[1]
    return parts


def report(title, rows):
    """Print a table: (name, value, unit, goal text or '', ok or None)."""
    print("\n== %s" % title)
    for name, value, unit, goal, ok in rows:
        flag = "" if ok is None else ("  OK" if ok else "  MISSED")
        v = ("%.2f" % value) if isinstance(value, float) and value != int(value) else "%d" % value
        print("  %-44s %12s %-8s %s%s" % (name, v, unit, goal, flag))
