"""Test-only, CircuitPython profile: there is no ``socket`` module on
CircuitPython (sockets come from ``socketpool.SocketPool(wifi.radio)``),
so importing it fails here too."""

raise ImportError("no module named 'socket' (CircuitPython: socketpool)")
