"""Test-only, CircuitPython profile: ``struct`` as CircuitPython has it,
whose ``unpack_from`` takes ``offset`` as a keyword (adafruit_ntp passes
it so); MicroPython's takes it by position only."""


def _functions():
    import sys

    path = sys.path
    sys.path = []
    try:
        import struct as real
    finally:
        sys.path = path

    def unpack_from(fmt, data, offset=0):
        return real.unpack_from(fmt, data, offset)

    return real.calcsize, real.pack, real.pack_into, real.unpack, unpack_from


calcsize, pack, pack_into, unpack, unpack_from = _functions()
del _functions
