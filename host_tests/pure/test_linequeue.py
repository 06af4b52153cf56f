"""LineQueue: the RAM-capped FIFO of unsent lines."""

from monitoring.linequeue import LineQueue


def contents(q):
    return bytes(q.view(q.used))


def test_append_and_consume():
    q = LineQueue(32)
    assert q.append(b"a=1\n") == 0
    assert q.append(b"bb=2\ncc=3\n") == 0
    assert len(q) == 3 and q.used == 14
    assert q.head(100) == 14
    assert q.head(9) == 9  # "a=1\nbb=2\n"
    assert q.head(2) == 4  # the first line even if longer than limit
    assert q.consume(4) == 1
    assert contents(q) == b"bb=2\ncc=3\n"
    assert len(q) == 2


def test_oldest_dropped_when_full():
    q = LineQueue(12)
    q.append(b"aaa\n")
    q.append(b"bbb\n")
    q.append(b"ccc\n")
    assert q.append(b"ddd\n") == 1
    assert contents(q) == b"bbb\nccc\nddd\n"
    assert q.append(b"eeeeeee\n") == 2
    assert contents(q) == b"ddd\neeeeeee\n"
    assert q.dropped == 3 and len(q) == 2


def test_too_long_line_is_dropped_itself():
    q = LineQueue(8)
    q.append(b"ab\n")
    assert q.append(b"0123456789\n") == 1
    assert contents(q) == b"ab\n" and q.dropped == 1


def test_pinned_head_survives_drops():
    q = LineQueue(12)
    q.append(b"aaa\n")
    q.append(b"bbb\n")
    q.pin(4)
    q.append(b"ccc\n")
    assert q.append(b"ddd\n") == 1  # bbb dropped, aaa in flight
    assert contents(q) == b"aaa\nccc\nddd\n"
    assert q.consume(4) == 1 and q.pinned == 0
    assert contents(q) == b"ccc\nddd\n"
    # a line that cannot fit beside the pinned bytes is dropped
    q.pin(4)
    assert q.append(b"0123456789\n") == 1


def test_clear_counts():
    q = LineQueue(16)
    q.append(b"a\nb\n")
    assert q.clear() == 2 and q.dropped == 2 and q.used == 0


def test_a_line_holding_the_lf_stand_in_is_one_line():
    # the Influx reporter queues an LF inside a string value as 0xFF
    q = LineQueue(40)
    q.append(b'm s="a\xffb"\n')
    q.append(b"m n=1i\n")
    assert len(q) == 2 and q.count(q.used) == 2 and q.head(13) == 10
    assert q.consume(10) == 1 and contents(q) == b"m n=1i\n"
