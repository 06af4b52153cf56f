"""Print mip's package.json for lib/monitoring (`make package.json`).

`mpremote mip install github:OWNER/REPO` reads it from the repository's top
level; source paths are relative to it, so forks work unchanged.

With ``--mpy`` (`make mip-mpy`): the package of the board's .mpy files,
``monitoring/NAME.mpy`` beside the package.json in build/BOARD/mip, with
no dependencies (the library needs no logging module; the demo firmware
takes micropython-lib's, which ``mip install logging`` adds).
"""

import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def package(mpy=False):
    lib = os.path.join(ROOT, "lib")
    urls = []
    for name in sorted(os.listdir(os.path.join(lib, "monitoring"))):
        if name.endswith(".py"):
            if mpy:
                name = name[:-3] + ".mpy"
                urls.append(["monitoring/" + name, "monitoring/" + name])
            else:
                urls.append(["monitoring/" + name, "lib/monitoring/" + name])
    with open(os.path.join(lib, "monitoring", "__init__.py")) as f:
        version = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)
    pkg = {"urls": urls, "version": version}
    if not mpy:
        # the demo firmware's logging (the library itself needs none); the
        # .mpy package leaves it to `mip install logging`
        pkg["deps"] = [["logging", "latest"]]
    return pkg


if __name__ == "__main__":
    print(json.dumps(package("--mpy" in sys.argv[1:]), indent=2))
