# Resident heap of each capability, idle, after gc.collect() (lib as .mpy).
#   resident_bench.py CAP [QUEUE]
#   CAP: influx, control, syslog, trace, prometheus, all; QUEUE: bytes for both
#   the Influx buffer and the syslog queue (default: start()'s, 4096 each);
#   with $ROMFS_IMAGE the library runs in place from that ROMFS image
# Prints base_bytes (the package and start() with the built-in sources and
# no capability), then the capability's own code (its modules) and state
# (buffers, tasks, sockets) beyond that base. The logging module a firmware
# logs with (micropython-lib logging, else adafruit_logging) is loaded
# before the base is measured: the firmware has it whether or not it
# monitors, and control and syslog would otherwise be charged for it.
import asyncio
import gc
import os
import sys

# ROMFS_IMAGE: the library from that ROMFS image (make romfs BOARD=unix),
# mounted at /rom as on a board with a ROMFS partition: the image stands for
# the flash and is read before anything is measured
_image = os.getenv("ROMFS_IMAGE")
if _image:
    import vfs

    with open(_image, "rb") as _f:
        _image = _f.read()
    vfs.mount(vfs.VfsRom(_image), "/rom")
    sys.path.insert(0, "/rom/lib")

cap = sys.argv[1] if len(sys.argv) > 1 else "influx"

MODULES = {
    "influx": ("influx", "lineproto", "linequeue", "netio", "backoff", "clock"),
    "control": ("control_server", "control", "logbackend", "listener"),
    "syslog": ("syslog_handler", "syslog", "linequeue", "netio", "backoff", "clock"),
    "trace": ("trace", "regions", "tracefmt", "listener"),
    "prometheus": ("prometheus", "promfmt", "netsources", "listener"),
}
ALL = ("influx", "control", "syslog", "trace")  # the four capabilities of the seed


def sections(caps):
    q = int(sys.argv[2]) if len(sys.argv) > 2 else None
    kw = {}
    if "influx" in caps:
        kw["influx"] = {"host": "127.0.0.1", "port": 9, "transport": "udp", "interval_s": 3600}
        if q:
            kw["influx"]["buffer_bytes"] = q
    if "control" in caps:
        kw["control"] = {"port": 0, "addr": "127.0.0.1"}
    if "syslog" in caps:
        kw["syslog"] = {"host": "127.0.0.1", "port": 9}
        if q:
            kw["syslog"]["queue_bytes"] = q
    if "trace" in caps:
        kw["trace"] = {"port": 0}
    if "prometheus" in caps:
        kw["prometheus"] = {"port": 0, "addr": "127.0.0.1"}
    return kw


async def main():
    caps = ALL if cap == "all" else (cap,)
    try:
        import logging  # noqa: F401
    except ImportError:
        try:
            import adafruit_logging  # noqa: F401
        except ImportError:
            pass
    gc.collect()
    start = gc.mem_alloc()
    import monitoring

    mon = monitoring.start(hostname="pico-1")
    await asyncio.sleep(0.1)
    mon.stop()
    gc.collect()
    base = gc.mem_alloc()
    print("base_bytes", base - start)
    for c in caps:
        for m in MODULES[c]:
            __import__("monitoring." + m)
    gc.collect()
    code = gc.mem_alloc() - base
    print("import_bytes", code)
    mon = monitoring.start(hostname="pico-1", **sections(caps))
    await asyncio.sleep(0.2)
    gc.collect()
    print("state_bytes", gc.mem_alloc() - base - code)
    print("resident_bytes", gc.mem_alloc() - start)
    mon.stop()


asyncio.run(main())
