"""Wi-Fi station code shared by the ESP32 and Pico W boards (network.WLAN).

Needs hardware: not yet tested on a board (see the README)."""

import time

try:
    import asyncio
except ImportError:
    import uasyncio as asyncio

_state = {"reconnects": 0, "wlan": None}
# while the network is still down after boot: one more attempt this often
RETRY_S = 60


async def connect(wifi, log, attempts=8, timeout_ms=15000):
    """Connect the station interface to ``wifi["ssid"]``; retries with
    exponential backoff (1 s doubling to 32 s). Returns True when up; when
    not, a background task goes on trying every ``RETRY_S`` (an access
    point down at boot must not leave the board offline for good)."""
    import network

    ssid = (wifi or {}).get("ssid")
    if not ssid:
        log.warning("wifi: no ssid configured, network off")
        return False
    wlan = network.WLAN(network.STA_IF)
    _state["wlan"] = wlan
    wlan.active(True)
    delay = 1
    for attempt in range(attempts):
        if wlan.isconnected():
            return True
        try:
            wlan.connect(ssid, wifi.get("password", ""))
        except OSError as e:
            log.warning("wifi: connect failed: %s", e)
        start = time.ticks_ms()
        while not wlan.isconnected() and time.ticks_diff(time.ticks_ms(), start) < timeout_ms:
            await asyncio.sleep_ms(200)
        if wlan.isconnected():
            if attempt:
                _state["reconnects"] += 1
            log.info("wifi: connected to %s as %s", ssid, wlan.ifconfig()[0])
            return True
        if attempt + 1 == attempts:
            break
        log.warning("wifi: not connected (attempt %d), retrying in %d s", attempt + 1, delay)
        wlan.disconnect()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 32)
    log.warning("wifi: down after %d attempts, trying again every %d s", attempts, RETRY_S)
    asyncio.create_task(_keep_trying(wlan, ssid, wifi.get("password", ""), log, timeout_ms))
    return False


async def _keep_trying(wlan, ssid, password, log, timeout_ms):
    # waits without blocking the loop: the station connects in the background
    while not wlan.isconnected():
        await asyncio.sleep(RETRY_S)
        if wlan.isconnected():
            break
        try:
            wlan.disconnect()
            wlan.connect(ssid, password)
        except OSError as e:
            log.warning("wifi: connect failed: %s", e)
        start = time.ticks_ms()
        while not wlan.isconnected() and time.ticks_diff(time.ticks_ms(), start) < timeout_ms:
            await asyncio.sleep_ms(200)
    _state["reconnects"] += 1
    log.info("wifi: connected to %s as %s", ssid, wlan.ifconfig()[0])


def status():
    """Connection state, RSSI and reconnect count."""
    wlan = _state["wlan"]
    if wlan is None:
        return None
    up = wlan.isconnected()
    rssi = None
    if up:
        try:
            rssi = wlan.status("rssi")
        except (OSError, ValueError):
            rssi = None
    return {"connected": up, "rssi": rssi, "reconnects": _state["reconnects"]}


def device_id(prefix):
    """``prefix-<hex of machine.unique_id()>``."""
    import machine
    import ubinascii

    return "%s-%s" % (prefix, ubinascii.hexlify(machine.unique_id()).decode())


def set_clock(host):
    """Set the RTC from NTP; True on success. Blocks up to ntptime's
    timeout (1 s): done once at boot, before monitoring starts."""
    try:
        import ntptime

        if host:
            ntptime.host = host
        ntptime.settime()
        return True
    except Exception:
        return False


_CAUSES = ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET")


def reset_cause():
    """machine.reset_cause() as a name."""
    import machine

    c = machine.reset_cause()
    for name in _CAUSES:
        if getattr(machine, name, None) == c:
            return name.lower()
    return "unknown-%d" % c


def watchdog(timeout_ms):
    """A started machine.WDT (it cannot be stopped once started)."""
    import machine

    return machine.WDT(timeout=timeout_ms)
