"""The syslog handler for CPython's ``logging`` (host tools, tests): a
``logging.Handler`` subclass feeding a :class:`syslog_handler.SyslogSender`.
Kept apart so boards never load it."""

_handler_class = None


def cpython_handler(sender, level=0):
    """A ``logging.Handler`` (CPython) feeding ``sender``. Records logged
    from another thread are handed to the event loop's thread."""
    global _handler_class
    if _handler_class is None:
        _handler_class = _make_class()
    return _handler_class(sender, level)


def _make_class():
    try:
        import logging
        import threading
    except ImportError:  # not CPython: syslog_handler's handlers serve there
        raise ImportError("cpython_handler needs CPython's logging and threading")

    class CPythonHandler(logging.Handler):
        """CPython ``logging`` handler: the message is the record
        formatted by the handler's formatter (default ``%(message)s``
        plus any traceback); the record's ``created`` time is used.
        CPython does not pass records below the handler's own level,
        so only those reaching it are counted."""

        def __init__(self, sender, level=0):
            logging.Handler.__init__(self, level)
            self.sender = sender
            if sender._loop is None:
                sender._note_loop()  # created inside the loop: remember it

        def emit(self, record):
            s = self.sender
            try:
                lv = record.levelno
                s.count(lv)
                args = (lv, record.name, self.format(record),
                        int(record.created * 1000000000))
                loop = s._loop  # (thread id, event loop) of the sending task
                if loop is None or threading.get_ident() == loop[0]:
                    s.log(*args)
                else:
                    loop[1].call_soon_threadsafe(s.log, *args)
            except Exception:
                s.counters.log_errors += 1

    return CPythonHandler
