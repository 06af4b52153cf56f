"""The library from a ROMFS image (`make romfs`) and from mip's package of
.mpy files (`make mip-mpy`), on the Unix port, talking to a real InfluxDB:
what a board with a ROMFS partition, or one given .mpy files by mip, runs."""

import functools
import http.server
import os
import subprocess
import threading

from mpy import ROOT
from peers import free_port, wait_until

PROGRAM = r"""
import asyncio, gc, sys
import monitoring
from monitoring.metrics import Source
print("FROM", monitoring.__file__)
s = Source("installed", tags=("how",))
s.set("value", 7)

async def main():
    mon = monitoring.start(hostname=HOW, influx={"host": "127.0.0.1", "port": PORT, "db": DB,
                                                  "interval_s": 0.2})
    await asyncio.sleep(1)
    mon.stop()
    print("SENT", mon.counters.points_sent)

asyncio.run(main())
"""


def make(*args):
    p = subprocess.run(["make", "--no-print-directory"] + list(args), cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def program(how, influxdb, db, prelude=""):
    return prelude + "HOW = %r\nPORT = %d\nDB = %r\n" % (how, influxdb.http_port, db) + PROGRAM


def stored(influxdb, db, how):
    assert wait_until(lambda: influxdb.count(db, "installed") >= 1, 10)
    rows = influxdb.rows(db, "installed")
    assert {r["host"] for r in rows} == {how} and rows[0]["value"] == 7, rows


def test_the_library_runs_in_place_from_a_romfs_image(mp, influxdb, influx_db):
    make("romfs", "BOARD=unix")
    image = os.path.join(ROOT, "build", "unix", "romfs.img")
    # the Unix port mounts the image as a board mounts its ROMFS partition
    # at /rom, with /rom/lib on the module path; nothing else has the library
    prelude = ("import vfs, sys\n"
               "f = open(%r, 'rb')\nimage = f.read()\nf.close()\n"
               "vfs.mount(vfs.VfsRom(image), '/rom')\n"
               "sys.path[:] = ['/rom/lib', '.frozen']\n" % image)
    p = mp.run(program("romfs-board", influxdb, influx_db, prelude), timeout=60,
               env={"MICROPYPATH": ".frozen"})
    assert "FROM /rom/lib/monitoring/__init__.mpy" in p.stdout, p.stdout + p.stderr
    assert "SENT 0" not in p.stdout and "SENT " in p.stdout, p.stdout
    stored(influxdb, influx_db, "romfs-board")


def test_mip_installs_the_packaged_mpy_files(mp, tmp_path, influxdb, influx_db):
    make("mip-mpy", "BOARD=unix")
    served = os.path.join(ROOT, "build", "unix", "mip")
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=served)
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    target = tmp_path / "lib"
    try:
        p = mp.run("import mip\nmip.install('http://127.0.0.1:%d/package.json', target=%r)\n"
                   % (port, str(target)), timeout=60)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "Done" in p.stdout, p.stdout + p.stderr
    names = sorted(os.listdir(target / "monitoring"))
    assert names == sorted(f[:-3] + ".mpy" for f in os.listdir(os.path.join(ROOT, "lib", "monitoring"))
                           if f.endswith(".py")), names
    p = mp.run(program("mip-board", influxdb, influx_db), timeout=60,
               env={"MICROPYPATH": ".frozen:%s" % target})
    assert "FROM %s/monitoring/__init__.mpy" % target in p.stdout, p.stdout + p.stderr
    stored(influxdb, influx_db, "mip-board")
