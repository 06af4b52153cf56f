"""Raspberry Pi Pico W board support (CYW43 Wi-Fi through network.WLAN).

Needs hardware: not yet tested on a board (see the README)."""

import wlan

NAME = "rp2_pico_w"
DEFAULTS = "/board_config.json"
# the RP2040's watchdog cannot wait longer than this (the firmware feeds it
# at a third of the lesser of this and watchdog_ms)
WATCHDOG_MAX_MS = 8388


def config_path():
    return "/config.json"


async def connect_network(wifi, log):
    country = (wifi or {}).get("country")
    if country:
        import rp2

        rp2.country(country)
    return await wlan.connect(wifi, log)


def socket_pool():
    # None: monitoring.start takes the socket module
    return None


def device_id():
    return wlan.device_id("picow")


def reset_cause():
    return wlan.reset_cause()


def reset():
    import machine

    machine.reset()


def deepsleep(ms):
    import machine

    machine.deepsleep(ms)


def heap_info():
    return {}


def set_clock(host):
    return wlan.set_clock(host)


def watchdog(timeout_ms):
    return wlan.watchdog(min(timeout_ms, WATCHDOG_MAX_MS))


def net_status():
    return wlan.status()


def logging_module():
    import logging

    return logging


def run_seconds():
    return None
