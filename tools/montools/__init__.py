"""Host-side (CPython) tools for micropython-monitoring boards."""
