"""ESP32 board support (network.WLAN, esp32.idf_heap_info).

Needs hardware: not yet tested on a board (see the README)."""

import wlan

NAME = "esp32"
DEFAULTS = "/board_config.json"


def config_path():
    return "/config.json"


async def connect_network(wifi, log):
    return await wlan.connect(wifi, log)


def socket_pool():
    # None: monitoring.start takes the socket module
    return None


def device_id():
    return wlan.device_id("esp32")


def reset_cause():
    return wlan.reset_cause()


def reset():
    import machine

    machine.reset()


def deepsleep(ms):
    import machine

    machine.deepsleep(ms)


def heap_info():
    """Free bytes and largest free block of the IDF heap (ESP-IDF's own
    allocator, which Wi-Fi and sockets use, besides MicroPython's heap)."""
    import esp32

    free = largest = 0
    for _total, f, big, _min in esp32.idf_heap_info(esp32.HEAP_DATA):
        free += f
        largest = max(largest, big)
    return {"idf_free": free, "idf_largest_block": largest}


def set_clock(host):
    return wlan.set_clock(host)


def watchdog(timeout_ms):
    return wlan.watchdog(timeout_ms)


def net_status():
    return wlan.status()


def logging_module():
    import logging

    return logging


def run_seconds():
    return None
