# A record filtered out by micropython-lib logging's level check: bytes
# allocated (run with micropython-lib logging on MICROPYPATH: see host_tests/mpy.py MPLIB).
import logging

from benchlib import alloc_per
from monitoring.sources import Counters
from monitoring.syslog_handler import MicroPythonHandler, SyslogSender, check

sender = SyslogSender(Counters(), check({"host": "127.0.0.1", "port": 9}))
log = logging.getLogger("bench")
log.setLevel(logging.INFO)
log.addHandler(MicroPythonHandler(sender))


def filtered(n):
    for _ in range(n):
        log.debug("dropped %d", 42)


def logged(n):
    for _ in range(n):
        log.info("request %d served", 42)
        sender.queue.clear()


for name, fn in (("mplib_filtered_alloc_per_record", filtered),
                 ("mplib_logged_alloc_per_record", logged)):
    print(name, alloc_per(fn, 1000))
