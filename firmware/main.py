"""Demo firmware: monitoring with every capability the configuration names,
and a small application that logs and keeps metrics.

Boot sequence: read the configuration (board defaults, then the user's
file), bring the network up through the board module, set the clock by NTP
when it can (and carry on when it cannot), start monitoring, then run the
demo tasks:

- ``sensor``: a simulated temperature/humidity sensor (gauges), logging at
  debug, and at warning when it runs hot;
- ``http``: a simulated request handler (counters), allocating visibly
  inside ``monitoring.region("handler")``, logging at info and error;
- ``heartbeat``: an info line every ``heartbeat_s`` seconds (configuration,
  default 10) with uptime and free heap, recording the heap high-water mark;
- a watchdog feeder when ``watchdog_ms`` is configured.

Each task names itself with ``monitoring.beat`` (the heartbeat a watchdog
reset's report names). An exception no task caught, or a MemoryError
reaching the top, is written as a crash report (``monitoring.crash_report``,
kept for the next boot when the ``crash`` section is on), then the board
resets.

With ``sleep_s`` (a battery node) none of those tasks run: the firmware
wakes, brings the network up, samples, logs one record, delivers
everything (``mon.flush``), keeps its counters and deep-sleeps for
``sleep_s`` seconds (``monboard.deepsleep``).

On the Unix port ``MONITORING_CONFIG`` names the configuration file and
``MONITORING_DURATION`` stops the demo after that many seconds.
"""

import gc
import math
import os
import sys

try:
    import asyncio
except ImportError:
    import uasyncio as asyncio

import monboard
import monitoring
from monitoring.metrics import Source

DEMO_LOGGERS = ("app", "sensor", "http")


def setup_logging(logging, level_name):
    """Console output on the demo's loggers, at the configured level.
    The handler is given its formatter: micropython-lib's StreamHandler
    has none by default (adafruit_logging's has)."""
    level = getattr(logging, level_name.upper())
    out = []
    for name in DEMO_LOGGERS:
        log = logging.getLogger(name)
        log.setLevel(level)
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
        log.addHandler(h)
        out.append(log)
    return out


async def sensor(src, log):
    t = 0
    while True:
        temp = 21.0 + 4.0 * math.sin(t / 30.0) + (t % 7) / 10.0
        hum = 45.0 + 10.0 * math.cos(t / 45.0)
        src.set("temperature", temp)
        src.set("humidity", hum)
        monitoring.beat(b"sensor")
        log.debug("temperature %.1f C, humidity %.0f %%", temp, hum)
        if temp > 24.5:
            log.warning("running hot: %.1f C", temp)
        t += 1
        await asyncio.sleep(1)


def respond(n):
    """Build request ``n``'s page the way a small web handler would and
    return its size (where a server would write it out). A function of
    its own, not inline in the coroutine: a suspended coroutine's frame
    keeps its temporaries (the list, the joined page) referenced until
    they are overwritten, which would hold a request's 2.5 KB of garbage
    through the next await."""
    body = ["<li>item %d</li>" % i for i in range(20 + n % 30)]
    return len("<ul>" + "".join(body) + "</ul>")


async def http(src, log):
    n = 0
    while True:
        n += 1
        monitoring.beat(b"http")
        try:
            with monitoring.region("handler"):
                size = respond(n)
        except MemoryError:
            # a tight heap: answer 503, say so, and keep serving
            monitoring.memory_error(b"http")
            monitoring.collect()
            src.incr("errors")
            log.error("request %d: out of memory", n)
            await asyncio.sleep(1)
            continue
        src.incr("requests")
        src.set("last_size", size)
        if n % 17 == 0:
            src.incr("errors")
            monitoring.mark(b"request failed")
            log.error("request %d failed: upstream timeout", n)
        elif n % 5 == 0:
            log.info("served request %d (%d bytes)", n, size)
        await asyncio.sleep(0.3 + (n % 4) / 10)


class HeapPeaks:
    """Heap high-water marks after collection, in at most ``slots`` time
    buckets: when the buckets are full, neighbours merge and each covers
    twice the time, so a board running for months keeps 16 numbers."""

    def __init__(self, bucket_s=15, slots=16):
        self.bucket_s = bucket_s
        self.peaks = [0] * slots
        self.used = 0

    def record(self, t_s, alloc):
        i = int(t_s // self.bucket_s)
        while i >= len(self.peaks):
            p = self.peaks
            half = len(p) // 2
            for j in range(half):
                p[j] = max(p[2 * j], p[2 * j + 1])
            for j in range(half, len(p)):
                p[j] = 0
            self.bucket_s *= 2
            i = int(t_s // self.bucket_s)
        if alloc > self.peaks[i]:
            self.peaks[i] = alloc
        self.used = max(self.used, i + 1)

    def as_list(self):
        return self.peaks[:self.used]


heap_peaks = HeapPeaks()


async def heartbeat(log, period=10):
    n = 0
    while True:
        monitoring.beat(b"heartbeat")
        monitoring.collect()  # gc.collect(), shown in the trace, regions kept exact
        heap_peaks.record(n * period, gc.mem_alloc())
        log.info("alive %d s, free heap %d B", n * period, gc.mem_free())
        n += 1
        await asyncio.sleep(period)


def summary(mon, secs):
    """One JSON line with the monitoring counters and heap peaks, printed
    when a timed run (Unix port) ends."""
    import json

    out = {"uptime_s": secs, "heap_peaks": heap_peaks.as_list(), "heap_bucket_s": heap_peaks.bucket_s}
    if mon is not None:
        for name in mon.counters.NAMES:
            out[name] = getattr(mon.counters, name)
    print("SUMMARY " + json.dumps(out))


async def feed_watchdog(wdt, period_ms):
    while True:
        wdt.feed()
        await asyncio.sleep_ms(period_ms)


def read_config():
    """``(document, board settings, errors)``: the board's defaults and the
    user's file merged, each bad section turned off by the same checks as
    ``monitoring.start`` (the rest still runs). The board settings are the
    firmware's own keys (``wifi``, ``ntp``, ``watchdog_ms``,
    ``heartbeat_s``, ``log_level``). ``monitoring.config`` and
    ``monitoring.boardsettings`` are needed once, at boot: they are
    unloaded afterwards, their code freed."""
    from monitoring import boardsettings, config

    path = monboard.config_path()
    doc, errors = config.load(monboard.DEFAULTS, path)
    if path:
        try:
            os.stat(path)
        except OSError:  # load() skips it: say so, or a typo goes unseen
            errors.append("config: %s: not found (the board's defaults alone)" % path)
    settings = boardsettings.board_settings(doc, errors)
    doc, more = config.validate(doc)
    for name in ("config", "boardsettings"):
        del sys.modules["monitoring." + name]
        try:
            delattr(monitoring, name)
        except AttributeError:
            pass
    return doc, settings, errors + more


def with_demo_defaults(doc):
    """The demo's choices where the configuration says nothing: the board's
    device id as hostname, the ``net`` and ``asyncio`` sources on, syslog
    on the demo's loggers."""
    doc.setdefault("hostname", monboard.device_id())
    src = doc.get("sources")
    if src is None:
        doc["sources"] = src = {}
    src.setdefault("net", True)
    sl = doc.get("syslog")
    if type(sl) is dict:
        sl.setdefault("loggers", list(DEMO_LOGGERS))
    return doc


def on_task_error(loop, context):
    # an exception no task caught: reported with the task's traceback, then a reset
    crashed(context["exception"])


async def battery_cycle(mon, demo, log, sleep_s, t0):
    """One wake of a battery node: sample, log, deliver, keep the
    counters, deep-sleep. Prints a CYCLE line (the Unix port's harness
    reads it)."""
    from monitoring.compat import ticks_diff, ticks_ms

    cycle = mon.crash.fmt.wakes() if mon is not None and mon.crash is not None else 0
    temp = 21.0 + (cycle % 10) / 10.0
    demo.set("cycle", cycle)
    demo.set("temperature", temp)
    log.info("cycle %d: temperature %.1f C", cycle, temp)
    delivered = dropped = left = sent = 0
    if mon is not None:
        c = mon.counters
        b0 = c.bytes_sent + c.log_bytes_sent
        # the reporter's first flush (at its start) samples the sources:
        # it runs at this first pause, and mon.flush then delivers it all
        await asyncio.sleep(0)
        delivered, dropped, left = await mon.flush(10000, collect=False)
        sent = c.bytes_sent + c.log_bytes_sent - b0
        if mon.crash is not None:
            mon.crash.keep_counters()
        mon.stop()
    print("CYCLE %d awake_ms=%d delivered=%d dropped=%d left=%d bytes=%d" % (
        cycle, ticks_diff(ticks_ms(), t0), delivered, dropped, left, sent))
    monboard.deepsleep(int(sleep_s * 1000))


async def main():
    from monitoring.compat import ticks_ms

    t0 = ticks_ms()
    asyncio.get_event_loop().set_exception_handler(on_task_error)
    # the logging module first: the configuration's checks load the
    # capabilities' code, which is better placed after it on a small heap
    logging = monboard.logging_module()
    doc, settings, errors = read_config()
    doc = with_demo_defaults(doc)
    app_log, sensor_log, http_log = setup_logging(logging, settings["log_level"])
    for e in errors:
        app_log.error(e)
    cause = monboard.reset_cause()
    app_log.info("%s starting on %s (reset cause: %s)", doc["hostname"], monboard.NAME, cause)

    wifi, ntp_host = settings["wifi"], settings["ntp"]
    wdt_ms, heartbeat_s = settings["watchdog_ms"], settings["heartbeat_s"]
    if not await monboard.connect_network(wifi, app_log):
        app_log.error("network down: monitoring will retry in the background")
    if not monboard.set_clock(ntp_host):
        app_log.warning("clock not set by NTP: timestamps left to the servers")

    wdt = None
    if wdt_ms:
        wdt = monboard.watchdog(wdt_ms)

    demo = Source("demo", tags=("demo",), labels={"board": monboard.NAME})
    try:
        # the sockets: the board's pool (CircuitPython's socketpool), None: the socket module;
        # where the crash section keeps its record (None: the port's RTC memory, else a file)
        rtc = monboard.rtc() if hasattr(monboard, "rtc") else None
        mon = monitoring.start(logging=logging, net_status=monboard.net_status,
                               pool=monboard.socket_pool(), rtc=rtc, reset_cause=cause, **doc)
    except Exception as e:  # a bad option: run the demo without monitoring
        app_log.error("monitoring not started: %s", e)
        mon = None
    if settings["sleep_s"]:
        await battery_cycle(mon, demo, app_log, settings["sleep_s"], t0)
    tasks = [
        asyncio.create_task(sensor(demo, sensor_log)),
        asyncio.create_task(http(demo, http_log)),
        asyncio.create_task(heartbeat(app_log, heartbeat_s)),
    ]
    if wdt is not None:
        # a board whose watchdog waits less than asked (the RP2040's 8 s) says so
        wait_ms = min(wdt_ms, getattr(monboard, "WATCHDOG_MAX_MS", wdt_ms))
        tasks.append(asyncio.create_task(feed_watchdog(wdt, wait_ms // 3)))
    if mon is not None:
        app_log.info("monitoring started: %s", ", ".join(
            k for k in ("influx", "control", "syslog", "trace", "prometheus")
            if getattr(mon, k) is not None))
    secs = monboard.run_seconds()
    if secs is None:
        while True:
            await asyncio.sleep(3600)
    await asyncio.sleep(secs)
    app_log.info("demo done after %s s", secs)
    for t in tasks:
        t.cancel()
    if mon is not None:
        if mon.influx is not None:
            mon.influx.collect()
            await mon.influx.aclose()
        await asyncio.sleep(0.5)  # let the syslog sender drain
        if mon.syslog is not None and mon.syslog.transport == "relp":
            # until every record is acknowledged (or timeout_ms): stop()
            # would count one in flight as dropped, though the server has it
            await mon.syslog.aclose()
        mon.stop()
    gc.collect()
    summary(mon, secs)


def crashed(e):
    """The last words: the crash report first (it needs no heap), then
    the console, then a reset."""
    monitoring.crash_report(e)
    try:
        sys.print_exception(e)
    except Exception:
        pass
    reset = getattr(monboard, "reset", None)
    if reset is None:
        raise e
    reset()


def run():
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
    except Exception as e:  # MemoryError too (SystemExit is not an Exception)
        crashed(e)


if __name__ == "__main__":
    run()
