"""The project as a user meets it: the demo firmware on the Unix port against
the real peers, the board builds, deployment commands and mip's package.json."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from peers import free_port, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB_MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "lib", "monitoring"))
                     if f.endswith(".py"))
MARCH = {"esp32": "xtensawin", "rp2_pico_w": "armv6m"}


def make(*args, env=None):
    return subprocess.run(["make", "--no-print-directory"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("board", ["esp32", "rp2_pico_w"])
def test_make_mpy_builds_every_module_for_the_board_arch(board, mp):
    dry = make("-B", "-n", "mpy", "BOARD=" + board)
    assert "-march=%s " % MARCH[board] in dry.stdout
    p = make("mpy", "BOARD=" + board)
    assert p.returncode == 0, p.stdout + p.stderr
    out = os.path.join(ROOT, "build", board, "lib", "monitoring")
    built = sorted(f[:-4] for f in os.listdir(out) if f.endswith(".mpy"))
    assert built == LIB_MODULES
    for name in built:
        with open(os.path.join(out, name + ".mpy"), "rb") as f:
            head = f.read(4)
        # mpy v6 (MicroPython >= 1.22); no native code, so arch-neutral
        assert head[0:1] == b"M" and head[1] == 6 and head[2] >> 2 == 0, (name, head)
    p = make("size", "BOARD=" + board)
    assert p.returncode == 0 and "total" in p.stdout
    # the board build itself loads: run it on the Unix port (same mpy version),
    # in 68 KB: 64 KB had under 128 B to spare, and start()'s socket pool
    # (the code choosing and using it) took them; 66 KB then, until HTTPS and
    # basic auth made influx.mpy 0.8 KB larger
    env = mp.env()
    env["MICROPYPATH"] = ".frozen:" + os.path.join(ROOT, "build", board, "lib")
    r = subprocess.run([mp.binary, "-X", "heapsize=68k", "-c",
                        "import monitoring, monitoring.influx, monitoring.config; print(monitoring.__version__)"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0 and r.stdout.strip(), r.stdout + r.stderr


def test_make_mpy_rejects_unknown_board():
    p = make("mpy", "BOARD=esp8266")
    assert p.returncode != 0 and "error: unknown BOARD=esp8266" in p.stdout


def test_every_lib_module_imports_in_a_64k_heap(mp):
    """Each module of lib/ (with what it imports) loads in a board-sized
    heap, one fresh interpreter per module, as a board imports only the
    capabilities its configuration names."""
    for m in LIB_MODULES:
        name = "monitoring" if m == "__init__" else "monitoring." + m
        # RELP's sender loads the whole syslog sender beneath it: 80 KB; the
        # syslog sender's OPTIONS, a 51-item tuple, wants a 424-byte block
        # late in its import, which 64 KB has not (fragmented, 14 KB free): 68 KB
        heap = {"relp_sender": "80k", "syslog_handler": "68k"}.get(m, "64k")
        p = mp.run("import gc, %s\ngc.collect()\nprint('imported', gc.mem_free())\n" % name,
                   heapsize=heap, check=False)
        assert p.returncode == 0 and p.stdout.startswith("imported "), (m, p.stdout + p.stderr)


def test_make_n_deploy_runs_exactly_these_mpremote_commands(tmp_path):
    cfg = tmp_path / "my.json"
    cfg.write_text("{}")
    p = make("-n", "deploy", "BOARD=esp32", "PORT=/dev/ttyUSB7", "CONFIG=%s" % cfg)
    assert p.returncode == 0, p.stderr
    mpremote = [line for line in p.stdout.splitlines() if "mpremote" in line]
    assert mpremote == [
        ".venv/bin/mpremote connect /dev/ttyUSB7 mip install logging",
        ".venv/bin/mpremote connect /dev/ttyUSB7 cp -r build/esp32/lib/monitoring :lib/",
        ".venv/bin/mpremote connect /dev/ttyUSB7 cp firmware/boot.py :boot.py"
        " + cp firmware/main.py :main.py + cp boards/wlan.py :wlan.py"
        " + cp boards/esp32/monboard.py :monboard.py + cp boards/esp32/config.json :board_config.json",
        ".venv/bin/mpremote connect /dev/ttyUSB7 cp %s :config.json" % cfg,
        ".venv/bin/mpremote connect /dev/ttyUSB7 reset",
    ]
    # the .mpy files are built for the board first
    assert "-march=xtensawin" in p.stdout
    # ROMFS=1: lib/ into the board's ROMFS partition, as an image built for its arch
    p = make("-n", "deploy", "BOARD=esp32", "PORT=/dev/ttyUSB7", "ROMFS=1", "CONFIG=%s" % cfg)
    assert p.returncode == 0, p.stderr
    mpremote = [line for line in p.stdout.splitlines() if "mpremote" in line]
    assert mpremote[:3] == [
        ".venv/bin/mpremote romfs --no-mpy -o build/esp32/romfs.img build build/esp32/romfs",
        ".venv/bin/mpremote connect /dev/ttyUSB7 mip install logging",
        ".venv/bin/mpremote connect /dev/ttyUSB7 romfs deploy build/esp32/romfs.img",
    ], mpremote
    assert not [line for line in mpremote if "cp -r build/esp32/lib" in line]
    assert "-march=xtensawin" in p.stdout
    # a firmware with the package frozen in: neither logging nor lib/
    p = make("-n", "deploy", "BOARD=rp2_pico_w", "PORT=/dev/ttyACM0", "FROZEN=1",
             "CONFIG=%s" % (tmp_path / "absent.json"))
    assert p.returncode == 0, p.stderr
    assert [line for line in p.stdout.splitlines() if "mpremote" in line] == [
        ".venv/bin/mpremote connect /dev/ttyACM0 cp firmware/boot.py :boot.py"
        " + cp firmware/main.py :main.py + cp boards/wlan.py :wlan.py"
        " + cp boards/rp2_pico_w/monboard.py :monboard.py"
        " + cp boards/rp2_pico_w/config.json :board_config.json",
        ".venv/bin/mpremote connect /dev/ttyACM0 reset",
    ]
    assert "mpy-cross" not in p.stdout


def test_make_deploy_onto_a_circuitpy_drive(tmp_path):
    """``make deploy BOARD=circuitpython_pico_w DRIVE=...``: the CIRCUITPY
    drive (here a temp dir) gets lib/monitoring as .py, the bundle's
    libraries, the firmware, code.py, the board module and its defaults,
    the user's CONFIG, and the settings.toml template, which a second
    deploy leaves as the user edited it."""
    drive = tmp_path / "CIRCUITPY"
    drive.mkdir()
    cfg = tmp_path / "my.json"
    cfg.write_text('{"hostname": "pico-cpy"}')
    args = ("deploy", "BOARD=circuitpython_pico_w", "DRIVE=%s" % drive, "CONFIG=%s" % cfg)
    p = make(*args)
    assert p.returncode == 0, p.stdout + p.stderr
    files = sorted(str(f.relative_to(drive)) for f in drive.rglob("*") if f.is_file())
    bundle = ["lib/adafruit_logging.py", "lib/adafruit_ntp.py", "lib/adafruit_ticks.py"] + [
        "lib/asyncio/%s.py" % m for m in
        ("__init__", "core", "event", "funcs", "lock", "stream", "task", "traceback")]
    assert files == sorted(["board_config.json", "code.py", "config.json", "main.py", "monboard.py",
                            "settings.toml"] + bundle +
                           ["lib/monitoring/%s.py" % m for m in LIB_MODULES]), files
    board = os.path.join(ROOT, "boards", "circuitpython_pico_w")
    for dest, src in (("main.py", os.path.join(ROOT, "firmware", "main.py")),
                      ("code.py", os.path.join(board, "code.py")),
                      ("monboard.py", os.path.join(board, "monboard.py")),
                      ("board_config.json", os.path.join(board, "config.json")),
                      ("settings.toml", os.path.join(board, "settings.toml")),
                      ("config.json", str(cfg)),
                      ("lib/monitoring/clock.py", os.path.join(ROOT, "lib", "monitoring", "clock.py"))):
        with open(src, "rb") as f:
            assert (drive / dest).read_bytes() == f.read(), dest
    assert "wrote %s/settings.toml" % drive in p.stdout
    # the user's settings survive the next deploy; the rest is copied again
    (drive / "settings.toml").write_text('CIRCUITPY_WIFI_SSID = "home"\n')
    (drive / "main.py").write_text("# stale\n")
    p = make(*args)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (drive / "settings.toml").read_text() == 'CIRCUITPY_WIFI_SSID = "home"\n'
    assert "kept %s/settings.toml" % drive in p.stdout
    assert (drive / "main.py").read_text() != "# stale\n"
    # CIRCUP=1: circup installs the bundle's .mpy libraries instead
    p = make("-n", "deploy", "BOARD=circuitpython_pico_w", "DRIVE=/media/u/CIRCUITPY", "CIRCUP=1")
    assert p.returncode == 0, p.stderr
    assert ('circup --path "/media/u/CIRCUITPY" install asyncio adafruit_ticks adafruit_logging '
            'adafruit_ntp') in p.stdout.splitlines()
    assert "cpy_bundle.py" not in p.stdout and "build/cpy-bundle" not in p.stdout
    assert "mpremote" not in p.stdout


def test_circuitpython_deploy_needs_the_drive_and_refuses_mpy(tmp_path):
    p = make("deploy", "BOARD=circuitpython_pico_w", "DRIVE=%s" % (tmp_path / "absent"))
    assert p.returncode != 0
    assert "error: DRIVE=%s: no such directory" % (tmp_path / "absent") in p.stdout
    p = make("mpy", "BOARD=circuitpython_pico_w")
    assert p.returncode != 0 and "CircuitPython refuses MicroPython's .mpy" in p.stdout


def test_freeze_manifests_name_the_package_and_the_board_defaults():
    """The manifests MicroPython's build reads (their syntax is Python
    calls): the package and logging at the top, each board's usual frozen
    modules first, then the top-level manifest."""
    calls = []
    api = {"include": lambda path: calls.append(("include", path)),
           "require": lambda name: calls.append(("require", name)),
           "package": lambda name, base_path=".": calls.append(("package", name, base_path)),
           "metadata": lambda **kw: calls.append(("metadata", kw["version"]))}
    with open(os.path.join(ROOT, "manifest.py")) as f:
        exec(f.read(), dict(api))
    import monitoring
    assert calls == [("metadata", monitoring.__version__), ("require", "logging"),
                     ("package", "monitoring", "lib")]
    assert os.path.isfile(os.path.join(ROOT, "lib", "monitoring", "__init__.py"))
    firsts = {"esp32": "$(PORT_DIR)/boards/manifest.py", "rp2_pico_w": "$(BOARD_DIR)/manifest.py",
              "unix": "$(PORT_DIR)/variants/standard/manifest.py"}
    for board, first in firsts.items():
        calls.clear()
        path = os.path.join(ROOT, "boards", board, "manifest.py")
        with open(path) as f:
            exec(f.read(), dict(api))
        assert calls == [("include", first), ("include", "../../manifest.py")], board
        assert os.path.samefile(os.path.join(os.path.dirname(path), "../../manifest.py"),
                                os.path.join(ROOT, "manifest.py"))


def test_package_json_lists_every_file_of_the_package_and_nothing_else():
    with open(os.path.join(ROOT, "package.json")) as f:
        pkg = json.load(f)
    dests = [d for d, _ in pkg["urls"]]
    assert dests == ["monitoring/%s.py" % m for m in LIB_MODULES]
    for dest, src in pkg["urls"]:
        assert src == "lib/" + dest and os.path.exists(os.path.join(ROOT, src))
    assert pkg["deps"] == [["logging", "latest"]]
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import gen_package_json

    assert gen_package_json.package() == pkg  # committed file is up to date
