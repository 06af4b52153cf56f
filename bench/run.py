"""`make bench`: run every bench/bench_*.py and print its figures."""

import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

failed = 0
for path in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
    p = subprocess.run([sys.executable, path], cwd=HERE)
    if p.returncode != 0:
        print("bench %s failed (exit %d)" % (os.path.basename(path), p.returncode))
        failed += 1
sys.exit(1 if failed else 0)
