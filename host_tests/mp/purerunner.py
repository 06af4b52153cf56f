# Runs the test_* functions of one host_tests/pure module under MicroPython.
# Usage: micropython purerunner.py MODULE; prints PASS/FAIL lines and a
# last line "N passed, M failed".
import sys

try:
    print_exception = sys.print_exception
except AttributeError:  # CircuitPython: traceback's, where the build has it
    try:
        from traceback import print_exception
    except ImportError:
        print_exception = print

name = sys.argv[1]
mod = __import__(name)
passed = failed = 0
for attr in sorted(dir(mod)):
    if not attr.startswith("test_"):
        continue
    fn = getattr(mod, attr)
    try:
        fn()
        passed += 1
        print("PASS", attr)
    except Exception as e:
        failed += 1
        print("FAIL", attr, repr(e))
        print_exception(e)
print("pure: %d passed, %d failed" % (passed, failed))
