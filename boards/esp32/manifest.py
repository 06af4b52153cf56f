# ESP32 firmware with micropython-monitoring frozen in: the port's usual
# frozen modules, then the package. From MicroPython's ports/esp32:
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/micropython-monitoring/boards/esp32/manifest.py
include("$(PORT_DIR)/boards/manifest.py")
include("../../manifest.py")
