"""A CircuitPython profile of the runtime, on the MicroPython Unix port.

What a CircuitPython 10 board gives the library, as far as the Unix port
can stand for it: the module path holds, in this order,

- ``host_tests/cpy/``: a restricted ``time`` (``monotonic``,
  ``monotonic_ns``, ``localtime``, ``mktime``, ``time``, ``sleep``: no
  ``ticks_ms``, ``gmtime``, ``time_ns``), ``supervisor.ticks_ms`` wrapping
  at 2**29, no ``socket``, a ``struct`` whose ``unpack_from`` takes
  ``offset=`` (adafruit_ntp needs it), and ``cpyboot`` (imported first by every
  program: hides MicroPython's C ``_asyncio`` and its ``utime`` alias);
- the bundle's ``asyncio``, ``adafruit_ticks``, ``adafruit_logging`` and
  ``adafruit_ntp``, unpacked unmodified from their PyPI wheels
  (tools/cpy_bundle.py, requirements-circuitpython.txt). The bundle's
  asyncio runs on the Unix port: its pure-Python task queue, over
  adafruit_ticks (from ``supervisor``) and ``select.poll``;
- ``lib/``, then ``host_tests/mp`` and ``host_tests/pure``.

No ``.frozen``: MicroPython's own asyncio is not on the path. What stays
MicroPython's: the interpreter (``sys.implementation.name`` is
``micropython``), ``gc``, ``select``, ``os``, ``json``, ``errno``.
"""

import os
import sys

from mpy import HERE, LIB, ROOT, MicroPython

SHIMS = os.path.join(HERE, "cpy")
sys.path.insert(0, os.path.join(ROOT, "tools"))

import cpy_bundle  # noqa: E402

# the CircuitPython board module's directory (its monboard.py and code.py)
BOARD_DIR = os.path.join(ROOT, "boards", "circuitpython_pico_w")


class CircuitPythonProfile(MicroPython):
    """:class:`mpy.MicroPython` with the CircuitPython profile's path; every
    program run starts with ``import cpyboot``. ``bundle=False`` leaves
    the bundle's libraries off the path (what a board without them has)."""

    def __init__(self, bundle=True):
        MicroPython.__init__(self)
        self.bundle = cpy_bundle.bundle()
        parts = [SHIMS] + ([self.bundle] if bundle else []) + [
            LIB, os.path.join(HERE, "mp"), os.path.join(HERE, "pure")]
        self.path = ":".join(parts)

    def _script(self, code):
        return MicroPython._script(self, "import cpyboot\n" + code)
