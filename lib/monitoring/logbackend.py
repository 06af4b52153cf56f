"""One small adapter over each supported logging module, for the control
socket: list loggers, read and set their levels, map level names.

Pure module: no sockets, no asyncio. Runs on MicroPython and CPython.

Supported modules, told apart by what the module object holds:

- micropython-lib ``logging`` (loggers in ``_loggers``, root ``"root"``;
  a logger at level 0 follows the root);
- CircuitPython ``adafruit_logging`` (loggers in ``logger_cache``, root
  ``""``; no inheritance: every logger has its own level);
- CPython ``logging`` (``logging.root.manager.loggerDict``; a logger at
  ``NOTSET`` follows its parent).

Level names: ``debug`` ``info`` ``warning`` (``warn``) ``error``
``critical`` and ``quiet`` (a level above critical: nothing is logged).
The root logger's level is the *default* level, written ``*``.
"""

from .compat import const

DEBUG = const(10)
INFO = const(20)
WARNING = const(30)
ERROR = const(40)
CRITICAL = const(50)
QUIET = const(100)

NAMES = ("debug", "info", "warning", "error", "critical", "quiet")
_NUMBERS = (DEBUG, INFO, WARNING, ERROR, CRITICAL, QUIET)


def level_number(name):
    """The number for a level name (any case; ``warn`` is ``warning``),
    or None when ``name`` is not a level."""
    n = name.lower()
    if n == "warn":
        n = "warning"
    for i in range(len(NAMES)):
        if NAMES[i] == n:
            return _NUMBERS[i]
    return None


def level_name(n):
    """The name of the lowest named level that lets through what ``n``
    lets through (``0``/NOTSET is ``debug``; above critical is ``quiet``)."""
    for i in range(len(_NUMBERS) - 1):
        if n <= _NUMBERS[i]:
            return NAMES[i]
    return "quiet"


def usable_name(name):
    """True when ``name`` can be written in the control protocol: a
    non-empty str without ``,`` ``:`` or control characters."""
    if not isinstance(name, str) or not name:
        return False
    for ch in name:
        o = ord(ch)
        if o < 32 or o == 127 or ch == "," or ch == ":":
            return False
    return True


class LogBackend:
    """Adapter over the logging module ``mod`` (see the module docstring).

    ``kind`` is ``"micropython"``, ``"adafruit"`` or ``"cpython"``.
    Raises ValueError for any other module.
    """

    def __init__(self, mod):
        self.mod = mod
        if hasattr(mod, "_loggers"):
            self.kind = "micropython"
            self._root_key = "root"
        elif hasattr(mod, "logger_cache"):
            self.kind = "adafruit"
            self._root_key = ""
        elif hasattr(mod, "root") and hasattr(mod.root, "manager"):
            self.kind = "cpython"
            self._root_key = None
        else:
            raise ValueError("unsupported logging module")

    def _loggers(self):
        m = self.mod
        if self.kind == "micropython":
            return m._loggers
        if self.kind == "adafruit":
            return m.logger_cache
        return m.root.manager.loggerDict

    def _root(self):
        m = self.mod
        if self.kind == "micropython":
            return m.getLogger("root")
        if self.kind == "adafruit":
            return m.getLogger("")
        return m.root

    def _logger(self, name):
        lg = self._loggers().get(name)
        if lg is None or name == self._root_key or not usable_name(name):
            return None
        if self.kind == "cpython" and not isinstance(lg, self.mod.Logger):
            return None  # a PlaceHolder
        return lg

    def names(self):
        """Every named logger (not the root), sorted."""
        out = []
        for k in self._loggers():
            if self._logger(k) is not None:
                out.append(k)
        out.sort()
        return out

    def has(self, name):
        """True when a logger called ``name`` exists (the root does not
        count: it is ``*``)."""
        return self._logger(name) is not None

    def level(self, name=None):
        """Effective level number of logger ``name`` (None: the default)."""
        lg = self._root() if name is None else self._logger(name)
        if lg is None:
            raise KeyError(name)
        return lg.getEffectiveLevel()

    def set_level(self, name, n):
        """Set logger ``name``'s level to the number ``n``."""
        lg = self._logger(name)
        if lg is None:
            raise KeyError(name)
        lg.setLevel(n)

    def set_default(self, n):
        """Set the default (root) level to ``n`` and make every logger
        follow it (``*:LEVEL``: all log sources on that level)."""
        self._root().setLevel(n)
        follow = n if self.kind == "adafruit" else 0
        for k in self.names():
            self._logger(k).setLevel(follow)


def backend_for(mod):
    """A :class:`LogBackend` for ``mod``, or None when ``mod`` is None."""
    return None if mod is None else LogBackend(mod)
