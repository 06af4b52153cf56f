"""Property tests of the control protocol core (CPython, hypothesis).

- Any command line (protocol-shaped text or raw bytes) gets exactly one
  reply of the form ``ok``, ``ok: ...`` or ``error: ...``, never an
  exception; after ``error:`` (and after any inspection) the loggers and
  sources are exactly as before.
- Any well-formed ``M`` command leaves the sources as an independent model
  of the seed's semantics says (all first, then tags, then sources).
"""

import importlib.util

import adafruit_logging
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.control import execute
from monitoring.logbackend import LogBackend
from monitoring.metrics import Registry, Source

LOGGERS = ("monitoring-experiments", "dns", "app")
SOURCES = (("memory", ("builtin",)), ("net-solo5", ("net", "http")), ("app", ("demo",)),
           ("http-server", ("http",)))
TAGS = ("builtin", "net", "http", "demo")


def fresh_logging():
    spec = importlib.util.spec_from_file_location("adafruit_logging_prop", adafruit_logging.__file__)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make():
    logging = fresh_logging()
    logging.getLogger("")
    for n in LOGGERS:
        logging.getLogger(n)
    reg = Registry()
    for name, tags in SOURCES:
        Source(name, tags=tags, registry=reg)
    return logging, LogBackend(logging), reg


def state(logging, reg):
    return repr((sorted((k, v.getEffectiveLevel()) for k, v in logging.logger_cache.items()),
                 reg.all_enabled, list(reg.enabled_tags),
                 [(s.name, s.active) for s in reg.sources]))


WORDS = ["L", "l", "M", "m", "*", ":", ",", "debug", "info", "warn", "warning", "error",
         "critical", "quiet", "loud", "enable", "disable", "on", "OFF", "tag", "src", "root",
         "memory", "net-solo5", "app", "dns", "monitoring-experiments", "http", "demo", "x",
         "\r", "\n", " ", "\x00", "é", "auth "]

commands = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=12).map("".join),
    st.text(max_size=300),
    st.binary(max_size=300),
)


def well_formed(reply):
    return reply == "ok" or reply.startswith("ok: ") or reply.startswith("error: ")


@settings(max_examples=400, deadline=None)
@given(commands, st.lists(st.sampled_from(["L*:debug", "Ldns:error", "M*:off", "Mtag:http:on",
                                           "Mapp:off", "Lapp:quiet"]), max_size=3))
def test_any_command_one_wellformed_reply_and_error_changes_nothing(cmd, setup):
    logging, logs, reg = make()
    for s in setup:
        assert execute(s, logs, reg) == "ok"
    before = state(logging, reg)
    reply = execute(cmd, logs, reg)
    assert isinstance(reply, str) and well_formed(reply), (cmd, reply)
    assert "\n" not in reply
    first = cmd[:1] if isinstance(cmd, str) else cmd[:1].decode("latin-1")
    if reply.startswith("error: ") or reply.startswith("ok: ") or first in ("l", "m"):
        assert state(logging, reg) == before, (cmd, reply)


SWITCHES = ["enable", "disable", "on", "off", "ON", "Disable"]


def m_item():
    sw = st.sampled_from(SWITCHES)
    return st.one_of(
        sw.map(lambda s: ("all", None, s, s)),
        sw.map(lambda s: ("all", None, s, "*:" + s)),
        st.tuples(st.sampled_from([n for n, _ in SOURCES]), sw).map(
            lambda t: ("src", t[0], t[1], "%s:%s" % t)),
        st.tuples(st.sampled_from([n for n, _ in SOURCES]), sw).map(
            lambda t: ("src", t[0], t[1], "src:%s:%s" % t)),
        st.tuples(st.sampled_from(TAGS), sw).map(
            lambda t: ("tag", t[0], t[1], "tag:%s:%s" % t)),
    )


def model(items, all_on, tags, active):
    """The seed's semantics, written independently of metrics.py."""
    on = {"enable": True, "on": True, "disable": False, "off": False}
    tags = list(tags)
    active = dict(active)

    def recompute():
        for name, stags in SOURCES:
            active[name] = all_on or any(t in tags for t in stags)

    alls = [on[s.lower()] for k, _, s, _ in items if k == "all"]
    if alls:
        all_on = alls[-1]
        if not all_on:
            tags = []
        recompute()
    for k, name, s, _ in items:
        if k == "tag":
            if on[s.lower()]:
                if name not in tags:
                    tags.append(name)
            elif name in tags:
                tags.remove(name)
            recompute()
    for k, name, s, _ in items:
        if k == "src":
            active[name] = on[s.lower()]
    return all_on, tags, active


@settings(max_examples=300, deadline=None)
@given(st.lists(m_item(), min_size=1, max_size=8), st.lists(m_item(), max_size=4))
def test_well_formed_M_follows_the_model(items, setup):
    logging, logs, reg = make()
    if setup:
        assert execute("M" + ",".join(i[3] for i in setup), logs, reg) == "ok"
    want = model(items, reg.all_enabled, reg.enabled_tags,
                 {s.name: s.active for s in reg.sources})
    assert execute("M" + ",".join(i[3] for i in items), logs, reg) == "ok"
    assert reg.all_enabled == want[0]
    assert sorted(reg.enabled_tags) == sorted(want[1])
    assert {s.name: s.active for s in reg.sources} == want[2]
    # and the inspection says the same
    reply = execute("m*", logs, reg)
    assert reply.startswith("ok: *:%s" % ("enabled" if want[0] else "disabled"))
    for name, on in want[2].items():
        assert "%s:%s" % (name, "enabled" if on else "disabled") in reply.split(",")


# -- framing: any split of a command stream gives the same replies ---------------

import socket  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

from control_thread import control_server_thread  # noqa: E402
from peers import wait_until  # noqa: E402


@pytest.fixture(scope="module")
def live():
    """A ControlServer on a CPython asyncio loop in a thread (no logging
    module), and a twin registry the pure core runs the same commands on."""
    def registry():
        reg = Registry()
        for name, tags in SOURCES:
            Source(name, tags=tags, registry=reg)
        return reg

    reg, twin = registry(), registry()
    with control_server_thread(reg, None, {"clients": 1}) as (srv, port, _):
        yield port, reg, twin, srv


LINES = st.one_of(
    st.sampled_from(["m", "m*", "M*:off", "Mtag:http:on", "Mapp:on,memory:off", "M*:on",
                     "mapp,memory", "Mnosuch:on", "x", "", "L*:debug", "M,", "Mtag:x:y:z"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
            max_size=40),
    st.integers(257, 2000).map(lambda n: "M" * n),
)


def expected(twin, line):
    data = line.encode()
    if len(data) > 256:
        return "error: line too long"
    return execute(data, None, twin)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(LINES, st.booleans()), min_size=1, max_size=8), st.data())
def test_any_split_of_a_stream_gives_the_replies_of_its_lines(live, lines, data):
    port, reg, twin, srv = live
    stream = b"".join(ln.encode() + (b"\r\n" if crlf else b"\n") for ln, crlf in lines)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(stream) - 1)), max_size=6))))
    want = [expected(twin, ln) for ln, _ in lines]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        prev = 0
        for cut in cuts + [len(stream)]:
            s.sendall(stream[prev:cut])
            prev = cut
            time.sleep(0.005)
        got = b""
        end = time.monotonic() + 5
        while got.count(b"\n") < len(want) and time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            got += d
    assert got.decode().split("\n")[:-1] == want, (lines, cuts)
    assert [(x.name, x.active) for x in reg.sources] == [(x.name, x.active) for x in twin.sources]
    assert reg.enabled_tags == twin.enabled_tags and reg.all_enabled == twin.all_enabled
    # the client has closed: the server frees its single slot for the next example
    assert wait_until(lambda: all(c.sock is None for c in srv.clients), 2)
