"""Test-only: CircuitPython's adafruit_logging under the MicroPython Unix
port, through the Unix board's loader (which supplies the
``time.monotonic`` the package expects). Use ``from mplogging import logging``.
"""

import monboard

logging = monboard.adafruit_logging_module()
