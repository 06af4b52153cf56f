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
        "points_unconfirmed",
        "bytes_sent",
        "reconnects",
        "send_errors",
        "fields_dropped",
        "log_queued",
        "log_sent",
        "log_dropped",
        "log_errors",
        "log_bytes_sent",
        "log_resent",
    )

    def __init__(self):
        for n in self.NAMES:
            setattr(self, n, 0)


def _copy(src, name, v):
    # set the counter field ``name`` of ``src`` to a count kept elsewhere
    # (no allocation once the field exists)
    f = src.fields
    if name in f:
        f[name] = v
    else:
        src.incr(name, v)


def _builtin(registry, name, sampler):
    # register a source of tag ``builtin``
    return Source(name, tags=("builtin",), sampler=sampler, registry=registry)


def _sample_memory(src):
    try:
        free = gc.mem_free()
        alloc = gc.mem_alloc()
    except AttributeError:  # CPython's gc has neither
        free = alloc = 0
    src.set("free", free)
    src.set("alloc", alloc)
    src.set("total", free + alloc)


def _version():
    v = sys.implementation.version
    return "%d.%d.%d" % (v[0], v[1], v[2])


def add_builtin_sources(registry, counters, firmware="unknown"):
    """Register ``memory``, ``system`` and ``monitoring`` in ``registry``
    (those not registered yet) and return them as a tuple."""
    up = [ticks_ms(), 0]  # the last tick read, ms since the start
    plat = sys.platform
    ver = _version()

    def system(src):  # the system source's sampler
        now = ticks_ms()
        up[1] += ticks_diff(now, up[0])
        up[0] = now
        src.set("uptime_s", up[1] // 1000)
        src.set("ticks_ms", now)
        src.set("platform", plat)
        src.set("micropython", ver)
        src.set("firmware", firmware)

    def monitoring(src):  # the monitoring source's sampler
        for n in Counters.NAMES:
            _copy(src, n, getattr(counters, n))

    out = []
    for name, sampler in (("memory", _sample_memory), ("system", system),
                          ("monitoring", monitoring)):
        if registry.get(name) is None:
            out.append(_builtin(registry, name, sampler))
    return tuple(out)


# the ``sources`` section: which built-in sources run; see docs/sources.md
OPTIONS = (
    "builtin", True, "bool",  # memory, system, monitoring, log, regions
    "net", False, "bool",  # net and asyncio (about 5 KB of RAM)
    "asyncio_lag_ms", 100, (0, 60000),  # 0: no asyncio source
)


def check(section):
    """The ``sources`` section checked: every key, defaults filled in."""
    from . import options

    return options.check("sources", OPTIONS, section)
