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

What happens at boot and while a report waits is :mod:`crashboot`'s,
unloaded once nothing waits.
"""

import gc

from . import crashfmt
from .compat import asyncio, sleep_ms, ticks_diff, ticks_ms


# the ``crash`` section: key, default, rule, ...; see docs/crash.md
OPTIONS = (
    "store", "auto", ("auto", "rtc", "file"),
    "file", "crash.bin", "text",
    "report_bytes", 1024, (256, 1900),
    "records", 4, (0, 16),
    "record_bytes", 80, (32, 240),
    "loggers", None, "loggers",  # None: the syslog section's, else the root logger
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
            self.deliver()
        except Exception:  # no room, no event loop any more: at the next boot
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

    # -- delivery (crashboot's, loaded while a report waits) ------------------

    attached = ()
    _delivery = None  # a crashboot.Delivery while a report waits
    _sinks = (None, None)  # syslog, influx (None: absent)
    _src = None  # the system source, carrying the crash fields

    def deliver(self):
        """Deliver the pending report to the sinks, if any and there are
        some: the syslog record is queued at once, a task checks until it
        is delivered. Without one, crashboot's code is unloaded."""
        if self.fmt.pending() and self._sinks != (None, None):
            from .crashboot import Delivery

            self._delivery = Delivery(self)
            self.start()
        else:
            _unload()

    def start(self):
        if self._delivery is not None and not self.check() and self._task is None:
            self._task = asyncio.create_task(self._deliver())

    def check(self):
        """One step of the delivery, without waiting (the task runs it, and
        ``Monitor.flush`` at its end); True once the report is delivered
        and cleared, or when there is none."""
        d = self._delivery
        if d is None:
            return True
        if not d.step():
            return False
        self._delivery = None
        _unload()
        return True

    async def _deliver(self):
        while not self.check():
            await sleep_ms(50)
        self._task = None

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


def _unload():
    # crashboot's code is needed while a report waits only
    import sys

    sys.modules.pop("monitoring.crashboot", None)
    try:
        delattr(sys.modules["monitoring"], "crashboot")
    except (KeyError, AttributeError):
        pass


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
    from .crashboot import boot

    s = CrashStore(mon, o, mon.rtc)
    src = boot(s, mon.reset_cause or "unknown")
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
    s._sinks = (mon.syslog, mon.influx if src is not None else None)
    mon.crash = mon._add(s)
    s.deliver()
    if mon.control is not None:
        mon.control.crash = s
