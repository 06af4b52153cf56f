"""What the ``crash`` section does at boot, and while a report waits for
delivery: the report of a watchdog reset, the counters back after a deep
sleep, the ``system`` source's fields, and :class:`Delivery`. Loaded by
:func:`crash.start`, unloaded once nothing is left to deliver (a board
that did not crash keeps none of it)."""


def boot(s, cause):
    """The record of :class:`crash.CrashStore` ``s`` after a reset of
    ``cause``: a watchdog reset without a report gets one naming the last
    heartbeat; the heartbeat is forgotten; the counters kept before a deep
    sleep are added back; the record is written when that changed it. Sets
    the ``system`` source's ``reset_cause``, ``crashes`` and
    ``last_crash_uptime_s`` and returns that source (None without the
    built-in sources)."""
    mon = s.mon
    f = s.fmt
    changed = False
    beat = f.beat_name()
    c = cause.lower()
    if ("wdt" in c or "watchdog" in c) and not f.pending():
        text = "watchdog reset; last beat: " + (
            "%s after %d s" % (beat.decode(), f.beat_uptime()) if beat else "none")
        f.write_text(text.encode(), f.beat_uptime() if beat else 0)
        s.shown = f.pending()
        changed = True
    if beat:
        f.clear_beat()
        changed = True
    if "deep" in c and f.restore_counters(mon.counters, mon.counters.NAMES):
        changed = True
    if changed:
        s.save()
    src = mon.registry.get("system") if mon.builtin_sources else None
    if src is not None:
        src.set("reset_cause", cause)
        src.incr("crashes", f.crashes())
        src.set("last_crash_uptime_s", f.last_uptime())
    return src


class Delivery:
    """The pending report of :class:`crash.CrashStore` ``s`` on its way
    to the sinks ``s._sinks`` (a syslog sender, an Influx reporter; either
    None). :meth:`step` checks, without waiting, and clears the report
    once it reached both."""

    def __init__(self, s):
        c = s.mon.counters
        self.s = s
        self.sl, self.ix = s._sinks
        self.queued = False
        self.s0 = self.d0 = 0
        # points produced from here on carry the report's fields
        self.p0 = c.points_produced
        self.pd0 = c.points_dropped

    def step(self):
        """True once the report is delivered and cleared (or gone)."""
        s = self.s
        f = s.fmt
        if not f.pending():
            return True
        c = s.mon.counters
        sl = self.sl
        if sl is not None:
            if not self.queued:
                # alone in the queue: the first to leave it
                if sl.queue.used == 0:
                    self.s0 = c.log_sent
                    self.d0 = c.log_dropped
                    sl.count(50)
                    self.queued = sl.log(50, "crash", bytes(f.report_view()).decode())
            elif c.log_dropped != self.d0:
                self.queued = False  # lost (or another was): again
            elif c.log_sent > self.s0:
                self.sl = sl = None
        ix = self.ix
        if ix is not None:
            if c.points_dropped != self.pd0:
                self.p0 = c.points_produced
                self.pd0 = c.points_dropped
            elif c.points_produced > self.p0 and ix.queue.used == 0 and s._src.active:
                # every point since sent, none dropped
                self.ix = ix = None
        if sl is not None or ix is not None:
            return False
        f.set_pending(0)
        s.delivered = s.save()
        return True
