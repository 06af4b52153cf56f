"""The one check of a configuration section, for every capability.

A capability module (``influx``, ``syslog_handler``, ``control_server``,
``trace``, ``prometheus``, ``sources``) declares its section as a table
``OPTIONS`` of ``(key, default, rule)``; :func:`check` turns what the user
gave (a dict from Python or from ``config.json``) into a dict holding every
key, or raises ValueError naming ``section.key``. A rule is a function
returning None for a good value, else what was expected ("an integer from
1 to 65535"). Pure module: no sockets, no asyncio.
"""

# the default of a key the section cannot do without
REQUIRED = "<required>"


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
        if key != "enabled" and not _find(table, key):
            raise ValueError("%s.%s: unknown key (known: %s)" % (
                section, key, ", ".join(t[0] for t in table)))
    en = given.get("enabled", True)
    if type(en) is not bool:
        raise ValueError("%s.enabled: expected true or false, got %r" % (section, en))
    out = {}
    for key, default, rule in table:
        v = given.get(key, default)
        if v is REQUIRED:
            raise ValueError("%s.%s: required" % (section, key))
        why = None if v is None and default is None else rule(v)
        if why:
            raise ValueError("%s.%s: expected %s, got %r" % (section, key, why, v))
        out[key] = v
    bad = cross and cross(out)
    if bad:
        raise ValueError("%s.%s: %s" % (section, bad[0], bad[1]))
    return out


def _find(table, key):
    for t in table:
        if t[0] == key:
            return t
    return None


def integer(lo, hi):
    """Rule: an int from ``lo`` to ``hi`` (not a bool, not a float)."""
    def rule(v):
        if type(v) is not int or not lo <= v <= hi:
            return "an integer from %d to %d" % (lo, hi)
        return None
    return rule


def number(lo, hi):
    """Rule: an int or float from ``lo`` to ``hi``."""
    def rule(v):
        if type(v) not in (int, float) or not lo <= v <= hi:
            return "a number from %s to %s" % (lo, hi)
        return None
    return rule


def choice(*values):
    """Rule: one of ``values``."""
    def rule(v):
        if v not in values:
            return "one of " + ", ".join(values)
        return None
    return rule


def text(v):
    """Rule: a str without control characters."""
    if type(v) is not str:
        return "a string"
    for ch in v:
        if ch < " " or ch == "\x7f":
            return "a string without control characters"
    return None


def host(v):
    """Rule: a host name or address (no spaces, not empty)."""
    if text(v) or not v or " " in v:
        return "a host name or address"
    return None


def boolean(v):
    """Rule: True or False."""
    return None if type(v) is bool else "true or false"


# a port to send to, and one to listen on (0: a free port the system picks)
port = integer(1, 65535)
listen_port = integer(0, 65535)
