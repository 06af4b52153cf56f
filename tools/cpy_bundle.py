"""The CircuitPython bundle libraries of requirements-circuitpython.txt,
downloaded from PyPI (``pip download --no-deps``, wheels into
build/cpy-wheels) and unpacked, their modules alone, into
build/cpy-bundle/lib: ``asyncio/``, ``adafruit_ticks.py``,
``adafruit_logging.py``, ``adafruit_ntp.py``. Never pip-installed: the
asyncio wheel's top-level ``asyncio`` would shadow CPython's.

Run by ``make cpy-bundle`` (before ``make test`` and the CircuitPython
``make deploy``) and by the tests' CircuitPython profile; prints the lib
directory. Does nothing when it is already up to date."""

import os
import re
import shutil
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIREMENTS = os.path.join(ROOT, "requirements-circuitpython.txt")
WHEELS = os.path.join(ROOT, "build", "cpy-wheels")
OUT = os.path.join(ROOT, "build", "cpy-bundle")
LIB = os.path.join(OUT, "lib")


def pins():
    """``[(name, version)]`` of requirements-circuitpython.txt."""
    out = []
    with open(REQUIREMENTS) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line:
                name, _, version = line.partition("==")
                out.append((name.strip(), version.strip()))
    return out


def _wheel(name, version):
    # the downloaded wheel of name==version, or None
    stem = re.sub(r"[-_.]+", "_", name).lower() + "-" + version + "-"
    for f in sorted(os.listdir(WHEELS)) if os.path.isdir(WHEELS) else ():
        if f.lower().startswith(stem) and f.endswith(".whl"):
            return os.path.join(WHEELS, f)
    return None


def bundle():
    """Download what is missing, unpack; returns the lib directory."""
    want = pins()
    stamp = os.path.join(OUT, "pins.txt")
    text = "".join("%s==%s\n" % p for p in want)
    if os.path.exists(stamp) and open(stamp).read() == text:
        return LIB
    missing = [p for p in want if _wheel(*p) is None]
    if missing:
        os.makedirs(WHEELS, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                        "--no-deps", "--only-binary", ":all:", "-d", WHEELS]
                       + ["%s==%s" % p for p in missing], check=True)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(LIB)
    for p in want:
        with zipfile.ZipFile(_wheel(*p)) as z:
            for member in z.namelist():
                top = member.split("/")[0]
                if member.endswith(".py") and not top.endswith((".dist-info", ".data")):
                    z.extract(member, LIB)
    with open(stamp, "w") as f:
        f.write(text)
    return LIB


if __name__ == "__main__":
    print(bundle())
