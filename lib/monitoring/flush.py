"""``Monitor.flush``: every queued point and record delivered now, within
a deadline (a battery node's last act before it deep-sleeps). Loaded at
the first call."""

from .compat import sleep_ms, ticks_diff, ticks_ms


async def flush(mon, timeout_ms=5000, collect=True):
    """Deliver every queued point and record now: the sources sampled
    once more into the Influx queue (unless ``collect`` is False), then both queues sent (UDP: sent;
    HTTP: 2xx received; RELP: acknowledged; TCP: written), for at most
    ``timeout_ms``. Returns ``(delivered, dropped, left)``: points and
    records delivered and dropped meanwhile, and those still queued.
    Never raises (an error is counted as the senders count it)."""
    c = mon.counters
    t0 = ticks_ms()
    s0 = c.points_sent + c.log_sent
    d0 = c.points_dropped + c.log_dropped
    ix = mon.influx
    sl = mon.syslog
    try:
        if ix is not None:
            if collect:
                ix.collect()
            ix.backoff.succeeded()
        if sl is not None:
            sl.backoff.succeeded()
            sl._event.set()  # the sending task wakes
        while ticks_diff(ticks_ms(), t0) < timeout_ms:
            busy = False
            if ix is not None and ix.queue.used:
                busy = True
                if ix.backoff.ready():
                    await ix.send()
            if sl is not None and (sl.queue.used or getattr(sl, "_out", 0)):
                busy = True
            if not busy:
                break
            await sleep_ms(5)
        if mon.crash is not None:
            mon.crash.check()  # a crash report just delivered is cleared
    except Exception:
        pass
    left = (ix.queue.lines if ix is not None else 0) + (
        sl.queue.lines if sl is not None else 0)
    return (c.points_sent + c.log_sent - s0, c.points_dropped + c.log_dropped - d0, left)
