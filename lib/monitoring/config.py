"""Configuration files: JSON documents read and merged (board defaults,
then the user's file). Pure module (reads files only in :func:`load`).

A document holds the keywords of :func:`monitoring.start` (``hostname``,
``firmware`` and one object per capability section) beside the firmware's
own keys (``wifi``, ``ntp``, ``watchdog_ms``, ``heartbeat_s``,
``log_level``: see :mod:`boardsettings`)::

    {"hostname": "pico-1", "firmware": "demo-1.0", "log_level": "info",
     "wifi": {"ssid": "...", "password": "..."},
     "influx": {"host": "192.168.1.10", "db": "telemetry"},
     "syslog": {"host": "192.168.1.10"},
     "control": {"port": 2323}}

Checking is the capabilities' own (:func:`monitoring.check`); :func:`validate`
runs it section by section for a firmware that must boot anyway.
"""

import json

import monitoring
from monitoring import options


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


_TOP = ("hostname", "firmware")


def validate(doc):
    """``(doc, errors)``: ``doc`` without its bad sections and keys, and one
    message for each, from the same checks as :func:`monitoring.start`. For a
    firmware that must boot whatever its configuration says: the rest
    still runs (a bad hostname or firmware falls back to the default)."""
    import gc

    errors = []
    good = {}
    for name in sorted(doc):  # one order on every port
        gc.collect()  # each check may load its capability's code: give it room
        try:
            if name not in options.FIRMWARE_KEYS:
                monitoring.check({name: doc[name]})
            good[name] = doc[name]
        except ValueError as e:
            errors.append("config: %s (%s)" % (e, name + " off" if name in options.SECTIONS
                                                else "default used" if name in _TOP
                                                else "ignored"))
    return good, errors
