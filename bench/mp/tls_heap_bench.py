# The demo's two TLS senders in one program, for bench_tls.py's smallest
# heap: Influx over HTTPS (the built-in sources and one of the user's, a
# flush every 0.2 s) and syslog over TLS (a record every 20 ms), 3 s.
# argv: INFLUX_PORT RSYSLOG_PORT CA DB [plain]: with "plain", HTTP and TCP
# instead (the baseline). Prints OK when every point and record went and
# nothing failed.
import sys

import asyncio
import monitoring
from monitoring.metrics import Source

IN, RS = int(sys.argv[1]), int(sys.argv[2])
CA, DB = sys.argv[3], sys.argv[4]
TLS = sys.argv[5:] != ["plain"]


async def main():
    from mplogging import logging

    log = logging.getLogger("app")
    log.setLevel(logging.INFO)
    app = Source("app")
    influx = {"host": "127.0.0.1", "port": IN, "transport": "http", "db": DB,
              "interval_s": 0.2, "buffer_bytes": 2048}
    syslog = {"host": "127.0.0.1", "port": RS, "transport": "tcp", "loggers": ["app"],
              "queue_bytes": 1024}
    if TLS:
        influx.update(transport="https", ca=CA, server_name="localhost")
        syslog.update(transport="tls", ca=CA, server_name="localhost")
    mon = monitoring.start(hostname="pico-h", logging=logging, influx=influx, syslog=syslog)
    for i in range(150):
        app.set("i", i)
        log.info("record %d", i)
        await asyncio.sleep_ms(20)
    await mon.influx.aclose()
    for _ in range(100):
        if not mon.syslog.queue.used:
            break
        await asyncio.sleep_ms(10)
    c = mon.counters
    ok = (c.send_errors == 0 and c.points_dropped == 0 and c.log_dropped == 0
          and c.log_sent == 150 and c.points_sent == c.points_produced)
    print("OK" if ok else "FAIL", c.send_errors, c.points_sent, c.points_produced, c.log_sent,
          c.log_dropped, mon.influx.last_error, mon.syslog.last_error)
    mon.stop()


asyncio.run(main())
