"""Built-in metrics sources: ``memory``, ``system`` and ``monitoring``.

Each samples its values only when it is about to be reported, so an idle
board pays nothing between flushes.

- ``memory``: ``free``, ``alloc`` and ``total`` heap bytes (``gc``).
- ``system``: ``uptime_s`` (seconds since monitoring started, wrap-safe),
  ``ticks_ms`` (the free-running tick counter), ``platform``
  (``sys.platform``), ``micropython`` (the runtime's version) and
  ``firmware`` (the version given to ``monitoring.start``).
- ``monitoring``: the package's own counters (see :class:`Counters`).

All three carry the tag ``builtin``.
"""

import gc
import sys

from .compat import ticks_diff, ticks_ms
from .metrics import Source


class Counters:
    """Counters kept by the senders, always counted (whatever the
    switches say) and copied into the ``monitoring`` source when it is
    reported. Every field is an int."""

    NAMES = (
        "points_produced",
        "points_sent",
        "points_dropped",
        "bytes_sent",
        "reconnects",
        "send_errors",
        "fields_dropped",
        "log_queued",
        "log_sent",
        "log_dropped",
        "log_errors",
        "log_bytes_sent",
    )

    def __init__(self):
        for n in self.NAMES:
            setattr(self, n, 0)


def _mem_free():
    f = getattr(gc, "mem_free", None)
    return f() if f else 0


def _mem_alloc():
    f = getattr(gc, "mem_alloc", None)
    return f() if f else 0


def _sample_memory(src):
    free = _mem_free()
    alloc = _mem_alloc()
    src.set("free", free)
    src.set("alloc", alloc)
    src.set("total", free + alloc)


class _Uptime:
    def __init__(self):
        self.last = ticks_ms()
        self.ms = 0

    def __call__(self, src):
        now = ticks_ms()
        self.ms += ticks_diff(now, self.last)
        self.last = now
        src.set("uptime_s", self.ms // 1000)
        src.set("ticks_ms", now)


def _version():
    v = sys.implementation.version
    return "%d.%d.%d" % (v[0], v[1], v[2])


def add_builtin_sources(registry, counters, firmware="unknown"):
    """Register ``memory``, ``system`` and ``monitoring`` in ``registry``
    (those not registered yet) and return them as a tuple."""
    out = []
    if registry.get("memory") is None:
        out.append(Source("memory", tags=("builtin",), sampler=_sample_memory, registry=registry))
    if registry.get("system") is None:
        up = _Uptime()
        plat = sys.platform
        ver = _version()

        def sample_system(src):
            up(src)
            src.set("platform", plat)
            src.set("micropython", ver)
            src.set("firmware", firmware)

        out.append(Source("system", tags=("builtin",), sampler=sample_system, registry=registry))
    if registry.get("monitoring") is None:

        def sample_monitoring(src):
            f = src.fields
            for n in Counters.NAMES:
                v = getattr(counters, n)
                if n in f:
                    f[n] = v
                else:
                    src.incr(n, v)

        out.append(Source("monitoring", tags=("builtin",), sampler=sample_monitoring, registry=registry))
    return tuple(out)
