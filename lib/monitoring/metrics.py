"""Metrics registry: sources of named fields, and the switches that say which
sources are reported.

Pure module: no sockets, no asyncio. Runs on MicroPython and CPython.

A *source* is one Influx measurement (one Prometheus metric family per
field). It has:

- a ``name``: the measurement name and the name the control socket's
  ``M``/``m`` commands use;
- ``tags``: names that group sources for ``Mtag:NAME:enable``;
- ``labels``: key/value pairs sent with every point (Influx tags,
  Prometheus labels), besides the registry-wide ``host`` label;
- fields: int, float, bool or str values, set with :meth:`Source.set` or
  counted with :meth:`Source.incr`.

Switch semantics follow the seed (OCaml ``metrics``): a global all-switch
and a set of enabled tags. A source is active when the all-switch is on or
one of its tags is enabled; this is recomputed on every all/tag change, and
a per-source enable/disable then overrides it until the next all/tag change.
Disabling all also clears the enabled tags.

Updating a field of an inactive source returns at once and allocates
nothing; updating an existing int field of an active source allocates
nothing either.
"""

def check_name(name, what="name", forbid=",:"):
    """Return ``name`` if it is a usable name, else raise ValueError.

    A name is a non-empty str without control characters (code points below
    32 and 127) and without any character of ``forbid``. Control characters
    are rejected rather than escaped, so a name can never break a line of
    any protocol this package speaks. A backslash may not end a name nor
    stand before ``,`` ``=`` or a space (line protocol could not tell it
    from an escape).
    """
    ok = isinstance(name, str) and name and name[-1] != "\\"
    if ok:
        prev = ""
        for ch in name:
            if ch < " " or ch == "\x7f" or ch in forbid or (prev == "\\" and ch in ",= "):
                ok = False
            prev = ch
    if not ok:
        raise ValueError("bad %s: %r" % (what, name))
    return name


class Source:
    """A named group of fields reported together as one point.

    ``Source("app", tags=("demo",), labels={"room": "hall"})`` creates and
    registers a source in the default registry (or in ``registry``).
    ``sampler``, if given, is called as ``sampler(source)`` just before the
    source is reported (only while it is active), to read values that are
    cheaper to sample than to track (free heap, uptime...).

    Source names and tag names may not contain ``,`` ``:`` or control
    characters (the control protocol separates with them). Field names and
    label keys may not contain control characters nor be ``time``.
    """

    def __init__(self, name, tags=(), labels=None, sampler=None, registry=None):
        self.name = check_name(name, "source name")
        if name[0] == "#":  # a comment line to every line-protocol parser: never stored
            raise ValueError("bad source name: %r (a leading # makes a comment line)" % name)
        for t in tags:
            check_name(t, "tag name")
        self.tags = tuple(tags)
        lab = []
        for k in labels or ():
            check_name(k, "label key", "")
            if k == "time" or k == "host":
                raise ValueError("reserved label key: %s" % k)
            lab.append((k, check_name(labels[k], "label value", "")))
        lab.sort()
        self.labels = tuple(lab)
        self.sampler = sampler
        self.fields = {}
        # field names in creation order (a list: iterating it by index
        # allocates nothing, iterating a dict does)
        self.names = []
        # names of fields updated with incr(): counters (the rest are gauges)
        self.counters = []
        self.active = True
        # opaque per-encoder cache (escaped measurement, field keys...)
        self.cache = None
        (registry or default_registry).add(self)

    def incr(self, field, n=1):
        """Add ``n`` (default 1) to the counter ``field`` (created at 0).
        An int counter takes int steps, a float one int or float steps;
        anything else raises TypeError, as a type change in :meth:`set`."""
        if not self.active:
            return
        f = self.fields
        t = type(n)
        if field in f:
            old = f[field]
            if t is not int and t is not float or type(old) is not t and (
                    type(old) is not float or t is not int):
                raise TypeError("field %s is %s" % (field, type(old).__name__))
            f[field] = old + n
        else:
            if t is not int and t is not float:
                raise TypeError("field %s: unsupported type" % field)
            self._new_field(field, n)
            self.counters.append(field)

    def set(self, field, value):
        """Set the gauge ``field`` to ``value`` (int, float, bool or str).

        A field keeps the type of its first value: an int given to a float
        field is stored as a float; any other change of type raises
        TypeError (InfluxDB would refuse the point as a type conflict).
        """
        if not self.active:
            return
        f = self.fields
        if field in f:
            old = f[field]
            if type(value) is not type(old):
                if type(old) is float and type(value) is int:
                    value = float(value)
                else:
                    raise TypeError("field %s is %s" % (field, type(old).__name__))
            f[field] = value
        else:
            self._new_field(field, value)

    def get(self, field, default=None):
        """The current value of ``field``, or ``default``."""
        return self.fields.get(field, default)

    def _new_field(self, field, value):
        check_name(field, "field name", "")
        if field == "time":
            raise ValueError("reserved field name: time")
        if type(value) not in (int, float, bool, str):
            raise TypeError("field %s: unsupported type" % field)
        self.fields[field] = value
        self.names.append(field)
        self.cache = None

    def sample(self):
        """Run the sampler, if any; errors in it are swallowed (and counted
        by the caller through the return value False)."""
        s = self.sampler
        if s is not None:
            try:
                s(self)
            except Exception:
                return False
        return True


class Registry:
    """The set of sources and the switches that select which are reported.

    ``host`` is the device name sent as the ``host`` label with every point.
    """

    def __init__(self):
        self.sources = []
        self.by_name = {}  # the same sources by name: a lookup is not a scan
        self.all_enabled = True
        self.enabled_tags = []
        self.host = "micropython"
        # bumped on every change that invalidates encoded headers
        self.generation = 0

    def set_host(self, host):
        """Set the device name sent as the ``host`` label."""
        self.host = check_name(host, "host name", ", =")
        self.generation += 1
        for s in self.sources:
            s.cache = None

    def add(self, src):
        """Register ``src``; a second source of the same name is an error."""
        if src.name in self.by_name:
            raise ValueError("duplicate source: %s" % src.name)
        self.sources.append(src)
        self.by_name[src.name] = src
        self._recompute((src,))

    def remove(self, name):
        """Forget the source called ``name`` (no error if absent)."""
        s = self.by_name.pop(name, None)
        if s is not None:
            self.sources.remove(s)

    def get(self, name):
        """The source called ``name``, or None."""
        return self.by_name.get(name)

    def tags(self):
        """Every tag name used by a registered source, in first-use order."""
        out = []
        for s in self.sources:
            for t in s.tags:
                if t not in out:
                    out.append(t)
        return out

    def _recompute(self, sources=None):
        # the switches' verdict on ``sources`` (default: all of them)
        for s in sources or self.sources:
            on = self.all_enabled
            for t in s.tags:
                if t in self.enabled_tags:
                    on = True
            s.active = on

    def enable_all(self):
        """Turn the all-switch on: every source becomes active."""
        self.all_enabled = True
        self._recompute()

    def disable_all(self):
        """Turn the all-switch off and clear the enabled tags."""
        self.all_enabled = False
        self.enabled_tags = []
        self._recompute()

    def enable_tag(self, tag):
        """Activate every source that has ``tag``."""
        if tag not in self.enabled_tags:
            self.enabled_tags.append(tag)
        self._recompute()

    def disable_tag(self, tag):
        """Stop ``tag`` from activating sources."""
        if tag in self.enabled_tags:
            self.enabled_tags.remove(tag)
        self._recompute()

    def set_active(self, name, on):
        """Enable or disable one source (until the next all/tag change)."""
        s = self.get(name)
        if s is None:
            raise KeyError(name)
        s.active = bool(on)

    def active_sources(self):
        """Iterate over the active sources, in registration order."""
        for s in self.sources:
            if s.active:
                yield s


default_registry = Registry()
