"""LineQueue: the RAM-capped FIFO of unsent lines; FrameQueue: the same of
octet-counted frames."""

from monitoring.framequeue import FrameQueue
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


def _full(capacity, width=10):
    # a queue filled with lines of ``width`` bytes ("00000000\n" numbered)
    q = LineQueue(capacity)
    i = 0
    while q.used + width <= capacity:
        q.append(_line(i, width))
        i += 1
    return q, i


def _line(i, width=10):
    s = "%d" % i
    return (("0" * (width - 1 - len(s))) + s + "\n").encode()


def test_a_full_queue_drops_an_eighth_at_once():
    q, n = _full(800)  # 80 lines of 10 bytes
    assert n == 80 and q.used == 800
    assert q.append(_line(80)) == 10  # 100 bytes: an eighth
    assert contents(q) == b"".join(_line(i) for i in range(10, 81))
    assert q.dropped == 10 and len(q) == 71
    # then nine appends fit without a drop, the tenth drops an eighth again
    drops = [q.append(_line(i)) for i in range(81, 91)]
    assert drops == [0] * 9 + [10]
    assert q.dropped == 20 and len(q) == 71 and q.used == 710
    assert contents(q) == b"".join(_line(i) for i in range(20, 91))


def test_drops_while_full_move_once_per_eighth():
    # every line appended is either queued or counted as dropped, and the
    # queue made room once per eighth of its capacity appended
    q, n = _full(8000)
    events = 0
    for i in range(n, n + 4000):
        if q.append(_line(i)):
            events += 1
    assert events == 4000 // 100
    assert q.dropped + len(q) == n + 4000
    assert contents(q)[-10:] == _line(n + 3999)


def test_a_long_line_drops_what_it_needs():
    q, n = _full(800)
    long = b"x" * 299 + b"\n"
    assert q.append(long) == 30  # 300 bytes: more than an eighth
    assert contents(q) == b"".join(_line(i) for i in range(30, 80)) + long
    assert q.used == 800 and q.dropped == 30


def test_drop_oldest_returns_the_lines_dropped():
    q, n = _full(800)
    q.pin(20)
    assert q.drop_oldest() == 10  # after the two lines in flight
    assert contents(q) == _line(0) + _line(1) + b"".join(_line(i) for i in range(12, 80))
    assert q.dropped == 10 and len(q) == 70 and q.pinned == 20
    q.pin(q.used)
    assert q.drop_oldest() == -1  # nothing but lines in flight
    q.clear()
    assert q.drop_oldest() == -1


def test_drop_oldest_in_a_small_queue():
    # an eighth of the queue is less than a line: one line at a time
    q = LineQueue(12)
    q.append(b"aaa\nbbb\nccc\n")
    assert q.drop_oldest() == 1 and contents(q) == b"bbb\nccc\n"
    assert q.drop_oldest() == 1 and q.drop_oldest() == 1 and q.drop_oldest() == -1
    assert q.dropped == 3 and q.used == 0


def test_delivered_lines_leave_in_bulk():
    q, n = _full(800)
    q.pin(300)  # 30 lines in flight
    assert q.deliver(10) == 1  # the first acknowledged
    assert q.done == 10 and len(q) == 79 and q.used == 800 and q.pinned == 300
    assert q.count(q.used, q.done) == 79
    for i in range(1, 9):
        assert q.deliver(10) == 1
    assert q.done == 90 and q.used == 800  # still in place
    assert q.deliver(10) == 1  # an eighth: one move
    assert q.done == 0 and q.used == 700 and q.pinned == 200 and len(q) == 70
    assert contents(q) == b"".join(_line(i) for i in range(10, 80))
    assert q.dropped == 0


def test_everything_delivered_empties_without_a_move():
    q = LineQueue(800)
    q.append(b"aaa\nbbb\n")
    q.pin(8)
    assert q.deliver(4) == 1 and q.done == 4 and q.used == 8
    assert q.deliver(4) == 1
    assert q.used == 0 and q.done == 0 and q.pinned == 0 and len(q) == 0


def test_delivered_bytes_go_before_any_line_is_dropped():
    q, n = _full(800)
    q.pin(300)
    q.deliver(50)  # five lines acknowledged, kept at the head
    assert q.done == 50 and len(q) == 75
    assert q.append(_line(80)) == 0  # room from the delivered bytes alone
    assert q.dropped == 0 and q.done == 0 and q.pinned == 250
    assert contents(q) == b"".join(_line(i) for i in range(5, 81))
    # a producer's drop_oldest does the same first
    q.pin(q.used - 100)
    q.deliver(30)
    assert q.drop_oldest() == 0 and q.dropped == 0 and q.done == 0
    assert contents(q) == b"".join(_line(i) for i in range(8, 81))
    assert q.drop_oldest() == 10 and q.dropped == 10  # then the oldest unpinned
    # the longest line that fits beside what is in flight, the delivered
    # bytes counted as room: every line not in flight goes
    q.deliver(90)
    live = (q.used - q.pinned) // 10
    big = b"y" * (q.capacity - q.pinned + q.done - 1) + b"\n"
    assert q.append(big + b"") == live and q.dropped == 10 + live
    assert q.done == 0 and contents(q)[-len(big):] == big and q.used == q.capacity
    q.clear()
    q.pin(0)
    q.append(b"a\n")
    q.pin(2)
    q.deliver(2)
    assert q.append(b"y" * 800 + b"\n") == 1  # longer than the whole queue


def test_clear_forgets_the_delivered_bytes():
    q = LineQueue(800)
    q.append(b"aaa\nbbb\n")
    q.pin(8)
    q.deliver(4)
    assert q.clear() == 1 and q.dropped == 1
    assert q.used == q.done == q.pinned == 0


def test_every_line_counted_under_mixed_use():
    # a producer appending, a sender pinning and delivering: lines queued =
    # delivered + dropped + left; the bytes in flight never change, the
    # drops take the oldest lines not in flight
    q = LineQueue(1000)
    seed = [12345]

    def rnd(k):
        seed[0] = (seed[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return seed[0] % k

    appended = delivered = 0
    for step in range(3000):
        inflight = bytes(q.mv[q.done:q.pinned])
        waiting = bytes(q.mv[q.pinned:q.used])
        r = rnd(10)
        if r < 6:
            w = 5 + rnd(60)
            line = b"%d" % step + b"z" * w + b"\n"
            q.append(line)
            appended += 1
            waiting += line
        elif r < 8 and q.used > q.pinned:
            # one more line in flight (the sender's window)
            e = q.buf.find(b"\n", q.pinned, q.used) + 1
            inflight += bytes(q.mv[q.pinned:e])
            waiting = waiting[e - q.pinned:]
            q.pin(e)
        elif r < 10 and q.pinned > q.done:
            # the oldest in flight acknowledged
            e = q.buf.find(b"\n", q.done, q.pinned) + 1
            inflight = inflight[e - q.done:]
            delivered += q.deliver(e - q.done)
        assert q.done <= q.pinned <= q.used <= q.capacity
        assert bytes(q.mv[q.done:q.pinned]) == inflight
        rest = bytes(q.mv[q.pinned:q.used])
        # whole lines at the end of those waiting (or all of them)
        cut = len(waiting) - len(rest)
        assert waiting.endswith(rest) and (cut == 0 or waiting[cut - 1] == 10)
        assert q.count(q.used, q.done) == len(q)
    assert appended == delivered + q.dropped + len(q)
    assert q.dropped > 0 and delivered > 0


def test_a_send_cut_short_counts_the_whole_lines():
    q = LineQueue(32)
    q.append(b"aaa\nbbb\nccc\n")
    assert [q.whole(k) for k in (0, 3, 4, 7, 8, 11, 12, 30)] == [0, 0, 4, 4, 8, 8, 12, 12]


def _frame(msg):
    return b"%d " % len(msg) + msg


def test_frames_are_delimited_by_their_length_lf_and_all():
    q = FrameQueue(64)
    a, b, c = _frame(b"one"), _frame(b"two\nlines"), _frame(b"x" * 12)
    assert q.append(a + b) == 0 and q.append(c) == 0
    assert len(q) == 3 and contents(q) == a + b + c  # nothing between frames
    assert q.head(len(a) + len(b)) == len(a) + len(b)
    assert q.head(len(a) + len(b) - 1) == len(a)
    assert q.head(2) == len(a)  # the first frame even if longer than limit
    assert q.whole(len(a) + 3) == len(a) and q.whole(q.used) == q.used
    assert q.count(q.used) == 3 and q.count(q.used, len(a)) == 2
    assert q.consume(len(a)) == 1 and contents(q) == b + c and len(q) == 2


def test_a_full_frame_queue_drops_whole_frames_oldest_first():
    q = FrameQueue(80)
    frames = [_frame(b"m%02d......" % i) for i in range(6)]  # 11 B each, 66 in all
    for f in frames:
        assert q.append(f) == 0
    q.pin(len(frames[0]))  # the first in flight
    assert q.append(_frame(b"y" * 14)) == 1  # 17 B: 3 short, an eighth (10 B) goes
    assert contents(q) == b"".join([frames[0]] + frames[2:]) + _frame(b"y" * 14)
    assert q.dropped == 1 and len(q) == 6
    assert q.drop_oldest() == 1 and contents(q)[:22] == frames[0] + frames[3]
    assert q.append(_frame(b"z" * 90)) == 1 and q.dropped == 3  # longer than the queue
