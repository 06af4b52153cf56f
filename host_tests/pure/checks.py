"""Test helpers usable under both CPython and MicroPython."""


def raises(exc, fn, *args, **kw):
    """Assert ``fn(*args, **kw)`` raises ``exc``; returns the exception."""
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %r" % (exc.__name__, fn))


def unescape(data):
    """Undo the syslog MSG escaping (bytes in, bytes out), written from
    monitoring.syslog's docstring."""
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c == 92:
            e = data[i + 1]
            if e == 120:
                out.append(int(bytes(data[i + 2:i + 4]), 16))
                i += 4
                continue
            out.append({110: 10, 114: 13, 116: 9, 92: 92}[e])
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)
