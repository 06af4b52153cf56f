"""Firmware configuration: one JSON document -> ``monitoring.start`` kwargs.

Pure module (reads files only in :func:`load`). The document, every key
optional::

    {"device": "pico-1", "firmware": "demo-1.0", "log_level": "info",
     "wifi": {"ssid": "...", "password": "..."},
     "ntp": {"host": "pool.ntp.org"}, "watchdog_ms": 0,
     "influx": {"transport": "udp", "host": "192.168.1.10", "port": 8089,
                "db": "", "org": "", "bucket": "", "token": "",
                "interval": 10, "precision": "ms"},
     "syslog": {"transport": "udp", "host": "192.168.1.10", "port": 514,
                "format": "rfc5424", "framing": "octet", "facility": "daemon",
                "app_name": null},
     "control": {"port": 2323, "token": null},
     "trace": {"port": 4242, "interval_ms": 200},
     "prometheus": {"port": 9100}}

A capability section that is absent, ``null`` or has ``"enabled": false``
is off. A section with a bad value is off too, with one message naming the
key; the rest of the configuration still applies, so a board with a typo in
its syslog settings still boots and reports metrics.
"""

import json

LEVELS = ("debug", "info", "warning", "error", "critical")


def _int(lo, hi):
    def check(v):
        if type(v) is not int or not lo <= v <= hi:
            return "an integer from %d to %d" % (lo, hi)
        return None
    return check


def _number(lo, hi):
    def check(v):
        if type(v) not in (int, float) or not lo <= v <= hi:
            return "a number from %s to %s" % (lo, hi)
        return None
    return check


def _choice(*options):
    def check(v):
        if v not in options:
            return "one of " + ", ".join(options)
        return None
    return check


def _text(v):
    if type(v) is not str:
        return "a string"
    for ch in v:
        if ord(ch) < 32:
            return "a string without control characters"
    return None


def _opt_text(v):
    return None if v is None else _text(v)


_PORT = _int(1, 65535)

_FACILITY_NAMES = ("kern user mail daemon auth syslog lpr news uucp cron authpriv ftp "
                   "local0 local1 local2 local3 local4 local5 local6 local7").split()


def _facility(v):
    if (type(v) is int and 0 <= v <= 23) or v in _FACILITY_NAMES:
        return None
    return "a number from 0 to 23 or a facility name (daemon, local0...)"

# section -> {key: (check, default)}; a default of None means optional
SECTIONS = {
    "influx": {
        "transport": (_choice("tcp", "udp", "http"), "udp"),
        "host": (_text, None),
        "port": (_PORT, None),
        "db": (_opt_text, None),
        "org": (_opt_text, None),
        "bucket": (_opt_text, None),
        "token": (_opt_text, None),
        "interval": (_number(0.05, 86400), 10),
        "precision": (_choice("s", "ms", "us", "ns"), "ms"),
        "buffer_size": (_int(512, 1048576), None),
    },
    "syslog": {
        "transport": (_choice("udp", "tcp"), "udp"),
        "host": (_text, None),
        "port": (_PORT, 514),
        "format": (_choice("rfc5424", "rfc3164"), "rfc5424"),
        "framing": (_choice("octet", "lf"), "octet"),
        "facility": (_facility, None),
        "app_name": (_opt_text, None),
        "queue": (_int(512, 1048576), None),
    },
    "control": {
        "port": (_PORT, 2323),
        "token": (_opt_text, None),
    },
    "trace": {
        "port": (_PORT, 4242),
        "interval_ms": (_int(10, 60000), 200),
    },
    "prometheus": {
        "port": (_PORT, 9100),
    },
}

REQUIRED = {"influx": ("host",), "syslog": ("host",)}


def merge(base, over):
    """``base`` updated by ``over``, one level deep for dict sections."""
    out = {}
    for k in base:
        out[k] = base[k]
    for k in over:
        v = over[k]
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            d = {}
            for kk in out[k]:
                d[kk] = out[k][kk]
            for kk in v:
                d[kk] = v[kk]
            out[k] = d
        else:
            out[k] = v
    return out


def load(*paths):
    """Read and merge JSON files (later ones override); a missing file is
    skipped. Returns ``(document, errors)``."""
    doc = {}
    errors = []
    for p in paths:
        if not p:
            continue
        try:
            with open(p) as f:
                d = json.load(f)
        except OSError:
            continue
        except ValueError as e:
            errors.append("config: %s: not valid JSON (%s)" % (p, e))
            continue
        if not isinstance(d, dict):
            errors.append("config: %s: not a JSON object" % p)
            continue
        doc = merge(doc, d)
    return doc, errors


def _section(doc, name, errors):
    sec = doc.get(name)
    if sec is None:
        return None
    if not isinstance(sec, dict):
        errors.append("config: %s: expected an object (%s off)" % (name, name))
        return None
    if sec.get("enabled", True) is False:
        return None
    schema = SECTIONS[name]
    out = {}
    for key in sec:
        if key == "enabled":
            continue
        if key not in schema:
            errors.append("config: %s.%s: unknown key (%s off)" % (name, key, name))
            return None
    for key in schema:
        check, default = schema[key]
        v = sec.get(key, default)
        if v is None:
            if key in REQUIRED.get(name, ()):
                errors.append("config: %s.%s: required (%s off)" % (name, key, name))
                return None
            out[key] = None
            continue
        why = check(v)
        if why:
            errors.append("config: %s.%s: expected %s, got %r (%s off)" % (name, key, why, v, name))
            return None
        out[key] = v
    if name == "influx" and out["transport"] == "http" and not (out["db"] or (out["org"] and out["bucket"])):
        errors.append("config: influx.db: required for http (or org and bucket) (influx off)")
        return None
    return out


def to_start_kwargs(doc, default_device="micropython"):
    """``(kwargs for monitoring.start, errors)`` from a configuration
    document. Bad sections are left out, each with one error message."""
    errors = []
    kw = {}
    dev = doc.get("device", default_device)
    if _text(dev) or not dev or "," in dev or " " in dev or "=" in dev:
        errors.append("config: device: expected a name without spaces, ',' or '=', got %r" % (dev,))
        dev = default_device
    kw["hostname"] = dev
    fw = doc.get("firmware", "unknown")
    if _text(fw):
        errors.append("config: firmware: expected a string, got %r" % (fw,))
        fw = "unknown"
    kw["firmware"] = fw
    sec = _section(doc, "influx", errors)
    if sec:
        kw["influx"] = (sec["host"], sec["port"])
        kw["transport"] = sec["transport"]
        kw["interval"] = sec["interval"]
        kw["precision"] = sec["precision"]
        for k in ("db", "org", "bucket", "token", "buffer_size"):
            if sec[k]:
                kw[k] = sec[k]
    sec = _section(doc, "syslog", errors)
    if sec:
        kw["syslog"] = (sec["host"], sec["port"])
        kw["syslog_transport"] = sec["transport"]
        kw["syslog_format"] = sec["format"]
        kw["syslog_framing"] = sec["framing"]
        if sec["facility"] is not None:
            kw["syslog_facility"] = sec["facility"]
        if sec["app_name"]:
            kw["app_name"] = sec["app_name"]
        if sec["queue"]:
            kw["syslog_queue"] = sec["queue"]
    sec = _section(doc, "control", errors)
    if sec:
        kw["listen_port"] = sec["port"]
        kw["control_token"] = sec["token"]
    sec = _section(doc, "trace", errors)
    if sec:
        kw["trace_port"] = sec["port"]
        kw["trace_interval_ms"] = sec["interval_ms"]
    sec = _section(doc, "prometheus", errors)
    if sec:
        kw["prometheus_port"] = sec["port"]
    return kw, errors


def log_level(doc, errors):
    """The configured root log level name (default ``info``)."""
    lv = doc.get("log_level", "info")
    if lv not in LEVELS:
        errors.append("config: log_level: expected one of %s, got %r" % (", ".join(LEVELS), lv))
        return "info"
    return lv
