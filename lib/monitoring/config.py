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

from .metrics import check_name

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


def _host(v):
    if _text(v) or not v or " " in v:
        return "a host name or address"
    return None


_PORT = _int(1, 65535)

_FACILITY_NAMES = ("kern user mail daemon auth syslog lpr news uucp cron authpriv ftp "
                   "local0 local1 local2 local3 local4 local5 local6 local7").split()


def _facility(v):
    if (type(v) is int and 0 <= v <= 23) or v in _FACILITY_NAMES:
        return None
    return "a number from 0 to 23 or a facility name (daemon, local0...)"

# section -> its keys: (key, check, default, start() keyword). A default of
# None means optional, _REQUIRED that the section is off without it; the
# keyword "" marks host and port, passed together as (host, port) under the
# section's own name. Values None or "" are not passed (start's default).
_REQUIRED = object()
SECTIONS = {
    "influx": (
        ("transport", _choice("tcp", "udp", "http"), "udp", "transport"),
        ("host", _host, _REQUIRED, ""),
        ("port", _PORT, None, ""),
        ("db", _opt_text, None, "db"),
        ("org", _opt_text, None, "org"),
        ("bucket", _opt_text, None, "bucket"),
        ("token", _opt_text, None, "token"),
        ("interval", _number(0.05, 86400), 10, "interval"),
        ("precision", _choice("s", "ms", "us", "ns"), "ms", "precision"),
        ("buffer_size", _int(512, 1048576), None, "buffer_size"),
    ),
    "syslog": (
        ("transport", _choice("udp", "tcp"), "udp", "syslog_transport"),
        ("host", _host, _REQUIRED, ""),
        ("port", _PORT, 514, ""),
        ("format", _choice("rfc5424", "rfc3164"), "rfc5424", "syslog_format"),
        ("framing", _choice("octet", "lf"), "octet", "syslog_framing"),
        ("facility", _facility, None, "syslog_facility"),
        ("app_name", _opt_text, None, "app_name"),
        ("queue", _int(512, 1048576), None, "syslog_queue"),
    ),
    "control": (
        ("port", _PORT, 2323, "listen_port"),
        ("token", _opt_text, None, "control_token"),
    ),
    "trace": (
        ("port", _PORT, 4242, "trace_port"),
        ("interval_ms", _int(10, 60000), 200, "trace_interval_ms"),
    ),
    "prometheus": (
        ("port", _PORT, 9100, "prometheus_port"),
    ),
}


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


def _section(doc, name, kw, errors):
    # adds the section's start() keywords to kw; on any bad value adds
    # nothing and one message to errors
    sec = doc.get(name)
    if sec is None:
        return
    off = " (%s off)" % name
    if not isinstance(sec, dict):
        errors.append("config: %s: expected an object%s" % (name, off))
        return
    if sec.get("enabled", True) is False:
        return
    keys = SECTIONS[name]
    for key in sec:
        if key != "enabled" and not [1 for k in keys if k[0] == key]:
            errors.append("config: %s.%s: unknown key%s" % (name, key, off))
            return
    out = {}
    addr = [None, None]
    for key, check, default, arg in keys:
        v = sec.get(key, default)
        if v is _REQUIRED:
            errors.append("config: %s.%s: required%s" % (name, key, off))
            return
        if v is not None:
            why = check(v)
            if why:
                errors.append("config: %s.%s: expected %s, got %r%s" % (name, key, why, v, off))
                return
        if arg:
            if v is not None and v != "":
                out[arg] = v
        else:
            addr[key == "port"] = v
    if name == "influx" and out["transport"] == "http" and not (
            "db" in out or ("org" in out and "bucket" in out)):
        errors.append("config: influx.db: required for http (or org and bucket)" + off)
        return
    if name in ("influx", "syslog"):
        out[name] = tuple(addr)
    kw.update(out)


def to_start_kwargs(doc, default_device="micropython"):
    """``(kwargs for monitoring.start, errors)`` from a configuration
    document. Bad sections are left out, each with one error message."""
    errors = []
    kw = {}
    dev = doc.get("device", default_device)
    try:
        check_name(dev, "device", ", =")  # as start() checks the host name
    except ValueError:
        errors.append("config: device: expected a name without spaces, ',' or '=', got %r" % (dev,))
        dev = default_device
    kw["hostname"] = dev
    fw = doc.get("firmware", "unknown")
    if _text(fw):
        errors.append("config: firmware: expected a string, got %r" % (fw,))
        fw = "unknown"
    kw["firmware"] = fw
    for name in ("influx", "syslog", "control", "trace", "prometheus"):
        _section(doc, name, kw, errors)
    return kw, errors


def log_level(doc, errors):
    """The configured root log level name (default ``info``)."""
    lv = doc.get("log_level", "info")
    if lv not in LEVELS:
        errors.append("config: log_level: expected one of %s, got %r" % (", ".join(LEVELS), lv))
        return "info"
    return lv
