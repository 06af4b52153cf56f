"""CircuitPython board support: Raspberry Pi Pico W, and ESP32-S2/S3 boards
(any CircuitPython 9 or 10 board with ``wifi``), installed as
``/monboard.py`` on CIRCUITPY (not ``board.py``: CircuitPython's built-in
``board``, the pins, wins over a file of that name).

Settings come from ``settings.toml`` through ``os.getenv``:
``CIRCUITPY_WIFI_SSID`` and ``CIRCUITPY_WIFI_PASSWORD`` (which CircuitPython
itself may already have used to connect), ``MONITORING_CONFIG`` (the JSON
configuration on CIRCUITPY, default ``/config.json``) and
``MONITORING_DURATION`` (seconds, to stop the demo; unset: forever).

Needs hardware: not yet tested on a board (see the README). Written against
CircuitPython's ``wifi``, ``socketpool``, ``microcontroller``, ``watchdog``
and ``rtc`` modules and the bundle's ``adafruit_ntp`` and
``adafruit_logging``.
"""

import gc
import os

try:
    import asyncio
except ImportError:
    import uasyncio as asyncio

from monitoring.compat import ticks_diff, ticks_ms

NAME = "circuitpython"
DEFAULTS = "/board_config.json"
# the longest watchdog timeout every supported chip takes (RP2040: 8 s;
# the firmware feeds it at a third of the lesser of this and watchdog_ms)
WATCHDOG_MAX_MS = 8000

_state = {"reconnects": 0, "up": False, "pool": None}
# while the network is still down after boot: one more attempt this often,
# of at most RETRY_TIMEOUT_S (wifi.radio.connect blocks the loop meanwhile:
# short, and well within the watchdog's 8 s)
RETRY_S = 60
RETRY_TIMEOUT_S = 3


def config_path():
    return os.getenv("MONITORING_CONFIG") or "/config.json"


def _wifi_settings(wifi):
    # settings.toml first (CircuitPython's own place for them), then the
    # configuration's wifi object
    wifi = wifi or {}
    ssid = os.getenv("CIRCUITPY_WIFI_SSID") or wifi.get("ssid")
    password = os.getenv("CIRCUITPY_WIFI_PASSWORD")
    if password is None:
        password = wifi.get("password") or ""
    return ssid, password


async def connect_network(wifi, log, attempts=8, timeout_s=15):
    """Join the Wi-Fi network of settings.toml (else the configuration's
    ``wifi``); retries with backoff (1 s doubling to 32 s). Each attempt
    blocks in ``wifi.radio.connect`` for up to ``timeout_s``: done once at
    boot, before monitoring starts. Once connected CircuitPython
    reconnects by itself. Returns True when up; when not, a background task
    goes on trying every ``RETRY_S``."""
    import wifi as _wifi

    radio = _wifi.radio
    if radio.connected:
        _state["up"] = True
        log.info("wifi: connected as %s", radio.ipv4_address)
        return True
    ssid, password = _wifi_settings(wifi)
    if not ssid:
        log.warning("wifi: no CIRCUITPY_WIFI_SSID in settings.toml, network off")
        return False
    delay = 1
    for attempt in range(attempts):
        t0 = ticks_ms()
        try:
            radio.connect(ssid, password, timeout=timeout_s)
        except OSError as e:  # ConnectionError (no AP, bad password) is one
            log.warning("wifi: connect to %s failed: %s", ssid, e)
        if radio.connected:
            _state["up"] = True
            log.info("wifi: connected to %s as %s in %d ms", ssid, radio.ipv4_address,
                     ticks_diff(ticks_ms(), t0))
            return True
        if attempt + 1 == attempts:
            break
        log.warning("wifi: not connected (attempt %d), retrying in %d s", attempt + 1, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 32)
    log.warning("wifi: down after %d attempts, trying again every %d s", attempts, RETRY_S)
    asyncio.create_task(_keep_trying(radio, ssid, password, log))
    return False


async def _keep_trying(radio, ssid, password, log):
    while not radio.connected:
        await asyncio.sleep(RETRY_S)
        if radio.connected:
            break
        try:
            radio.connect(ssid, password, timeout=RETRY_TIMEOUT_S)
        except OSError as e:
            log.warning("wifi: connect to %s failed: %s", ssid, e)
    log.info("wifi: connected to %s as %s", ssid, radio.ipv4_address)


def socket_pool():
    """The ``socketpool.SocketPool`` of the Wi-Fi radio (one, made on first
    use): CircuitPython's sockets, for adafruit_ntp and for monitoring."""
    if _state["pool"] is None:
        import socketpool
        import wifi

        _state["pool"] = socketpool.SocketPool(wifi.radio)
    return _state["pool"]


def device_id():
    """``cpy-<hex of microcontroller.cpu.uid>``."""
    import binascii
    import microcontroller

    return "cpy-" + binascii.hexlify(microcontroller.cpu.uid).decode()


_RESETS = ("POWER_ON", "BROWNOUT", "SOFTWARE", "DEEP_SLEEP_ALARM", "RESET_PIN", "WATCHDOG",
           "UNKNOWN", "RESCUE_DEBUG")


def reset_cause():
    """``microcontroller.cpu.reset_reason`` as a name (``power_on``,
    ``watchdog``, ``software``...)."""
    import microcontroller

    r = microcontroller.cpu.reset_reason
    for name in _RESETS:
        if getattr(microcontroller.ResetReason, name, None) is r:
            return name.lower()
    return str(r).rsplit(".", 1)[-1].lower()


def reset():
    import microcontroller

    microcontroller.reset()


def deepsleep(ms):
    """Deep sleep through ``alarm``: a time alarm ``ms`` from now; the
    board restarts code.py when it fires."""
    import alarm
    import time

    a = alarm.time.TimeAlarm(monotonic_time=time.monotonic() + ms / 1000)
    alarm.exit_and_deep_sleep_until_alarms(a)


class _Nvm:
    # microcontroller.nvm (flash: it survives every reset, each write wears it)
    # as RTC memory for the crash section
    cheap = False

    def __init__(self, nvm):
        self.nvm = nvm

    def memory(self, data=None):
        if data is None:
            return bytes(self.nvm[0:len(self.nvm)])
        self.nvm[0:len(data)] = data


def rtc():
    """Where the ``crash`` section keeps its record: ``microcontroller.nvm``
    when the board has one (CIRCUITPY is read-only to the code by
    default), else None."""
    try:
        import microcontroller

        nvm = microcontroller.nvm
        if nvm is not None and len(nvm) >= 1200:
            return _Nvm(nvm)
    except (ImportError, AttributeError):
        pass
    return None


def heap_info():
    """Free heap (``gc.mem_free()``) and, on Espressif boards, the IDF
    heap's free bytes and largest free block (``espidf``)."""
    out = {"free": gc.mem_free()}
    try:
        import espidf

        out["idf_free"] = espidf.heap_caps_get_free_size()
        out["idf_largest_block"] = espidf.heap_caps_get_largest_free_block()
    except (ImportError, AttributeError):
        pass
    return out


def set_clock(host):
    """Set the RTC from NTP (``adafruit_ntp`` over the socket pool, UTC), so
    that ``time.time()`` and ``time.localtime()`` tell UTC; True on
    success, never raises. Blocks up to 5 s: done once at boot."""
    try:
        import adafruit_ntp
        import rtc

        kw = {"server": host} if host else {}
        ntp = adafruit_ntp.NTP(socket_pool(), tz_offset=0, socket_timeout=5, **kw)
        rtc.RTC().datetime = ntp.datetime
        return True
    except Exception:
        return False


def watchdog(timeout_ms):
    """``microcontroller.watchdog`` started in reset mode with ``timeout_ms``
    (at most 8 s where the chip allows no more, the RP2040); it has
    ``feed()``."""
    import microcontroller
    from watchdog import WatchDogMode

    w = microcontroller.watchdog
    try:
        w.timeout = timeout_ms / 1000
    except ValueError:  # longer than the chip's watchdog can wait
        w.timeout = WATCHDOG_MAX_MS / 1000
    w.mode = WatchDogMode.RESET
    return w


def net_status():
    """Connection state, RSSI (``wifi.radio.ap_info.rssi``) and the
    reconnections seen (CircuitPython reconnects by itself: a return from
    down to up between two readings counts one)."""
    import wifi

    radio = wifi.radio
    up = radio.connected
    if up and not _state["up"]:
        _state["reconnects"] += 1
    _state["up"] = up
    rssi = None
    if up:
        info = radio.ap_info
        if info is not None:
            rssi = info.rssi
    return {"connected": up, "rssi": rssi, "reconnects": _state["reconnects"]}


def logging_module():
    """The bundle's ``adafruit_logging`` (CircuitPython has no ``logging``).
    A logger given a handler (syslog's) stops printing to the console:
    the demo gives its loggers a StreamHandler of their own."""
    import adafruit_logging

    return adafruit_logging


def run_seconds():
    v = os.getenv("MONITORING_DURATION")
    return float(v) if v else None
