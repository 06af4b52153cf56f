# Resident heap of each capability, idle, after gc.collect() (lib as .mpy).
import asyncio
import gc
import sys

cap = sys.argv[1] if len(sys.argv) > 1 else "influx"


MODULES = {
    "influx": ("monitoring.influx",),
    "control": ("monitoring.control_server",),
    "syslog": ("monitoring.syslog_handler",),
    "trace": ("monitoring.trace",),
    "prometheus": ("monitoring.prometheus",),
}


async def main():
    gc.collect()
    base = gc.mem_alloc()
    import monitoring

    names = []
    for k in MODULES:
        if cap == k or (cap == "all" and k != "prometheus"):
            names.extend(MODULES[k])
    for name in names:
        __import__(name)
    gc.collect()
    code = gc.mem_alloc() - base
    print("import_bytes", code)

    kw = {}
    if cap in ("influx", "all"):
        kw["influx"] = ("127.0.0.1", 9)
        kw["transport"] = "udp"
    if cap in ("control", "all"):
        kw["listen_port"] = 0
    if cap in ("syslog", "all"):
        kw["syslog"] = ("127.0.0.1", 9)
    if cap in ("trace", "all"):
        kw["trace_port"] = 0
    if cap in ("prometheus",):
        kw["prometheus_port"] = 0
    mon = monitoring.start(hostname="pico-1", interval=3600, **kw)
    await asyncio.sleep(0.2)
    gc.collect()
    print("resident_bytes", gc.mem_alloc() - base)
    print("state_bytes", gc.mem_alloc() - base - code)
    mon.stop()


asyncio.run(main())
