"""Drive the MicroPython Unix port from pytest."""

import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIB = os.path.join(ROOT, "lib")


def micropython_binary():
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


class MicroPython:
    """Runs scripts under the Unix port with ``lib/`` and the test
    helpers (``host_tests/mp``) on its module path."""

    def __init__(self):
        self.binary = micropython_binary()
        self.extdir = _external_modules()
        self.path = ":".join([".frozen", LIB, os.path.join(HERE, "mp"), os.path.join(HERE, "pure"),
                              self.extdir])

    def env(self, extra=None):
        env = dict(os.environ)
        env["MICROPYPATH"] = self.path
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
        output."""
        path = self._script(code)
        try:
            p = subprocess.run(self.argv(path, heapsize, args), capture_output=True, text=True,
                               timeout=timeout, env=self.env(env), cwd=ROOT)
        finally:
            os.unlink(path)
        if check and p.returncode != 0:
            raise AssertionError("micropython exited %d\nstdout:\n%s\nstderr:\n%s"
                                 % (p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
        return p

    def spawn(self, code, heapsize=None, env=None, args=()):
        """Start ``code`` in the background; returns the Popen (text,
        stdout piped, stderr merged)."""
        path = self._script(code)
        p = subprocess.Popen(self.argv(path, heapsize, args), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=self.env(env), cwd=ROOT)
        p.script_path = path
        return p

    def script(self, path, heapsize=None, env=None, args=(), timeout=60, check=True):
        """Run an existing script file."""
        p = subprocess.run(self.argv(path, heapsize, args), capture_output=True, text=True,
                           timeout=timeout, env=self.env(env), cwd=ROOT)
        if check and p.returncode != 0:
            raise AssertionError("micropython exited %d\nstdout:\n%s\nstderr:\n%s"
                                 % (p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
        return p
