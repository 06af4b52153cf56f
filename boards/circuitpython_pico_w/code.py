# CircuitPython runs /code.py: the demo firmware (/main.py, beside it) on
# this board's module (/monboard.py), with the library in /lib/monitoring
# and the bundle's asyncio, adafruit_ticks, adafruit_logging and
# adafruit_ntp in /lib. Settings: /settings.toml. Your own program: put it
# here instead.
# Needs hardware: not yet tested on a board (see the README).
import asyncio

import main

asyncio.run(main.main())
