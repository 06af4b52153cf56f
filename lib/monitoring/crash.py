"""Crash reports (the ``crash`` section): the last words of a board that
resets, kept where they survive the reset and delivered at the next boot.

- :func:`monitoring.crash_report` (the firmware's top level, or its
  asyncio exception handler, calls it with the exception before
  resetting) writes a bounded report (:mod:`crashfmt`: traceback, uptime,
  heap, the last log records, firmware) into a record preallocated at
  start, and stores it once: in RTC memory (``machine.RTC().memory()``,
  the ESP32's; or the ``rtc`` object given to ``start``) where the port
  has it, else in a small file written to ``FILE.tmp`` and renamed over
  ``FILE``. On the file store a reserve of 1 KB, allocated at start, is
  freed just before, so the file can be opened on a full heap.
- At the next boot, once the sinks are up: one syslog record at critical,
  MSGID ``crash``, the report as its message; in the ``system`` source
  ``reset_cause``, ``crashes`` (carried across resets) and
  ``last_crash_uptime_s``. The report is cleared from the store only when
  it was delivered: the record left the syslog queue as sent (acknowledged
  over RELP) and a point of the ``system`` source was sent to Influx, each
  with nothing dropped meanwhile; otherwise it waits for the next boot.
- :func:`monitoring.beat` (the heartbeat): a task names itself; the name
  is written to the store when it changes, at most every ``beat_s``
  seconds (RTC memory: at every change, it costs a copy of the record).
  After a watchdog reset with no report, the report made at boot names
  the last task that beat.
- Before a deep sleep, :meth:`CrashStore.keep_counters` keeps the
  ``monitoring`` source's counters (and counts the wake); after a
  deep-sleep reset they are added back.
"""

import gc

from . import crashfmt
from .compat import asyncio, sleep_ms, ticks_diff, ticks_ms


def _loggers(v):
    for lg in v if type(v) in (list, tuple) else (v,):
        if not (type(lg) is str or hasattr(lg, "addHandler") or hasattr(lg, "getLogger")):
            return "a logger name, a logger, or a list of them"
    return None


# the ``crash`` section: key, default, rule, ...; see docs/crash.md
OPTIONS = (
    "store", "auto", ("auto", "rtc", "file"),
    "file", "crash.bin", "text",
    "report_bytes", 1024, (256, 1900),
    "records", 4, (0, 16),
    "record_bytes", 80, (32, 240),
    "loggers", None, _loggers,  # None: the syslog section's, else the root logger
    "beat_s", 60, (0.0, 86400),
)


def check(section):
    """The ``crash`` section checked: every key, defaults filled in."""
    from . import options

    o = options.check("crash", OPTIONS, section)
    if not o["file"]:
        raise ValueError("crash.file: expected a file name, got ''")
    return o


def machine_rtc():
    """The port's RTC memory: ``machine.RTC()`` when it has ``memory``
    (ESP32), else None."""
    try:
        import machine

        r = machine.RTC()
        if hasattr(r, "memory"):
            return r
    except (ImportError, AttributeError, OSError, TypeError, ValueError):
        pass
    return None


class FileStore:
    """The record in a file: read at boot, written to ``PATH.tmp`` then
    renamed over ``PATH`` (a reset while writing leaves the old record)."""

    cheap = False  # each write costs flash wear

    def __init__(self, path):
        self.path = path
        self.tmp = path + ".tmp"

    def memory(self, data=None):
        import os

        if data is None:
            try:
                with open(self.path, "rb") as f:
                    return f.read()
            except OSError:
                return None
        with open(self.tmp, "wb") as f:
            f.write(data)
        try:
            os.rename(self.tmp, self.path)
        except OSError:  # FAT will not rename over a file
            try:
                os.remove(self.path)
            except OSError:
                pass
            os.rename(self.tmp, self.path)


class _Handler:
    # the log ring's handler, for micropython-lib's logging and
    # adafruit_logging (their records' text: message, msg)
    def __init__(self, store):
        self.store = store
        self.level = 0
        self.formatter = None

    def setLevel(self, level):
        self.level = level

    def setFormatter(self, f):
        pass

    def emit(self, record):
        try:
            s = self.store
            msg = getattr(record, "message", None)
            if msg is None:
                msg = record.msg
            s.fmt.add_record(record.levelno, record.name, msg, s.uptime())
        except Exception:
            pass

    def flush(self):
        pass

    close = flush


class CrashStore:
    """The crash record of :class:`Monitor` ``mon`` as the checked section
    ``o`` says; ``rtc``: an object with RTC's ``memory()`` (None: the
    port's, if any). Reads the stored record at once."""

    def __init__(self, mon, o, rtc=None):
        self.mon = mon
        self.fw = mon.firmware.encode()
        self.fmt = crashfmt.Report(o["report_bytes"], o["records"], o["record_bytes"])
        store = o["store"]
        if rtc is None and store != "file":
            rtc = machine_rtc()
            if rtc is None and store == "rtc":
                raise ValueError("crash.store: this port has no RTC memory")
        self.rtc = rtc
        self.kind = "file" if rtc is None else "rtc"
        self.dev = FileStore(o["file"]) if rtc is None else rtc
        self.cheap = getattr(self.dev, "cheap", True)
        # freed when a report is written on a full heap (the file store
        # needs room to open the file)
        self.reserve_bytes = 1024 if rtc is None else 256
        self.reserve = bytearray(self.reserve_bytes)
        self.beat_ms = int(o["beat_s"] * 1000)
        self._beat = None  # the name last written
        self._beat_t = None  # ticks of the last write (file store)
        self._up_s = 0
        self._up_ms = 0
        self._t = ticks_ms()
        self._last = None  # the exception last reported
        self.shown = 0  # the report `c` shows (kept after delivery)
        self.delivered = False
        self._task = None
        try:
            data = self.dev.memory()
        except Exception:
            data = None
        self.fmt.load(data)
        self.shown = self.fmt.pending()

    def uptime(self):
        """Seconds since start, wrap-safe, without large ints."""
        now = ticks_ms()
        ms = self._up_ms + ticks_diff(now, self._t)
        self._t = now
        self._up_s += ms // 1000
        self._up_ms = ms % 1000
        return self._up_s

    def save(self):
        """Write the record to the store; True on success."""
        try:
            self.dev.memory(self.fmt.blob)
            return True
        except Exception:
            return False

    def _free_reserve(self):
        if self.reserve is not None:
            self.reserve = None
            gc.collect()

    def _take_reserve(self):
        try:
            self.reserve = bytearray(self.reserve_bytes)
        except MemoryError:
            pass

    # -- at boot -------------------------------------------------------------

    def boot(self, cause):
        """The stored record after a reset of ``cause``: a watchdog reset
        without a report gets one naming the last heartbeat; the counters
        kept before a deep sleep are added back. Returns True when the
        record changed (and must be written)."""
        f = self.fmt
        changed = False
        beat = f.beat_name()
        c = cause.lower()
        if ("wdt" in c or "watchdog" in c) and not f.pending():
            text = "watchdog reset; last beat: " + (
                "%s after %d s" % (beat.decode(), f.beat_uptime()) if beat else "none")
            f.write_text(text.encode(), f.beat_uptime() if beat else 0)
            self.shown = f.pending()
            changed = True
        if beat:
            f.clear_beat()
            changed = True
        if "deep" in c and f.restore_counters(self.mon.counters, self.mon.counters.NAMES):
            changed = True
        return changed

    # -- reporting ---------------------------------------------------------

    def report(self, exc):
        """Write ``exc``'s report and store it (once per exception);
        returns True when stored. Never raises."""
        if exc is self._last:
            return True
        self._last = exc
        self._free_reserve()
        try:
            try:
                free = gc.mem_free()
                alloc = gc.mem_alloc()
            except AttributeError:
                free = alloc = 0
            n = self.fmt.write_report(exc, self.uptime(), free, alloc, _largest(), self.fw)
            self.shown = n
            self.delivered = False
            ok = self.save()
        except Exception:
            return False
        finally:
            self._take_reserve()
        # a firmware that carries on: this report is delivered afresh
        try:
            src = self._src
            if src is not None:
                src.fields["crashes"] = self.fmt.crashes()
                src.fields["last_crash_uptime_s"] = self.fmt.last_uptime()
            self._queued = False
            self.sinks(*self._sinks)
            self.start()
        except Exception:  # no event loop any more: at the next boot
            pass
        return ok

    def beat(self, name):
        """The heartbeat: ``name`` (bytes, to allocate nothing) ran."""
        if name is self._beat:
            return
        if not self.cheap:
            now = ticks_ms()
            t = self._beat_t
            if not self.beat_ms or t is not None and ticks_diff(now, t) < self.beat_ms:
                return
            self._beat_t = now
        elif not self.beat_ms:
            return
        self._beat = name
        self.fmt.set_beat(name, self.uptime())
        self.save()

    def keep_counters(self):
        """Before a deep sleep: keep the counters and count the wake."""
        c = self.mon.counters
        self.fmt.save_counters(c, c.NAMES)
        return self.save()

    def text(self):
        """The last report (this boot's or the one delivered at boot),
        escaped as a syslog message is, or None."""
        if not self.shown:
            return None
        return crashfmt.escaped(self.fmt.report_view(self.shown))

    # -- delivery ----------------------------------------------------------

    def start(self):
        """Start delivering the pending report, if any: the syslog record
        is queued at once, and a task checks until it is delivered."""
        if not self.fmt.pending() or (self._sl is None and self._ix is None):
            return  # nothing to deliver, or nowhere to: kept
        if not self.check() and self._task is None:
            self._task = asyncio.create_task(self._deliver())

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for lg, h in self.attached:
            try:
                (getattr(lg, "removeHandler", None) or lg.handlers.remove)(h)
            except Exception:
                pass
        self.attached = []

    attached = ()
    _sl = _ix = None  # the sinks the pending report still has to reach
    _sinks = (None, None)
    _queued = False
    _src = None  # the system source, carrying the crash fields

    def sinks(self, syslog, influx):
        """Deliver the pending report to ``syslog`` (a sender) and
        ``influx`` (a reporter whose points carry the crash fields in the
        ``system`` source), each None when absent."""
        c = self.mon.counters
        self._sinks = (syslog, influx)
        self._sl = syslog
        self._ix = influx
        self._p0 = c.points_produced
        self._pd0 = c.points_dropped

    def check(self):
        """One step of the delivery, without waiting (the task runs it, and
        ``Monitor.flush`` at its end); True once the report is delivered
        and cleared, or when there is none."""
        f = self.fmt
        if not f.pending():
            return True
        c = self.mon.counters
        sl = self._sl
        if sl is not None:
            if not self._queued:
                # alone in the queue: the first to leave it
                if sl.queue.used == 0:
                    self._s0 = c.log_sent
                    self._d0 = c.log_dropped
                    sl.count(50)
                    self._queued = sl.log(50, "crash", bytes(f.report_view()).decode())
            elif c.log_dropped != self._d0:
                self._queued = False  # lost (or another was): again
            elif c.log_sent > self._s0:
                self._sl = sl = None
        ix = self._ix
        if ix is not None:
            if c.points_dropped != self._pd0:
                self._p0 = c.points_produced
                self._pd0 = c.points_dropped
            elif c.points_produced > self._p0 and ix.queue.used == 0 and self._src.active:
                # every point since start sent, none dropped
                self._ix = ix = None
        if sl is not None or ix is not None:
            return False
        f.set_pending(0)
        self.delivered = self.save()
        return True

    async def _deliver(self):
        while not self.check():
            await sleep_ms(50)
        self._task = None


def _largest():
    # the largest free block, where the port tells (-1: unknown)
    try:
        import esp32

        big = 0
        for t in esp32.idf_heap_info(esp32.HEAP_DATA):
            if t[2] > big:
                big = t[2]
        return big
    except Exception:
        pass
    try:
        import espidf

        return espidf.heap_caps_get_largest_free_block()
    except Exception:
        return -1


def start(mon, o, logmod=None):
    """Run the checked section ``o`` on :class:`Monitor` ``mon``: read the
    record, make the boot's report, set the ``system`` fields, attach the
    log ring, deliver the report once the sinks are up."""
    s = CrashStore(mon, o, mon.rtc)
    cause = mon.reset_cause or "unknown"
    if s.boot(cause):
        s.save()
    f = s.fmt
    src = mon.registry.get("system") if mon.builtin_sources else None
    if src is not None:
        src.set("reset_cause", cause)
        src.incr("crashes", f.crashes())
        src.set("last_crash_uptime_s", f.last_uptime())
    loggers = o["loggers"]
    if loggers is None:
        if mon.syslog is not None:
            loggers = [lg for lg, _ in mon.syslog.attached]
        else:
            loggers = (logmod,) if logmod else ()
    att = []
    for lg in loggers if type(loggers) in (list, tuple) else (loggers,):
        if type(lg) is str:
            if logmod is None:
                continue
            lg = logmod.getLogger(lg)
        if hasattr(lg, "getLogger"):
            try:
                lg = lg.getLogger()
            except TypeError:
                lg = lg.getLogger("")
        if hasattr(lg, "manager"):
            continue  # CPython's logging: not on a board
        h = _Handler(s)
        lg.addHandler(h)
        att.append((lg, h))
    s.attached = att
    # Influx carries the report only in the system source's fields
    s._src = src
    s.sinks(mon.syslog, mon.influx if src is not None else None)
    mon.crash = mon._add(s)
    if mon.control is not None:
        mon.control.crash = s
