"""Metrics registry: sources, fields and the seed's switch semantics."""

from checks import raises
from monitoring.metrics import Registry, Source


def make():
    reg = Registry()
    mem = Source("memory", tags=("builtin",), registry=reg)
    net = Source("net", tags=("builtin", "http"), registry=reg)
    app = Source("app", tags=("demo",), registry=reg)
    return reg, mem, net, app


def active(reg):
    return [s.name for s in reg.sources if s.active]


def test_incr_and_set():
    reg = Registry()
    s = Source("app", registry=reg)
    s.incr("requests")
    s.incr("requests", 4)
    s.set("temperature", 21.5)
    s.set("temperature", 22)  # int on a float field stays a float
    s.set("ok", True)
    s.set("state", "idle")
    assert s.get("requests") == 5
    assert s.get("temperature") == 22.0 and type(s.get("temperature")) is float
    assert s.get("ok") is True and s.get("state") == "idle"
    assert s.counters == ["requests"]
    assert s.get("missing", 7) == 7


def test_type_change_is_refused():
    s = Source("app", registry=Registry())
    s.set("n", 1)
    raises(TypeError, s.set, "n", 1.5)
    raises(TypeError, s.set, "n", "x")
    assert s.get("n") == 1
    raises(TypeError, s.set, "x", [1])
    raises(TypeError, s.set, "y", None)


def test_incr_keeps_the_field_type():
    """``incr`` cannot change a field's type either: a float step on an int
    counter made it a float (InfluxDB then refuses every batch as a field
    type conflict), a bool field became an int, and a str step created a
    str "counter" or grew a str field by concatenation."""
    s = Source("app", registry=Registry())
    s.incr("n")
    raises(TypeError, s.incr, "n", 1.5)
    raises(TypeError, s.incr, "n", True)
    assert s.get("n") == 1 and type(s.get("n")) is int
    s.set("flag", True)
    raises(TypeError, s.incr, "flag")
    assert s.get("flag") is True
    s.set("state", "idle")
    raises(TypeError, s.incr, "state", "x")
    assert s.get("state") == "idle"
    raises(TypeError, s.incr, "text", "1")
    raises(TypeError, s.incr, "yes", True)
    assert s.get("text") is None and s.get("yes") is None and s.counters == ["n"]
    s.incr("seconds", 0.5)  # a float counter takes ints and floats
    s.incr("seconds", 2)
    assert s.get("seconds") == 2.5 and type(s.get("seconds")) is float


def test_bad_names_rejected():
    reg = Registry()
    for bad in ("", "a,b", "a:b", "a\nb", "a\x00", "a\\", 5, "#m", "# m"):
        raises(ValueError, Source, bad, registry=reg)
    Source("m#", registry=reg)  # only a leading # makes a comment line
    raises(ValueError, Source, "ok", tags=("x:y",), registry=reg)
    raises(ValueError, Source, "ok", labels={"room": "a\nb"}, registry=reg)
    raises(ValueError, Source, "ok", labels={"host": "x"}, registry=reg)
    s = Source("ok", registry=reg)
    raises(ValueError, s.set, "time", 1)
    raises(ValueError, s.set, "a\rb", 1)
    raises(ValueError, s.set, "a\\ b", 1)
    assert s.fields == {}
    # spaces, equals, quotes, backslashes inside and non-ASCII are fine
    s.set('we ird=na"me\\x é', 1)
    raises(ValueError, Source, "ok", registry=reg)  # duplicate


def test_disabled_source_ignores_updates():
    reg, mem, net, app = make()
    reg.set_active("app", False)
    app.incr("requests")
    app.set("t", 1.0)
    assert app.fields == {}


def test_seed_semantics_all_then_tags_then_sources():
    reg, mem, net, app = make()
    assert active(reg) == ["memory", "net", "app"]
    reg.disable_all()
    assert active(reg) == []
    reg.enable_tag("http")
    assert active(reg) == ["net"]
    reg.set_active("memory", True)
    assert active(reg) == ["memory", "net"]
    # a tag change recomputes, overriding the per-source switch
    reg.enable_tag("demo")
    assert active(reg) == ["net", "app"]
    reg.disable_tag("http")
    assert active(reg) == ["app"]
    reg.enable_all()
    assert active(reg) == ["memory", "net", "app"]
    assert reg.enabled_tags == ["demo"]
    reg.disable_all()
    assert reg.enabled_tags == []
    raises(KeyError, reg.set_active, "nope", True)


def test_new_source_follows_switches():
    reg = Registry()
    reg.disable_all()
    reg.enable_tag("t")
    a = Source("a", tags=("t",), registry=reg)
    b = Source("b", registry=reg)
    assert a.active and not b.active
    assert reg.tags() == ["t"]


def test_sampler_runs_and_errors_are_contained():
    reg = Registry()
    calls = []

    def ok(src):
        calls.append(1)
        src.set("v", len(calls))

    def bad(src):
        raise OSError(5)

    a = Source("a", sampler=ok, registry=reg)
    b = Source("b", sampler=bad, registry=reg)
    assert a.sample() is True and a.get("v") == 1
    assert b.sample() is False


def test_disabled_update_allocates_nothing():
    import gc

    if not hasattr(gc, "mem_alloc"):
        return  # CPython: nothing to measure
    reg = Registry()
    s = Source("a", registry=reg)
    s.incr("n")
    s.set("g", 5)

    def loop():
        for _ in range(200):
            s.incr("n")
            s.set("g", 7)

    loop()
    gc.collect()
    before = gc.mem_alloc()
    loop()
    assert gc.mem_alloc() - before == 0
    reg.set_active("a", False)
    gc.collect()
    before = gc.mem_alloc()
    loop()
    assert gc.mem_alloc() - before == 0
