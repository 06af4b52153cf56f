"""A :class:`linequeue.LineQueue` of RFC 6587 octet-counted frames.

Pure module, apart from :mod:`linequeue` so that a board reporting only to
Influx does not load it. The frames (``LEN SP MSG``) sit back to back: the
queue's bytes are what goes on the wire, so a sender writes them out of the
queue as they are, with no copy.
"""

from .linequeue import LineQueue


class FrameQueue(LineQueue):
    """A :class:`LineQueue` of octet-counted frames, ``LEN SP MSG`` each
    (``LEN``: MSG's length in decimal), back to back with nothing between
    them; ``lines`` and the counts count frames. A message may hold any
    byte, LF included."""

    def _next(self, i):
        buf = self.buf
        n = 0
        c = buf[i]
        while c != 32:
            n = n * 10 + c - 48
            i += 1
            c = buf[i]
        return i + 1 + n

    def _records(self, data, n):
        k = i = 0
        while i < n:
            m = 0
            while data[i] != 32:
                m = m * 10 + data[i] - 48
                i += 1
            i += 1 + m
            k += 1
        return k
