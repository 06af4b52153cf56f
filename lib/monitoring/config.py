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

Checking is the capabilities' own (:func:`monitoring.validate`,
:func:`monitoring.start`): this module only reads.
"""

import json


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
