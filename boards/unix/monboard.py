"""The MicroPython Unix port as a board: what the tests and `make run` use.

The network is the host's; the clock is the host's (already set); the
configuration file is chosen with $MONITORING_CONFIG and the run length
with $MONITORING_DURATION (seconds).
"""

import os
import sys

NAME = "unix"
_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
DEFAULTS = _HERE + "/config.json"


def config_path():
    return os.getenv("MONITORING_CONFIG")


async def connect_network(wifi, log):
    return True


def socket_pool():
    # None: monitoring.start takes the socket module
    return None


def device_id():
    try:
        return "unix-" + os.uname()[1].split(".")[0]
    except (AttributeError, OSError, IndexError):
        return "unix"


def reset_cause():
    return "power-on"


def heap_info():
    return {}


def set_clock(host):
    return True


def watchdog(timeout_ms):
    return None


def net_status():
    return None


def logging_module():
    """micropython-lib ``logging`` when installed; otherwise CircuitPython's
    ``adafruit_logging`` (from PyPI), given the ``time.monotonic`` it
    expects and the Unix port lacks."""
    try:
        import logging

        return logging
    except ImportError:
        return adafruit_logging_module()


def adafruit_logging_module():
    """CircuitPython's ``adafruit_logging``, imported with a ``time`` that
    has ``monotonic`` (the package itself is unmodified)."""
    import time

    class _Time:
        pass

    t = _Time()
    for k in dir(time):
        if not k.startswith("__"):
            setattr(t, k, getattr(time, k))
    t.monotonic = lambda: time.ticks_ms() / 1000
    sys.modules["time"] = t
    try:
        import adafruit_logging
    finally:
        sys.modules["time"] = time
    return adafruit_logging


def run_seconds():
    v = os.getenv("MONITORING_DURATION")
    return float(v) if v else None
