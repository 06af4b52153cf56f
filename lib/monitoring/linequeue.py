"""A RAM-capped FIFO of LF-terminated lines in one preallocated bytearray.

Pure module. The Influx reporter keeps unsent points in one, the syslog
handler its unsent messages. When a new line does not fit, the oldest lines
go, in one move, at least an eighth of the capacity at a time: while the
queue is full (the server down) it moves once per eighth of its capacity
appended, so a record costs the same in a 1 KB queue as in a 256 KB one.
During an outage the oldest eighth goes at once: the queue keeps between
7/8 of its capacity and all of it. Every line dropped is counted; a line
longer than the whole queue is dropped itself. Nothing is allocated per
line except on drops.

A sender works on the head of the queue in place: ``pin(k)`` marks the first
``k`` bytes as in flight so that dropping, which happens when producers
append while the sender waits on the network, never removes or moves them;
``consume(k)`` removes them once sent. ``view(k)`` is a memoryview of the
first ``k`` bytes, valid until the next ``consume``.

A sender whose lines are acknowledged one by one (RELP) marks them
delivered with ``deliver(k)`` instead: they stay at the head (``done``
bytes, no longer counted in ``len``) and leave in one move once they are
an eighth of the capacity, or all at once when nothing else is queued, or
before a line not yet delivered would be dropped. That move shifts the
pinned bytes after them: such a sender keeps its offsets from ``done`` and
holds no view of the queue while ``done`` is not 0.

:mod:`framequeue` holds octet-counted frames instead of lines.
"""


class LineQueue:
    """FIFO of complete lines, at most ``capacity`` bytes in all."""

    def __init__(self, capacity=4096):
        self.buf = bytearray(capacity)
        self.mv = memoryview(self.buf)
        self.capacity = capacity
        self.used = 0  # bytes in the buffer, ``done`` ones included
        self.lines = 0  # lines queued, not counting the ``done`` ones
        self.pinned = 0
        self.done = 0  # delivered bytes still at the head (see ``deliver``)
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
        nlines = self._records(data, n)
        if n > self.capacity - self.pinned + self.done:
            self.dropped += nlines
            return nlines
        dropped = 0
        if self.used + n > self.capacity:
            self.reclaim()
            if self.used + n > self.capacity:
                dropped = self._drop(self.used + n - self.capacity)
        self.mv[self.used:self.used + n] = data
        self.used += n
        self.lines += nlines
        return dropped

    def commit(self, n, nlines=1):
        """Account for ``n`` bytes (``nlines`` lines) a producer wrote
        directly at ``mv[used:]`` (see ``LineEncoder.encode_into``)."""
        self.used += n
        self.lines += nlines

    def drop_oldest(self):
        """Make room at the tail for a producer, in one move: the delivered
        bytes at the head if there are any, else the oldest lines not in
        flight, an eighth of the capacity's worth at least. Returns the
        lines dropped (counted in ``dropped``): 0 when only delivered bytes
        went, -1 when there was nothing to remove."""
        if self.done:
            self.reclaim()
            return 0
        if self.lines == 0 or self.used <= self.pinned:
            return -1
        return self._drop(0)

    def _drop(self, need):
        # drop the oldest lines after the pinned region, ``need`` bytes and
        # an eighth of the capacity at least, with one move; returns them
        if need < self.capacity >> 3:
            need = self.capacity >> 3
        start = end = self.pinned
        used = self.used
        n = 0
        while end < used and end - start < need:
            end = self._next(end)
            n += 1
        mv = self.mv
        mv[start:used - (end - start)] = mv[end:used]
        self.used = used - (end - start)
        self.lines -= n
        self.dropped += n
        return n

    def head(self, limit):
        """Bytes in the first whole records that fit in ``limit`` bytes.

        Returns 0 if the queue is empty; if the first record alone is longer
        than ``limit``, returns that record's length anyway.
        """
        if self.used <= limit:
            return self.used
        return self.whole(limit) or self._next(0)

    def whole(self, k):
        """Bytes in the records wholly within the first ``k`` bytes (what a
        send cut short after ``k`` bytes delivered whole)."""
        end = 0
        while end < self.used:
            nxt = self._next(end)
            if nxt > k:
                break
            end = nxt
        return end

    def pin(self, k):
        """Protect the first ``k`` bytes from dropping."""
        self.pinned = k

    def view(self, k):
        """Memoryview of the first ``k`` bytes."""
        return self.mv[0:k]

    def count(self, k, start=0):
        """The records in the bytes from ``start`` to ``k``."""
        n = 0
        while start < k:
            start = self._next(start)
            n += 1
        return n

    def _next(self, i):
        # where the record starting at buf[i] ends: after its LF
        e = self.buf.find(b"\n", i, self.used) + 1
        return e if e > 0 else self.used

    def _records(self, data, n):
        # the records in data[0:n]: its LFs
        k = 0
        for i in range(n):
            if data[i] == 10:
                k += 1
        return k

    def consume(self, k):
        """Remove the first ``k`` bytes (whole lines); returns lines removed."""
        if k <= 0:
            return 0
        nlines = self.count(k)
        if k < self.used:  # (all of it: nothing to move, nothing allocated)
            mv = self.mv
            mv[0:self.used - k] = mv[k:self.used]
        self.used -= k
        self.lines -= nlines
        self.pinned = self.pinned - k if self.pinned > k else 0
        return nlines

    def deliver(self, k):
        """The ``k`` bytes (whole lines) after the ``done`` ones are
        delivered: they leave ``len`` now and the buffer in bulk, once the
        delivered bytes are an eighth of the capacity or all there is, or
        before a line would be dropped. Returns the lines delivered."""
        d = self.done
        nlines = self.count(d + k, d)
        self.lines -= nlines
        d += k
        if d >= self.used:
            self.used = self.pinned = d = 0  # nothing else queued: no move
        self.done = d
        if d >= self.capacity >> 3:
            self.reclaim()
        return nlines

    def reclaim(self):
        """Remove the delivered bytes from the head (one move; the pinned
        bytes after them shift by as many)."""
        k = self.done
        if k:
            self.done = 0
            mv = self.mv
            mv[0:self.used - k] = mv[k:self.used]
            self.used -= k
            self.pinned = self.pinned - k if self.pinned > k else 0

    def clear(self):
        """Drop everything, counting it; returns lines dropped."""
        n = self.lines
        self.dropped += n
        self.used = self.lines = self.pinned = self.done = 0
        return n

