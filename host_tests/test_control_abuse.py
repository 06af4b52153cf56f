"""The operator can always get in: the control socket under connections
that hold its slots (silent, one byte every so often, never
authenticating), on the Unix port."""

import socket
import time

import pytest

from peers import free_port

SERVER = r"""
import asyncio, monitoring
from monitoring.metrics import Source
Source("app")
async def main():
    mon = monitoring.start(sources={"builtin": False}, control=%s)
    print("READY")
    await asyncio.sleep(%d)
    c = mon.control
    print("COUNTS", c.refused, c.evicted, c.commands)
    mon.stop()
asyncio.run(main())
"""


def _server(mp, section, seconds):
    proc = mp.spawn(SERVER % (section, seconds))
    assert proc.stdout.readline().strip() == "READY"
    return proc


def _ask(port, lines, timeout=1.0):
    """Send ``lines`` on a new connection; the replies, one per line, and
    the seconds they took."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"".join(l + b"\n" for l in lines))
        buf = b""
        while buf.count(b"\n") < len(lines):
            got = s.recv(4096)
            if not got:
                break
            buf += got
    finally:
        s.close()
    return buf.decode().splitlines(), time.monotonic() - t0


def _hold(port, n):
    out = []
    for _ in range(n):
        out.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        time.sleep(0.05)
    return out


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_silent_and_trickling_clients_do_not_lock_the_operator_out(mp, token):
    """Two clients hold both slots (one silent, one sending a byte every
    200 ms without a line end); the operator still gets a reply within
    1 s, three times over; before, every probe got ``error: busy`` for as
    long as the trickle went on."""
    port = free_port()
    sec = '{"port": %d, "addr": "127.0.0.1", "clients": 2%s}' % (
        port, ', "token": "%s"' % token if token else "")
    proc = _server(mp, sec, 6)
    try:
        hogs = _hold(port, 2)
        auth = [b"auth " + token.encode()] if token else []
        for _ in range(3):
            for i in range(5):  # the trickle, on every hog still open
                for h in hogs[1::2]:
                    try:
                        h.send(b"x")
                    except OSError:
                        pass  # closed for a newer connection
                time.sleep(0.04)
            replies, took = _ask(port, auth + [b"m"])
            assert replies[-1].startswith("ok: ") and took < 1.0, (replies, took)
            hogs += _hold(port, 2)  # new hogs after each probe
        out = proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
        for h in hogs:
            h.close()


def test_with_a_token_an_authenticated_operator_keeps_the_slot(mp):
    """Unauthenticated connections never take the slot of an
    authenticated client; with every slot authenticated, the next one
    gets ``error: busy``."""
    port = free_port()
    proc = _server(mp, '{"port": %d, "addr": "127.0.0.1", "clients": 1, "token": "t"}' % port, 4)
    try:
        op = socket.create_connection(("127.0.0.1", port), timeout=2)
        op.sendall(b"auth t\n")
        assert op.recv(100) == b"ok\n"
        other = socket.create_connection(("127.0.0.1", port), timeout=2)
        assert other.recv(100) == b"error: busy\n"  # answered at accept, then closed
        other.close()
        op.sendall(b"m\n")
        assert op.recv(200).startswith(b"ok: ")
        op.close()
        out = proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
    assert "COUNTS 1 0" in out, out


def test_first_line_deadline_and_too_long_a_first_line(mp):
    """A client sending bytes but never a line end is closed 5 s after
    connecting, however often it sends; with a token, a first line longer
    than the line buffer is a failed authentication (``error:
    unauthorized``, closed), not ``error: line too long`` with the
    connection kept."""
    port = free_port()
    proc = _server(mp, '{"port": %d, "addr": "127.0.0.1", "token": "t"}' % port, 9)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.sendall(b"a" * 258)  # the line buffer's size: all of it read, no reset
        assert s.recv(100) == b"error: unauthorized\n"
        assert s.recv(100) == b""  # closed
        s.close()
        s = socket.create_connection(("127.0.0.1", port), timeout=8)
        t0 = time.monotonic()
        closed = None
        while time.monotonic() - t0 < 7.5:
            try:
                s.send(b"a")
                s.settimeout(0.2)
                if s.recv(100) == b"":
                    closed = time.monotonic() - t0
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = time.monotonic() - t0
                break
        s.close()
        assert closed is not None and 4.5 < closed < 6.5, closed
    finally:
        proc.kill()
        proc.wait()


FRAGMENTED = r"""
import gc
from monitoring.control import execute
from monitoring.metrics import Registry, Source

reg = Registry()
Source("app", registry=reg)
LINES = (b"m" + b"x," * 127 + b"x", b"M" + b"a:" * 127 + b"a", b"M" + b"app:on," * 35 + b"x:on",
         b"M" + b"app:on," * 35 + b"app:off")


def run():
    for ln in LINES[:3] + (b"Mapp:off,app:on",):
        execute(ln, None, reg)
    out = [None] * len(LINES)
    gc.collect()
    # the heap cut into pieces of about 430 bytes: every byte in use, then
    # one block in two freed
    head = None
    try:
        while True:
            head = [head, bytearray(400)]
    except MemoryError:
        pass
    n = head
    i = 0
    while n is not None:
        if i & 1:
            n[1] = None
        n = n[0]
        i += 1
    gc.collect()
    for i in range(len(LINES)):
        try:
            out[i] = execute(LINES[i], None, reg)[:30]
        except MemoryError:
            out[i] = "MemoryError"
    head = n = None
    gc.collect()
    return out


print(run())
print(reg.get("app").active)
"""


def test_long_commands_need_no_large_piece_of_heap(mp):
    """A 256-byte command of 128 items (or 128 colons, or 36 valid items)
    is checked and run in a heap cut into 430-byte pieces: no list of its
    items or parts is built (before, ``split`` made a 1 KB list and the
    control task caught a MemoryError, 14 of them in a minute of abuse of
    the demo at 64 KB of data heap)."""
    out = mp.run(FRAGMENTED, heapsize="200k").stdout.splitlines()
    assert out[0] == str(["error: unknown source: x", "error: bad item: a:a:a:a:a:a:a",
                          "error: unknown source: x", "ok"]), out
    assert out[1] == "False"  # the last command ran whole: app on 35 times, then off
