"""The control server under CPython: a ControlServer on its own asyncio loop
in a daemon thread, for the tests that talk to it from pytest's thread."""

import asyncio
import contextlib
import threading

from monitoring.control_server import ControlServer, check
from peers import free_port, wait_until


@contextlib.contextmanager
def control_server_thread(reg, logs, section=None, **tuning):
    """Start ``ControlServer(reg, logs, <checked section>, **tuning)``, the
    ``control`` section ``section`` (default ``{}``) on a free port of
    127.0.0.1, on an asyncio loop in a thread and wait until it listens; yields
    ``(srv, port, thread)``. On leaving, the loop stops the server and the
    thread is joined (up to 5 s)."""
    port = free_port()
    srv = ControlServer(reg, logs, check(dict(section or {}, port=port, addr="127.0.0.1")),
                        **tuning)
    done = threading.Event()

    async def main():
        srv.start()
        while not done.is_set():
            await asyncio.sleep(0.02)
        srv.stop()

    t = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    t.start()
    try:
        assert wait_until(lambda: srv.sock is not None, 5)
        yield srv, port, t
    finally:
        done.set()
        t.join(5)
