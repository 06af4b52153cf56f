"""Control protocol core: the seed's examples and malformed commands, against
CircuitPython's adafruit_logging (a fresh copy per test) and a Registry.

Runs under CPython (pytest) and under the Unix port (purerunner), where
adafruit_logging is loaded through the Unix board's time.monotonic shim."""

import sys

from monitoring.control import execute
from monitoring.logbackend import LogBackend, level_name, level_number
from monitoring.metrics import Registry, Source

LOGGERS = ("monitoring-experiments", "dns", "app")


def fresh_logging():
    """A new adafruit_logging module object (empty logger_cache), leaving
    whatever sys.modules held before in place."""
    old = sys.modules.pop("adafruit_logging", None)
    try:
        if sys.implementation.name == "micropython":
            import monboard

            mod = monboard.adafruit_logging_module()
        else:
            import adafruit_logging as mod
    finally:
        if old is not None:
            sys.modules["adafruit_logging"] = old
        else:
            sys.modules.pop("adafruit_logging", None)
    return mod


def make():
    logging = fresh_logging()
    logging.getLogger("")  # the root, level WARNING
    for n in LOGGERS:
        logging.getLogger(n)
    reg = Registry()
    Source("memory", tags=("builtin",), registry=reg)
    Source("net-solo5", tags=("net", "http"), registry=reg)
    Source("app", tags=("demo",), registry=reg)
    Source("http-server", tags=("http",), registry=reg)
    return logging, LogBackend(logging), reg


def levels(logging):
    """Every logger's own level, read straight from the logging module."""
    out = {}
    for k in logging.logger_cache:
        out[k] = logging.logger_cache[k].getEffectiveLevel()
    return out


def emits(logging, name, level):
    """Whether logger ``name`` really emits a record at ``level`` (caught
    by a handler attached for the check)."""
    got = []

    class Catch(logging.Handler):
        def emit(self, record):
            got.append(record.levelno)

    lg = logging.getLogger(name)
    h = Catch()
    lg.addHandler(h)
    try:
        lg.log(level, "probe")
    finally:
        lg.removeHandler(h)
    return got == [level]


def active(reg):
    return [s.name for s in reg.sources if s.active]


def state(logging, reg):
    lv = levels(logging)
    keys = sorted(lv)
    return repr(([(k, lv[k]) for k in keys], reg.all_enabled, list(reg.enabled_tags),
                 [(s.name, s.active) for s in reg.sources]))


def run(logs, reg, cmd):
    return execute(cmd, logs, reg)


# -- level names ---------------------------------------------------------


def test_level_names():
    assert level_number("debug") == 10 and level_number("DEBUG") == 10
    assert level_number("warn") == 30 and level_number("warning") == 30
    assert level_number("critical") == 50
    assert level_number("quiet") > 50
    assert level_number("loud") is None and level_number("") is None
    assert level_name(0) == "debug" and level_name(10) == "debug"
    assert level_name(20) == "info" and level_name(30) == "warning"
    assert level_name(40) == "error" and level_name(50) == "critical"
    assert level_name(level_number("quiet")) == "quiet"


def test_adafruit_backend_kind_and_names():
    logging, logs, reg = make()
    assert logs.kind == "adafruit"
    assert logs.names() == ["app", "dns", "monitoring-experiments"]
    assert logs.has("dns") and not logs.has("") and not logs.has("nosuch")
    assert logs.level() == 30


# -- the seed's L examples -----------------------------------------------


def test_seed_L_star_debug():
    logging, logs, reg = make()
    assert run(logs, reg, "L*:debug") == "ok"
    lv = levels(logging)
    assert lv == {"": 10, "monitoring-experiments": 10, "dns": 10, "app": 10}
    assert emits(logging, "dns", logging.DEBUG)
    assert run(logs, reg, "l") == "ok: *:debug"
    assert run(logs, reg, "l*") == "ok: *:debug,app:debug,dns:debug,monitoring-experiments:debug"


def test_seed_L_one_source_error():
    logging, logs, reg = make()
    assert run(logs, reg, "Lmonitoring-experiments:error") == "ok"
    lv = levels(logging)
    assert lv == {"": 30, "monitoring-experiments": 40, "dns": 30, "app": 30}
    assert not emits(logging, "monitoring-experiments", logging.WARNING)
    assert emits(logging, "monitoring-experiments", logging.ERROR)
    assert run(logs, reg, "l") == "ok: *:warning,monitoring-experiments:error"


def test_seed_L_star_info_and_one_debug():
    for cmd in ("L*:info,monitoring-experiments:debug", "Lmonitoring-experiments:debug,*:info"):
        logging, logs, reg = make()
        logging.getLogger("dns").setLevel(logging.CRITICAL)
        assert run(logs, reg, cmd) == "ok", cmd
        lv = levels(logging)
        assert lv == {"": 20, "monitoring-experiments": 10, "dns": 20, "app": 20}, cmd
        assert run(logs, reg, "l") == "ok: *:info,monitoring-experiments:debug"


def test_L_bare_level_warn_quiet_and_case():
    logging, logs, reg = make()
    assert run(logs, reg, "Ldebug") == "ok"
    assert levels(logging)["app"] == 10
    assert run(logs, reg, "LWARN") == "ok"
    assert levels(logging) == {"": 30, "monitoring-experiments": 30, "dns": 30, "app": 30}
    assert run(logs, reg, "Lapp:quiet,dns:Critical") == "ok"
    assert not emits(logging, "app", logging.CRITICAL)
    assert emits(logging, "dns", logging.CRITICAL)
    assert run(logs, reg, "lapp,dns") == "ok: app:quiet,dns:critical"


def test_seed_l_inspection():
    logging, logs, reg = make()
    logging.getLogger("monitoring-experiments").setLevel(logging.DEBUG)
    logging.getLogger("dns").setLevel(logging.ERROR)
    before = state(logging, reg)
    assert run(logs, reg, "l") == "ok: *:warning,dns:error,monitoring-experiments:debug"
    assert run(logs, reg, "l*") == "ok: *:warning,app:warning,dns:error,monitoring-experiments:debug"
    assert run(logs, reg, "lmonitoring-experiments,dns") == "ok: monitoring-experiments:debug,dns:error"
    assert run(logs, reg, "ldns,*") == "ok: dns:error,*:warning"
    assert state(logging, reg) == before


# -- the seed's M examples -----------------------------------------------


def test_seed_M_disable_all_enable_two():
    logging, logs, reg = make()
    assert run(logs, reg, "M*:disable,memory:enable,net-solo5:enable") == "ok"
    assert active(reg) == ["memory", "net-solo5"]
    assert not reg.all_enabled and reg.enabled_tags == []
    assert run(logs, reg, "m") == "ok: *:disabled,memory:enabled,net-solo5:enabled"


def test_M_order_written_does_not_matter():
    logging, logs, reg = make()
    assert run(logs, reg, "Mmemory:enable,net-solo5:on,*:disable") == "ok"
    assert active(reg) == ["memory", "net-solo5"]
    logging, logs, reg = make()
    assert run(logs, reg, "Msrc:app:on,tag:http:enable,disable") == "ok"
    assert active(reg) == ["net-solo5", "app", "http-server"]
    assert reg.enabled_tags == ["http"]


def test_seed_M_one_source_disable():
    logging, logs, reg = make()
    assert run(logs, reg, "Mnet-solo5:disable") == "ok"
    assert active(reg) == ["memory", "app", "http-server"]
    assert run(logs, reg, "m") == "ok: *:enabled,net-solo5:disabled"


def test_seed_M_tag_enable():
    logging, logs, reg = make()
    assert run(logs, reg, "M*:disable") == "ok"
    assert active(reg) == []
    assert run(logs, reg, "Mtag:http:enable") == "ok"
    assert active(reg) == ["net-solo5", "http-server"]
    assert reg.enabled_tags == ["http"]
    assert run(logs, reg, "m*") == ("ok: *:disabled,tag:http:enabled,memory:disabled,"
                                    "net-solo5:enabled,app:disabled,http-server:enabled")
    # a per-source switch overrides, until the next tag change recomputes
    assert run(logs, reg, "Mhttp-server:off") == "ok"
    assert active(reg) == ["net-solo5"]
    assert run(logs, reg, "Mtag:demo:ON") == "ok"
    assert active(reg) == ["net-solo5", "app", "http-server"]
    assert run(logs, reg, "Mtag:http:disable") == "ok"
    assert active(reg) == ["app"]
    # *:disable clears the enabled tags
    assert run(logs, reg, "M*:disable") == "ok"
    assert reg.enabled_tags == [] and active(reg) == []
    assert run(logs, reg, "MEnable") == "ok"
    assert reg.all_enabled and len(active(reg)) == 4


def test_seed_m_inspection():
    logging, logs, reg = make()
    reg.set_active("app", False)
    before = state(logging, reg)
    assert run(logs, reg, "m") == "ok: *:enabled,app:disabled"
    assert run(logs, reg, "m*") == ("ok: *:enabled,memory:enabled,net-solo5:enabled,"
                                    "app:disabled,http-server:enabled")
    assert run(logs, reg, "mmemory,net-solo5") == "ok: memory:enabled,net-solo5:enabled"
    assert run(logs, reg, "mapp,*") == "ok: app:disabled,*:enabled"
    assert state(logging, reg) == before


def test_bytes_and_line_ends():
    logging, logs, reg = make()
    assert run(logs, reg, b"Mapp:off\r\n") == "ok"
    assert run(logs, reg, b"mapp\n") == "ok: app:disabled"
    assert run(logs, reg, bytearray(b"Ldns:error")) == "ok"
    assert levels(logging)["dns"] == 40


def test_no_logging_module():
    reg = Registry()
    Source("memory", registry=reg)
    assert execute("l", None, reg) == "error: no logging"
    assert execute("L*:debug", None, reg) == "error: no logging"
    assert execute("m", None, reg) == "ok: *:enabled"


# -- malformed commands: exact error, state unchanged ------------------------

MALFORMED = (
    ("", "error: empty command"),
    ("\n", "error: empty command"),
    ("\r\n", "error: empty command"),
    ("L", "error: missing argument"),
    ("M", "error: missing argument"),
    ("X", "error: unknown command"),
    ("x*:debug", "error: unknown command"),
    ("auth secret", "error: unknown command"),
    (" L*:debug", "error: unknown command"),
    ("Mfoo:enable", "error: unknown source: foo"),
    ("M*:disable,foo:enable", "error: unknown source: foo"),
    ("Msrc:foo:on", "error: unknown source: foo"),
    ("Mtag:nosuch:on", "error: unknown tag: nosuch"),
    ("mmemory,foo", "error: unknown source: foo"),
    ("L*:loud", "error: bad level: loud"),
    ("Lloud", "error: bad level: loud"),
    ("L*:debug,app:", "error: bad level: "),
    ("L*:debug,nosuch:info", "error: unknown logger: nosuch"),
    ("Lroot:debug", "error: unknown logger: root"),
    ("ldns,nosuch", "error: unknown logger: nosuch"),
    ("L:debug", "error: bad item: :debug"),
    ("La:b:c", "error: bad item: a:b:c"),
    ("Mtag:http:enable:x", "error: bad item: tag:http:enable:x"),
    ("Mfoo:memory:enable", "error: bad item: foo:memory:enable"),
    ("Mtag::enable", "error: bad item: tag::enable"),
    ("M:enable", "error: bad item: :enable"),
    ("Mmemory", "error: bad item: memory"),
    ("M*:disable,memory:maybe", "error: bad switch: maybe"),
    ("Mtag:http:yes", "error: bad switch: yes"),
    ("L*:debug,", "error: empty item"),
    ("M,memory:on", "error: empty item"),
    ("M*:off,,memory:on", "error: empty item"),
    ("l,", "error: empty item"),
    ("m,", "error: empty item"),
    ("L" + "x" * 10240, "error: line too long"),
    (b"\xff\xfeL*:debug", "error: bad encoding"),
    # not UTF-8, though MicroPython's decoder takes them: a surrogate, an
    # overlong "/", past U+10FFFF, a lone lead byte, a bad continuation
    (b"lx\xed\xa0\x80", "error: bad encoding"),
    (b"l\xc0\xaf", "error: bad encoding"),
    (b"lx\xf4\x90\x80\x80", "error: bad encoding"),
    (b"lx\xe2\x82", "error: bad encoding"),
    (b"lx\xe2\x28\xa1", "error: bad encoding"),
    (b"lx\xc2\x85", "error: bad character"),  # U+0085, a C1 control
    (b"L*:de\x00bug", "error: bad character"),
    (b"M*:off\x1b[2J", "error: bad character"),
    ("Lapp:debug\nM*:off", "error: bad character"),
    (b"L*:deb", "error: bad level: deb"),
    (b"Mtag:ht", "error: bad switch: ht"),
)


def test_malformed_table():
    for cmd, want in MALFORMED:
        logging, logs, reg = make()
        logging.getLogger("dns").setLevel(logging.ERROR)
        reg.disable_all()
        reg.enable_tag("http")
        reg.set_active("app", True)
        before = state(logging, reg)
        got = execute(cmd, logs, reg)
        assert got == want, (cmd, got, want)
        assert state(logging, reg) == before, cmd


def test_well_formed_utf8_names_are_echoed():
    logging, logs, reg = make()
    # U+00E9, U+20AC, U+1F600 and U+10FFFF: well formed, echoed back
    for name in ("caf\u00e9", "\u20ac", "\U0001f600", "x\U0010ffff", "\ud7ff\ue000"):
        assert execute(("l" + name).encode(), logs, reg) == "error: unknown logger: " + name
        assert execute(("l" + name + "\r\n").encode(), logs, reg) == "error: unknown logger: " + name


def test_garbage_10k_never_changes_state():
    logging, logs, reg = make()
    before = state(logging, reg)
    seed = 12345
    for k in range(20):
        buf = bytearray(10240 if k % 2 else 200)
        for i in range(len(buf)):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            buf[i] = (seed >> 16) & 0xFF
        got = execute(bytes(buf), logs, reg)
        assert got.startswith("error: "), got
        assert state(logging, reg) == before
