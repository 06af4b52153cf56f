"""The one check of a configuration section, for every capability.

A capability module (``influx``, ``syslog_handler``, ``control_server``,
``trace``, ``prometheus``, ``sources``) declares its section as a table
``OPTIONS`` of ``(key, default, rule)`` (rules: :func:`expected`; a
default of ``...`` marks a key the section cannot do without);
:func:`check` turns what the user gave (a dict from Python or from
``config.json``) into a dict holding every key, or raises ValueError
naming ``section.key``. Pure module: no sockets, no asyncio.
"""



def check_document(doc):
    """What :func:`monitoring.check` does: the top-level keys, then each
    section by its owner module (imported here)."""
    import monitoring as m

    _top(doc.get("hostname", "micropython"), doc.get("firmware", "unknown"))
    for name in doc:
        if name not in m.SECTIONS and name not in m.FIRMWARE_KEYS and name not in m._TOP:
            raise ValueError("%s: unknown key (known: hostname, firmware, %s)" % (
                name, ", ".join(m.SECTIONS)))
    out = {}
    for i in range(len(m.SECTIONS)):
        name = m.SECTIONS[i]
        sec = doc.get(name)
        if name == "sources" and sec is None:
            sec = {}
        if sec is not None and not (type(sec) is dict and sec.get("enabled") is False):
            out[name] = __import__("monitoring." + m.OWNERS[i], None, None, ("check",)).check(sec)
    return out


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
    for key in given:
        if key != "enabled" and not [1 for t in table if t[0] == key]:
            raise ValueError("%s.%s: unknown key (known: %s)" % (
                section, key, ", ".join(t[0] for t in table)))
    en = given.get("enabled", True)
    if type(en) is not bool:
        raise ValueError("%s.enabled: expected true or false, got %r" % (section, en))
    out = {}
    for key, default, rule in table:
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
    a tuple of str one of them, ``"host"``, ``"text"``, ``"bool"``, or a
    function returning the same as this one.
    """
    if type(rule) is str:
        if rule == "bool":
            return None if type(v) is bool else "true or false"
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

