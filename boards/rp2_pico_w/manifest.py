# Pico W firmware with micropython-monitoring frozen in: the board's usual
# frozen modules (networking included), then the package. From
# MicroPython's ports/rp2:
#   make BOARD=RPI_PICO_W FROZEN_MANIFEST=/path/to/micropython-monitoring/boards/rp2_pico_w/manifest.py
include("$(BOARD_DIR)/manifest.py")
include("../../manifest.py")
