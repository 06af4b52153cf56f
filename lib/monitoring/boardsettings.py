"""The demo firmware's own keys in its configuration document, beside the
capability sections that :func:`monitoring.start` takes: ``wifi``,
``ntp``, ``watchdog_ms``, ``heartbeat_s``, ``log_level``, ``sleep_s``. Checked with the
same rules as the sections (:mod:`options`), so that a typo never stops a
board booting. Pure module; needed once, at boot, and unloaded afterwards
(a separate module, so a firmware of its own never loads it)."""

from . import options

LEVELS = ("debug", "info", "warning", "error", "critical")


def _object(*keys):
    def rule(v):
        if type(v) is not dict or [1 for k in v if k not in keys or (
                v[k] is not None and options.expected("text", v[k]))]:
            return "an object of strings: " + ", ".join(keys)
        return None
    return rule


def _watchdog(v):
    if type(v) is int and (v == 0 or 1000 <= v <= 3600000):
        return None
    return "0 (off) or an integer from 1000 to 3600000"


def _sleep(v):
    if type(v) in (int, float) and type(v) is not bool and (v == 0 or 1 <= v <= 604800):
        return None
    return "0 (awake) or a number of seconds from 1 to 604800"


# (key, default, rule, what the default means)
KEYS = (("wifi", None, _object("ssid", "password", "country"), "network off"),
        ("ntp", None, _object("host"), "the board's NTP server"),
        ("watchdog_ms", 0, _watchdog, "watchdog off"),
        ("heartbeat_s", 10, (0.1, 86400), "10 s"),
        ("log_level", "info", LEVELS, "info"),
        ("sleep_s", 0, _sleep, "no deep sleep"))


def board_settings(doc, errors):
    """The firmware's own keys, checked: a dict of each key of
    :data:`KEYS` (``ntp`` as the host name alone). A bad value gets one
    message naming the key and falls back to its default (network off,
    the board's NTP server, no watchdog, 10 s, info, no deep sleep)."""
    out = {}
    for key, default, rule, off in KEYS:
        v = doc.get(key)
        why = None if v is None else options.expected(rule, v)
        if why:
            # (an object's values are not repeated: the Wi-Fi password)
            errors.append("config: %s: expected %s%s (%s)" % (
                key, why, "" if type(v) is dict else ", got %r" % (v,), off))
        out[key] = default if v is None or why else v
    if out["ntp"] is not None:
        out["ntp"] = out["ntp"].get("host")
    return out
