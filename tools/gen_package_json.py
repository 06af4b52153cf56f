"""Print mip's package.json for lib/monitoring (`make package.json`).

`mpremote mip install github:OWNER/REPO` reads it from the repository's top
level; source paths are relative to it, so forks work unchanged.
"""

import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def package():
    lib = os.path.join(ROOT, "lib")
    urls = []
    for name in sorted(os.listdir(os.path.join(lib, "monitoring"))):
        if name.endswith(".py"):
            urls.append(["monitoring/" + name, "lib/monitoring/" + name])
    with open(os.path.join(lib, "monitoring", "__init__.py")) as f:
        version = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)
    return {"urls": urls, "deps": [["logging", "latest"]], "version": version}


if __name__ == "__main__":
    print(json.dumps(package(), indent=2))
