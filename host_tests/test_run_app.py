"""`make run APP=path/to/main.py`: the user's own program on the Unix port
with the real peers started, the configuration in $MONITORING_CONFIG, and
the temp dir removed at exit."""

import os
import re
import subprocess
import sys

from mpy import ROOT
from peers import free_port

APP = r"""
import asyncio, json, os
import monboard, monitoring
from monitoring.metrics import Source

logging = monboard.logging_module()  # micropython-lib's, else adafruit_logging
log = logging.getLogger("myapp")
log.setLevel(logging.INFO)
plant = Source("plant", tags=("app",))

async def main():
    with open(os.getenv("MONITORING_CONFIG")) as f:
        doc = json.load(f)
    doc["syslog"]["loggers"] = ["myapp"]  # default: the root logger
    mon = monitoring.start(logging=logging, **doc)
    for i in range(8):
        plant.set("moisture", 40 + i)
        log.info("watering %d", i)
        await asyncio.sleep(0.25)
    mon.stop()
    print("APP DONE")

asyncio.run(main())
"""


def test_make_run_app_runs_the_users_program_with_the_peers(tmp_path):
    app = tmp_path / "main.py"
    app.write_text(APP)
    env = dict(os.environ, APP=str(app), DURATION="4", CONTROL_PORT=str(free_port()),
               TRACE_PORT=str(free_port()), PROMETHEUS_PORT=str(free_port()))
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_demo.py")],
                       capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    out = p.stdout
    assert p.returncode == 0, (out, p.stderr)
    assert "main.py running on the Unix port" in out, out
    assert re.search(r'syslog \{"host": "127.0.0.1", "port": \d+, "transport": "tcp"\}', out), out
    assert re.search(r'influx \{"host": "127.0.0.1", "port": \d+, "transport": "http", "db"', out)
    m = re.search(r"influx plant +(\d+) points", out)
    assert m and int(m.group(1)) >= 1, out
    m = re.search(r"syslog lines +(\d+)", out)
    assert m and int(m.group(1)) >= 8, out
    console = re.search(r"console: +(\S+)", out).group(1)
    assert not os.path.exists(os.path.dirname(console)), "temp dir left behind"


def test_make_run_app_that_does_not_exist_is_one_line(tmp_path):
    env = dict(os.environ, APP=str(tmp_path / "nope.py"), DURATION="1")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_demo.py")],
                       capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert p.returncode == 2 and p.stderr == "make run: APP=%s: no such file\n" % (
        tmp_path / "nope.py"), p.stderr


def test_the_readmes_program_runs_as_written_on_the_unix_port(tmp_path):
    """The README's "Your own firmware", unchanged, by ``make run APP=``: the
    configuration run_demo writes (the peers) laid over the program's."""
    from demo_checks import readme_program

    app = tmp_path / "main.py"
    app.write_text(readme_program())
    env = dict(os.environ, APP=str(app), DURATION="5", CONTROL_PORT=str(free_port()),
               TRACE_PORT=str(free_port()), PROMETHEUS_PORT=str(free_port()))
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_demo.py")],
                       capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    out = p.stdout
    assert p.returncode == 0, (out, p.stderr)
    assert "Traceback" not in out + p.stderr, (out, p.stderr)
    m = re.search(r"influx hello +(\d+) points", out)
    assert m and int(m.group(1)) >= 1, out
    m = re.search(r"syslog lines +(\d+)", out)
    assert m and int(m.group(1)) >= 4, out
