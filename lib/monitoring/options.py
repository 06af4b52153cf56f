"""The one check of a configuration section, for every capability.

A capability module (``influx``, ``syslog_handler``, ``control_server``,
``trace``, ``prometheus``, ``sources``, ``crash``) declares its section as a table
``OPTIONS``, a flat tuple of ``key, default, rule`` triples (one tuple, not
one per key: 50 bytes of RAM less per key; rules: :func:`expected`; a
default of ``...`` marks a key the section cannot do without);
:func:`check` turns what the user gave (a dict from Python or from
``config.json``) into a dict holding every key, or raises ValueError
naming ``section.key``. Pure module: no sockets, no asyncio.
"""

# the capability sections, in the order they start, and the module owning
# each (its OPTIONS, check() and start())
SECTIONS = ("sources", "influx", "control", "syslog", "trace", "prometheus", "crash")
OWNERS = ("sources", "influx", "control_server", "syslog_handler", "trace", "prometheus", "crash")
# the keys of a configuration document that belong to the firmware (start()
# ignores them), and start()'s keywords beside the sections
FIRMWARE_KEYS = ("wifi", "ntp", "watchdog_ms", "heartbeat_s", "log_level", "sleep_s")
TOP = ("hostname", "firmware", "registry", "logging", "net_status", "pool", "rtc", "reset_cause")


def check_document(doc):
    """What :func:`monitoring.check` does: the top-level keys, then each
    section by its owner module (imported here). Returns ``({name:
    options}, [(owner module, options)])``, both for the sections that are
    on, the list in starting order (``sources`` first, always on)."""
    _top(doc.get("hostname", "micropython"), doc.get("firmware", "unknown"))
    for name in doc:
        if name not in SECTIONS and name not in FIRMWARE_KEYS and name not in TOP:
            raise ValueError("%s: unknown key (known: hostname, firmware, %s)" % (
                name, ", ".join(SECTIONS)))
    out = {}
    owners = []
    for i in range(len(SECTIONS)):
        name = SECTIONS[i]
        sec = doc.get(name)
        if name == "sources" and sec is None:
            sec = {}
        if sec is not None and not (type(sec) is dict and sec.get("enabled") is False):
            m = __import__("monitoring." + OWNERS[i], None, None, ("check",))
            out[name] = m.check(sec)
            owners.append((m, out[name]))
    return out, owners


def _top(hostname, firmware):
    from .metrics import check_name

    try:
        check_name(hostname, "hostname", ", =")  # a tag value of every point
    except ValueError:
        raise ValueError("hostname: expected a name without spaces, ',' or '=', got %r"
                         % (hostname,))
    why = expected("text", firmware)
    if why:
        raise ValueError("firmware: expected %s, got %r" % (why, firmware))


def check(section, table, given, cross=None):
    """Every key of ``table``: the value ``given`` holds, else its default.

    ``given`` is a dict; ``"enabled"`` is accepted in every section (its
    meaning, off when False, is the caller's). ``cross(opts)`` checks keys
    against each other and returns ``(key, why)`` or None. Raises
    ValueError ``"section.key: ..."`` on an unknown key, a missing
    required key or a bad value; checks nothing else and changes nothing.
    """
    if type(given) is not dict:
        raise ValueError("%s: expected an object of options, got %r" % (section, given))
    keys = range(0, len(table), 3)  # where each key is (no step slices on MicroPython)
    for key in given:
        if key != "enabled" and not [1 for i in keys if table[i] == key]:
            raise ValueError("%s.%s: unknown key (known: %s)" % (
                section, key, ", ".join(table[i] for i in keys)))
    en = given.get("enabled", True)
    if type(en) is not bool:
        raise ValueError("%s.enabled: expected true or false, got %r" % (section, en))
    out = {}
    for i in keys:
        key, default, rule = table[i], table[i + 1], table[i + 2]
        v = given.get(key, default)
        if v is ...:
            raise ValueError("%s.%s: required" % (section, key))
        why = None if v is None and default is None else expected(rule, v)
        if why:
            raise ValueError("%s.%s: expected %s, got %r" % (section, key, why, v))
        out[key] = v
    bad = cross and cross(out)
    if bad:
        raise ValueError("%s.%s: %s" % (section, bad[0], bad[1]))
    return out


def expected(rule, v):
    """None when ``v`` obeys ``rule``, else what the rule expects.

    Rules are data, so a frozen firmware keeps its tables in flash:
    ``(lo, hi)`` an int in that range (a number when ``lo`` is a float),
    a tuple of str one of them, ``"host"``, ``"text"``, ``"bool"``,
    ``"file"`` (a file's path, or from Python its bytes), ``"loggers"`` (a
    logger name or a list of them; from Python also logger objects and
    logging modules), or a function returning the same as this one.
    """
    if type(rule) is str:
        if rule == "bool":
            return None if type(v) is bool else "true or false"
        if rule == "loggers":
            for lg in v if type(v) in (list, tuple) else (v,):
                if not (type(lg) is str or hasattr(lg, "addHandler") or hasattr(lg, "getLogger")):
                    return "a logger name, a logger, or a list of them"
            return None
        if rule == "file":
            if type(v) in (bytes, bytearray) and v:
                return None
            if type(v) is not str or not v:
                return "a file's path or its bytes"
            rule = "text"
        if type(v) is not str:
            return "a string" if rule == "text" else "a host name or address"
        for ch in v:
            if ch < " " or ch == "\x7f":
                return "a string without control characters"
        if rule == "host" and (not v or " " in v):
            return "a host name or address"
        return None
    if type(rule) is tuple:
        lo = rule[0]
        if type(lo) is str:
            return None if v in rule else "one of " + ", ".join(rule)
        if type(lo) is float:
            if type(v) not in (int, float) or not lo <= v <= rule[1]:
                return "a number from %s to %s" % rule
        elif type(v) is not int or not lo <= v <= rule[1]:
            return "an integer from %d to %d" % rule
        return None
    return rule(v)


def default_logging():
    """The logging module in use when none is given: ``logging``
    (micropython-lib's on a board, the stdlib's on CPython), else
    ``adafruit_logging`` (CircuitPython), else None."""
    for name in ("logging", "adafruit_logging"):
        try:
            return __import__(name)
        except ImportError:
            pass
    return None
