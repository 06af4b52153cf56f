"""Test-only, CircuitPython profile: imported first by every program run
in the profile (host_tests/cpyprofile.py prepends ``import cpyboot``).

- ``_asyncio``: MicroPython's C module keys its task queue on the port's
  own ticks, where the bundle's asyncio compares them with adafruit_ticks'
  (2**29-wrapped, from ``supervisor.ticks_ms``): the loop would wait for
  ever. CircuitPython's own ``_asyncio`` is built on its ticks; here it is
  hidden, so the bundle runs its pure-Python ``asyncio/task.py``.
- ``utime``: MicroPython's alias of its built-in ``time``, which no file
  can shadow; CircuitPython has none. It names the restricted ``time``.
"""

import sys

import time  # host_tests/cpy/time.py

sys.modules["_asyncio"] = sys  # a module without Task: "from _asyncio import Task" fails
sys.modules["utime"] = time
