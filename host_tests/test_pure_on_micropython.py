"""Every test module in host_tests/pure runs under CPython (collected by
pytest as usual) and, here, under the MicroPython Unix port."""

import os

import pytest

PURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pure")
MODULES = sorted(f[:-3] for f in os.listdir(PURE) if f.startswith("test_") and f.endswith(".py"))


@pytest.mark.parametrize("module", MODULES)
def test_pure_module_on_micropython(mp, module):
    p = mp.script(os.path.join(os.path.dirname(PURE), "mp", "purerunner.py"), args=[module],
                  check=False)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "FAIL" not in out, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("pure: ") and " 0 failed" in last, out
    assert not last.startswith("pure: 0 passed"), out
