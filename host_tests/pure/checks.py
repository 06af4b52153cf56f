"""Assertion helpers usable under both CPython and MicroPython."""


def raises(exc, fn, *args, **kw):
    """Assert ``fn(*args, **kw)`` raises ``exc``; returns the exception."""
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %r" % (exc.__name__, fn))
