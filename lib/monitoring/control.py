"""The control protocol (the seed's ``L``/``l``/``M``/``m`` commands):
parse one command line, validate it whole, execute it, return the reply.

Pure module: no sockets, no asyncio. Runs on MicroPython and CPython.
:mod:`control_server` is the TCP edge around it; it sends the lists of
``l`` and ``m`` as they are made (:class:`Listing`), through a small
buffer, so their length costs no heap.

Commands (first character selects):

- ``L`` set log levels: ``LEVEL``, ``*:LEVEL`` or ``NAME:LEVEL``,
  comma-separated; ``*`` (the default level) is applied first and makes
  every logger follow it, then the named loggers in the order written.
- ``l`` inspect log levels: ``l`` (default, then loggers that differ),
  ``l*`` (default, then every logger), ``lA,B`` (those loggers).
- ``M`` switch metrics: ``*:SWITCH`` or ``SWITCH`` (the all-switch),
  ``NAME:SWITCH`` or ``src:NAME:SWITCH`` (a source), ``tag:TAG:SWITCH``;
  SWITCH is enable/disable/on/off (any case). All first, then tags, then
  sources, whatever the order written.
- ``m`` inspect metrics: ``m`` (all-switch, then sources that differ),
  ``m*`` (all-switch, enabled tags, every source), ``mA,B``.
- ``c`` the last crash report, escaped as its syslog message is (one
  line), or ``none``.

Replies (without the line end): ``ok`` after a change, ``ok: `` and a
comma-separated list for an inspection, ``error: REASON`` otherwise. A
command is validated whole before anything changes: on ``error:`` nothing
has changed.
"""

from .compat import const

from .logbackend import level_name, level_number

MAX_LINE = const(256)

_SWITCH_WORDS = ("enable", "on", "disable", "off")


class CommandError(Exception):
    """A command was refused; ``args[0]`` is the reason."""


def _switch(word):
    w = word.lower()
    for i in range(len(_SWITCH_WORDS)):
        if _SWITCH_WORDS[i] == w:
            return i < 2
    raise CommandError("bad switch: " + word)


def _items(arg):
    # the comma-separated items of ``arg``, one at a time (a generator,
    # checked before the first): no list of them is built, as a 256-byte
    # line of 128 items would take a 1 KB list, more than a tight heap may
    # have in one piece
    if not arg:
        raise CommandError("missing argument")
    if arg[0] == "," or arg[-1] == "," or ",," in arg:
        raise CommandError("empty item")
    i = 0
    while True:
        j = arg.find(",", i)
        if j < 0:
            yield arg[i:]
            return
        yield arg[i:j]
        i = j + 1


def _parts(it, most):
    # the colon-separated parts of item ``it`` (a tuple, never a list as
    # long as the item's colons): more than ``most`` is a bad item
    k = it.count(":")
    if k >= most:
        raise CommandError("bad item: " + it)
    if k == 0:
        return (it,)
    i = it.find(":")
    if k == 1:
        return it[:i], it[i + 1:]
    j = it.find(":", i + 1)
    return it[:i], it[i + 1:j], it[j + 1:]


def _level(word):
    n = level_number(word)
    if n is None:
        raise CommandError("bad level: " + word)
    return n


def _need_logs(logs):
    if logs is None:
        raise CommandError("no logging")


# -- L / l ------------------------------------------------------------


def _set_levels(arg, logs):
    _need_logs(logs)
    default = None
    # read twice, nothing kept per item: checked (the default found), then
    # the default and the named loggers set in order
    for setting in (False, True):
        if setting and default is not None:
            logs.set_default(default)
        for it in _items(arg):
            parts = _parts(it, 2)
            if len(parts) == 1:
                default = _level(parts[0])
                continue
            name = parts[0]
            if not name:
                raise CommandError("bad item: " + it)
            n = _level(parts[1])
            if name == "*":
                default = n
            elif not logs.has(name):
                raise CommandError("unknown logger: " + name)
            elif setting:
                logs.set_level(name, n)
    return "ok"


def _show_levels(arg, logs):
    _need_logs(logs)
    if arg and arg != "*":
        for name in _items(arg):
            if name != "*" and not logs.has(name):
                raise CommandError("unknown logger: " + name)
    return Listing(_level_pieces(arg, logs))


def _level_pieces(arg, logs):
    # the pieces of an ``l`` reply (checked), one at a time
    default = level_name(logs.level())
    if arg == "" or arg == "*":
        yield b"ok: *:"
        yield default
        for name in logs.names():
            n = level_name(logs.level(name))
            if arg == "*" or n != default:
                yield b","
                yield name
                yield b":"
                yield n
    else:
        sep = b"ok: "
        for name in _items(arg):
            yield sep
            yield name
            yield b":"
            yield default if name == "*" else level_name(logs.level(name))
            sep = b","
    yield b"\n"


# -- M / m ------------------------------------------------------------


def _known_tag(reg, tag):
    if tag in reg.enabled_tags:
        return True
    for s in reg.sources:
        if tag in s.tags:
            return True
    return False


def _set_metrics(arg, reg):
    all_on = None
    # read three times, nothing kept per item: checked (the all-switch
    # found), then the tags set, then the sources, each in order; names are
    # checked in the first reading only (a tag known only while enabled
    # may have been disabled by an earlier item)
    for step in (0, 1, 2):
        if step == 1:
            if all_on is True:
                reg.enable_all()
            elif all_on is False:
                reg.disable_all()
        for it in _items(arg):
            parts = _parts(it, 3)
            k = len(parts)
            if k == 1:
                if parts[0].lower() not in _SWITCH_WORDS:
                    raise CommandError("bad item: " + it)
                all_on = _switch(parts[0])
                continue
            kind = "src" if k == 2 else parts[0].lower()
            name = parts[k - 2]
            if (kind != "src" and kind != "tag") or not name:
                raise CommandError("bad item: " + it)
            on = _switch(parts[k - 1])
            if k == 2 and name == "*":
                all_on = on
            elif kind == "tag":
                if step == 0 and not _known_tag(reg, name):
                    raise CommandError("unknown tag: " + name)
                if step == 1:
                    if on:
                        reg.enable_tag(name)
                    else:
                        reg.disable_tag(name)
            elif step == 0 and reg.get(name) is None:
                raise CommandError("unknown source: " + name)
            elif step == 2:
                reg.set_active(name, on)
    return "ok"


def _state(on):
    return b"enabled" if on else b"disabled"


def _show_metrics(arg, reg):
    if arg and arg != "*":
        for name in _items(arg):
            if name != "*" and reg.get(name) is None:
                raise CommandError("unknown source: " + name)
    return Listing(_metric_pieces(arg, reg))


def _metric_pieces(arg, reg):
    # the pieces of an ``m`` reply (checked), one at a time: sources are
    # read as the reply goes out, so a reply of any length takes no more
    # heap than one of them
    all_on = reg.all_enabled
    if arg == "" or arg == "*":
        yield b"ok: *:"
        yield _state(all_on)
        if arg == "*":
            for t in reg.enabled_tags:
                yield b",tag:"
                yield t
                yield b":enabled"
        for s in reg.sources:
            if arg == "*" or s.active != all_on:
                yield b","
                yield s.name
                yield b":"
                yield _state(s.active)
    else:
        sep = b"ok: "
        for name in _items(arg):
            yield sep
            yield name
            yield b":"
            s = None if name == "*" else reg.get(name)
            # (a source removed since the check reads as the all-switch)
            yield _state(all_on if s is None else s.active)
            sep = b","
    yield b"\n"


class Listing:
    """An inspection's reply (``l``, ``m``), made as it is sent: checked
    already, it holds one piece at a time, so a reply listing a thousand
    sources needs no more heap than one listing two.

    ``fill(buf)`` writes its next bytes into ``buf`` (a bytearray or
    memoryview) and returns how many; 0 once all is written, the final
    LF included. ``text()`` is the whole reply, without LF (for callers
    that want a str: :func:`execute`).
    """

    def __init__(self, pieces):
        self._pieces = pieces
        self._raw = None  # the piece being written, as bytes
        self._at = 0  # how much of it is written

    def fill(self, buf):
        p = 0
        room = len(buf)
        while p < room:
            raw = self._raw
            if raw is None:
                try:
                    raw = next(self._pieces)
                except StopIteration:
                    break
                if isinstance(raw, str):
                    raw = _raw(raw)  # a name or a level
                self._raw = raw
                self._at = 0
            at = self._at
            k = len(raw) - at
            if k > room - p:
                k = room - p
            buf[p:p + k] = raw if at == 0 and k == len(raw) else raw[at:at + k]
            p += k
            if at + k == len(raw):
                self._raw = None
            else:
                self._at = at + k
        return p

    def text(self):
        out = []
        for piece in self._pieces:
            out.append(piece if isinstance(piece, str) else str(piece, "utf-8"))
        return "".join(out)[:-1]


try:
    memoryview("")
    _raw = memoryview  # MicroPython: a str's UTF-8 bytes, not copied
except TypeError:

    def _raw(s):
        return s.encode()


# -- entry point -------------------------------------------------------


def decode(line, max_len=MAX_LINE):
    """``line`` (bytes or str, with or without its LF/CRLF) as a checked
    str; raises :class:`CommandError` when it is too long, not UTF-8,
    empty or holds a control character (C0, DEL or C1)."""
    if len(line) > max_len + 2:
        raise CommandError("line too long")
    size = -1  # bytes given: their count, to find overlong forms
    if not isinstance(line, str):
        size = len(line)
        try:
            line = str(line, "utf-8")
        except (UnicodeError, ValueError):
            raise CommandError("bad encoding")
    if line.endswith("\n"):
        line = line[:-1]
        size -= 1
    if line.endswith("\r"):
        line = line[:-1]
        size -= 1
    if len(line) > max_len:
        raise CommandError("line too long")
    if not line:
        raise CommandError("empty command")
    n = 0
    for ch in line:
        o = ord(ch)
        if o < 32 or 127 <= o < 160:
            raise CommandError("bad character")
        # MicroPython's decoder takes surrogates, code points past U+10FFFF
        # and overlong forms (more bytes than the code point needs): none
        # is UTF-8, none is echoed
        if 0xD7FF < o < 0xE000 or o > 0x10FFFF:
            raise CommandError("bad encoding")
        n += 1 if o < 0x80 else 2 if o < 0x800 else 3 if o < 0x10000 else 4
    if size >= 0 and n != size:
        raise CommandError("bad encoding")
    return line


def execute(line, logs, registry, max_len=MAX_LINE, crash=None):
    """Run one command line against ``logs`` (a
    :class:`logbackend.LogBackend`, or None: ``L``/``l`` then answer
    ``error: no logging``) and ``registry`` (a :class:`metrics.Registry`).

    ``crash``: what ``c`` shows (an object whose ``text()`` is the last
    report, escaped, or None; None: ``error: no crash reports``).

    Returns the reply, without line end: ``ok``, ``ok: LIST`` or
    ``error: REASON``. Never raises for bad input, and on ``error:``
    nothing has changed. :func:`run` is the same with the lists of ``l``
    and ``m`` made as they are sent.
    """
    r = run(line, logs, registry, max_len, crash)
    return r if isinstance(r, str) else r.text()


def run(line, logs, registry, max_len=MAX_LINE, crash=None):
    """As :func:`execute`, but an inspection (``l``, ``m``) that passed its
    checks returns a :class:`Listing` to send, not a str."""
    try:
        line = decode(line, max_len)
        c = line[0]
        arg = line[1:]
        if c == "L":
            return _set_levels(arg, logs)
        if c == "l":
            return _show_levels(arg, logs)
        if c == "M":
            return _set_metrics(arg, registry)
        if c == "m":
            return _show_metrics(arg, registry)
        if c == "c" and not arg:
            if crash is None:
                raise CommandError("no crash reports")
            return "ok: " + (crash.text() or "none")
        raise CommandError("unknown command")
    except CommandError as e:
        return "error: " + e.args[0]
