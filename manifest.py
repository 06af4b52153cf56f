# micropython-monitoring frozen into a MicroPython firmware: its code then
# runs from flash and only its running state takes heap (see docs/deployment.md,
# "Freezing into the firmware"). Include this file from a board manifest,
# after the port's or board's own (boards/<board>/manifest.py do that):
#
#     include("/path/to/micropython-monitoring/manifest.py")

metadata(description="Metrics to Influx, syslog, a trace port and a control socket.",
         version="0.2.0")

# micropython-lib's logging, which the syslog handler and the control
# socket work with (from the micropython-lib MicroPython builds with)
require("logging")

package("monitoring", base_path="lib")
