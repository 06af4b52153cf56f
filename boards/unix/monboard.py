"""The MicroPython Unix port as a board: what the tests and `make run` use.

The network is the host's; the clock is the host's (already set); the
configuration file is chosen with $MONITORING_CONFIG and the run length
with $MONITORING_DURATION (seconds).

Resets and deep sleep end the process, for a harness that restarts it as
the board would restart: :func:`reset` exits with :data:`RESET_EXIT`,
:func:`deepsleep` with :data:`DEEPSLEEP_EXIT`. With $MONITORING_STATE (a
directory) each leaves the next boot's reset cause there, and
:func:`rtc` is RTC memory kept in a file there (as an ESP32's survives
soft, watchdog and deep-sleep resets); $MONITORING_RESET_CAUSE names the
cause of a boot with none left (the harness's kill as a watchdog:
``wdt_reset``).
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


RESET_EXIT = 3
DEEPSLEEP_EXIT = 4


def _state(name):
    d = os.getenv("MONITORING_STATE")
    return d + "/" + name if d else None


def reset_cause():
    """The cause the last reset or deep sleep left (read once), else
    $MONITORING_RESET_CAUSE, else ``power-on``."""
    path = _state("reset_cause")
    if path:
        try:
            with open(path) as f:
                cause = f.read().strip()
            os.remove(path)
            return cause
        except OSError:
            pass
    return os.getenv("MONITORING_RESET_CAUSE") or "power-on"


def _leave(cause, code):
    path = _state("reset_cause")
    if path:
        with open(path, "w") as f:
            f.write(cause)
    sys.exit(code)


def reset():
    """``machine.reset()``: the process ends with :data:`RESET_EXIT`; the
    next boot's cause is ``soft_reset`` (an ESP32's after machine.reset)."""
    _leave("soft_reset", RESET_EXIT)


def deepsleep(ms):
    """``machine.deepsleep(ms)``: the process ends with
    :data:`DEEPSLEEP_EXIT` (the harness restarts it); the next boot's
    cause is ``deepsleep_reset``."""
    _leave("deepsleep_reset", DEEPSLEEP_EXIT)


class FileRtc:
    """RTC memory in a file: ``memory()`` reads it, ``memory(data)``
    replaces it (written to a temp file, then renamed)."""

    def __init__(self, path):
        self.path = path

    def memory(self, data=None):
        if data is None:
            try:
                with open(self.path, "rb") as f:
                    return f.read()
            except OSError:
                return b""
        with open(self.path + ".tmp", "wb") as f:
            f.write(data)
        os.rename(self.path + ".tmp", self.path)


def rtc():
    """RTC memory for the ``crash`` section: in $MONITORING_STATE, else
    None (the section's file store)."""
    path = _state("rtc.bin")
    return FileRtc(path) if path else None


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
