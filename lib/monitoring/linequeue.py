"""A RAM-capped FIFO of LF-terminated lines in one preallocated bytearray.

Pure module. The Influx reporter keeps unsent points in one, the syslog
handler its unsent messages. When a new line does not fit, the oldest lines
are dropped (and counted) until it does; a line longer than the whole queue
is dropped itself. Nothing is allocated per line except on drops.

A sender works on the head of the queue in place: ``pin(k)`` marks the first
``k`` bytes as in flight so that dropping, which happens when producers
append while the sender waits on the network, never removes or moves them;
``consume(k)`` removes them once sent. ``view(k)`` is a memoryview of the
first ``k`` bytes, valid until the next ``consume``.
"""


class LineQueue:
    """FIFO of complete lines, at most ``capacity`` bytes in all."""

    def __init__(self, capacity=4096):
        self.buf = bytearray(capacity)
        self.mv = memoryview(self.buf)
        self.capacity = capacity
        self.used = 0
        self.lines = 0
        self.pinned = 0
        # lines dropped since creation (whole lines, never partial ones)
        self.dropped = 0

    def __len__(self):
        return self.lines

    def append(self, data):
        """Queue ``data`` (one or more lines, each ending with LF).

        Returns the number of lines dropped to make room (0 usually).
        """
        n = len(data)
        if n == 0:
            return 0
        nlines = 0
        for i in range(n):
            if data[i] == 10:
                nlines += 1
        if n > self.capacity - self.pinned:
            self.dropped += nlines
            return nlines
        dropped = 0
        while self.used + n > self.capacity:
            dropped += self._drop_one()
        self.mv[self.used:self.used + n] = data
        self.used += n
        self.lines += nlines
        self.dropped += dropped
        return dropped

    def commit(self, n, nlines=1):
        """Account for ``n`` bytes (``nlines`` lines) a producer wrote
        directly at ``mv[used:]`` (see ``LineEncoder.encode_into``)."""
        self.used += n
        self.lines += nlines

    def drop_oldest(self):
        """Drop the oldest line not in flight; returns 1, or 0 if there
        was none to drop. Counted in ``dropped``."""
        if self.lines == 0 or self.used <= self.pinned:
            return 0
        self.dropped += 1
        return self._drop_one()

    def _drop_one(self):
        # drop the first line after the pinned region
        start = self.pinned
        end = self.buf.find(b"\n", start, self.used) + 1
        if end <= 0:
            end = self.used
        mv = self.mv
        mv[start:self.used - (end - start)] = mv[end:self.used]
        self.used -= end - start
        self.lines -= 1
        return 1

    def head(self, limit):
        """Bytes in the first whole lines that fit in ``limit`` bytes.

        Returns 0 if the queue is empty; if the first line alone is longer
        than ``limit``, returns that line's length anyway.
        """
        if self.used <= limit:
            return self.used
        buf = self.buf
        end = buf.find(b"\n", 0, self.used) + 1
        while True:
            nxt = buf.find(b"\n", end, self.used) + 1
            if nxt <= 0 or nxt > limit:
                return end
            end = nxt

    def pin(self, k):
        """Protect the first ``k`` bytes from dropping."""
        self.pinned = k

    def view(self, k):
        """Memoryview of the first ``k`` bytes."""
        return self.mv[0:k]

    def count(self, k):
        """The lines in the first ``k`` bytes."""
        buf = self.buf
        n = 0
        i = buf.find(b"\n", 0, k)
        while i >= 0:
            n += 1
            i = buf.find(b"\n", i + 1, k)
        return n

    def consume(self, k):
        """Remove the first ``k`` bytes (whole lines); returns lines removed."""
        if k <= 0:
            return 0
        nlines = self.count(k)
        mv = self.mv
        mv[0:self.used - k] = mv[k:self.used]
        self.used -= k
        self.lines -= nlines
        self.pinned = self.pinned - k if self.pinned > k else 0
        return nlines

    def clear(self):
        """Drop everything, counting it; returns lines dropped."""
        n = self.lines
        self.dropped += n
        self.used = self.lines = self.pinned = 0
        return n
