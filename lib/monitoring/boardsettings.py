"""The demo firmware's own settings in its configuration document (beside
the capability sections of :mod:`config`): ``wifi``, ``ntp``,
``watchdog_ms``, ``heartbeat_s``, checked so that a typo never stops a
board booting. Pure module; needed once, at boot, and unloaded afterwards
with :mod:`config` (a separate module, so that a firmware of its own that
uses :mod:`config` alone does not load it)."""

from .config import SECTIONS, _number, _opt_text


def _object(*keys):
    def check(v):
        if type(v) is not dict or [1 for k in v if k not in keys or _opt_text(v[k])]:
            return "an object of strings: " + ", ".join(keys)
        return None
    return check


# the firmware's own settings: (key, check, default, what the default means)
_BOARD = (("wifi", _object("ssid", "password", "country"), None, "network off"),
          ("ntp", _object("host"), None, "the board's NTP server"),
          ("watchdog_ms", lambda v: None if type(v) is int and (v == 0 or 1000 <= v <= 3600000)
           else "0 (off) or an integer from 1000 to 3600000", 0, "watchdog off"),
          ("heartbeat_s", _number(0.1, 86400), 10, "10 s"))


def board_settings(doc, errors):
    """The firmware's own settings, checked: ``[wifi, ntp host,
    watchdog_ms, heartbeat_s]``. A bad one gets one message naming the
    key and falls back to its default (network off, the board's NTP
    server, no watchdog, 10 s), so a typo never stops the board booting;
    a key the firmware does not know (a misspelt section) is named too."""
    out = []
    for key, check, default, off in _BOARD:
        v = doc.get(key)
        why = None if v is None else check(v)
        if why:
            # (an object's values are not repeated: the Wi-Fi password)
            errors.append("config: %s: expected %s%s (%s)" % (
                key, why, "" if type(v) is dict else ", got %r" % (v,), off))
        out.append(default if v is None or why else v)
    for key in doc:
        if key not in SECTIONS and key not in ("device", "firmware", "log_level") and not [
                1 for b in _BOARD if b[0] == key]:
            errors.append("config: %s: unknown key (ignored)" % key)
    if out[1] is not None:
        out[1] = out[1].get("host")
    return out
