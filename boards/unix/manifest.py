# A Unix port with micropython-monitoring frozen in (how the RAM of a
# frozen build was measured, see bench/RESULTS.md). From MicroPython's
# ports/unix:
#   make FROZEN_MANIFEST=/path/to/micropython-monitoring/boards/unix/manifest.py
include("$(PORT_DIR)/variants/standard/manifest.py")
include("../../manifest.py")
