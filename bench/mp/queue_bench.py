# The queues' cost per record as they grow, for queues of 1 KB to 256 KB:
# (a) a record logged into a full syslog queue (the server down: each new
# record drops older ones) and a line appended to a full LineQueue, in
# microseconds and heap bytes per record; (b) a backlog acknowledged over
# RELP: the answers of every queued message read and taken from the queue
# (the acknowledgement path alone, no network), microseconds per message.
# Each also counts the bytes the queue moves (or writes) per record, in a
# separate pass: what a board's memmove pays, whatever this CPU's caches do.
# A cost that grows with the queue is a quadratic path.
import gc
import time

from monitoring.linequeue import LineQueue
from monitoring.relp_sender import RelpSender
from monitoring.sources import Counters
from monitoring.syslog_handler import SyslogSender, check

SIZES = (1, 16, 64, 256)
MSG = "request 1234 served in 12 ms, status ok"
LINE = b"m,host=pico-1 a=1i,b=2i,c=3.5 1700000000000000000\n"  # 50 B


def section(qbytes, transport="tcp"):
    return check({"host": "127.0.0.1", "port": 9, "transport": transport, "framing": "octet",
                  "queue_bytes": qbytes, "app_name": "bench"})


class Moves:
    # the queue's memoryview, counting the bytes stored through it
    def __init__(self, mv):
        self.mv = mv
        self.n = 0

    def __getitem__(self, i):
        return self.mv[i]

    def __setitem__(self, i, v):
        self.n += len(v)
        self.mv[i] = v


def full_log(kb, n):
    s = SyslogSender(Counters(), section(kb * 1024), hostname="pico-1")
    while s.queue.used + 200 < s.queue.capacity:
        s.log(20, "http", MSG)
    for _ in range(n):  # warm: the first drops
        s.log(20, "http", MSG)
    gc.collect()
    a0 = gc.mem_alloc()
    t0 = time.ticks_us()
    for _ in range(n):
        s.log(20, "http", MSG)
    dt = time.ticks_diff(time.ticks_us(), t0)
    a = gc.mem_alloc() - a0
    c = s.counters
    ok = c.log_queued == c.log_dropped + len(s.queue)  # every record counted
    return dt / n, a / n, ok


def full_append(kb, n, moves=False):
    q = LineQueue(kb * 1024)
    while q.used + len(LINE) <= q.capacity:
        q.append(LINE)
    for _ in range(n):
        q.append(LINE)
    if moves:
        q.mv = Moves(q.mv)
        for _ in range(n):
            q.append(LINE)
        return q.mv.n / n
    gc.collect()
    a0 = gc.mem_alloc()
    t0 = time.ticks_us()
    for _ in range(n):
        q.append(LINE)
    dt = time.ticks_diff(time.ticks_us(), t0)
    return dt / n, (gc.mem_alloc() - a0) / n


class Answers:
    # the server's answers, handed over 128 bytes a read as a socket would
    sock = True

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read_now(self, rx):
        n = min(len(rx), len(self.data) - self.pos)
        if n <= 0:
            return -1
        rx[0:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n

    def close(self):
        self.sock = None


def relp_acks(kb, moves=False):
    s = RelpSender(Counters(), section(kb * 1024, "relp"), hostname="pico-1")
    q = s.queue
    while q.used + 200 < q.capacity:
        s.log(20, "http", MSG)
    n = len(q)
    # every message sent on the session opened (transaction 1), none answered
    s._opening = False
    s._base = 2
    s._next = n + 2
    s._out = n
    s._sent = q.used
    q.pin(q.used)
    data = b"".join(b"%d rsp 6 200 OK\n" % t for t in range(2, n + 2))
    conn = Answers(data)
    if moves:
        q.mv = Moves(q.mv)
        s._read(conn)
        return q.mv.n / n
    gc.collect()
    t0 = time.ticks_us()
    s._read(conn)
    dt = time.ticks_diff(time.ticks_us(), t0)
    c = s.counters
    ok = c.log_sent == n and s._out == 0 and q.used == 0 and len(q) == 0
    return dt / n, n, ok


for kb in SIZES:
    us, b, ok = full_log(kb, 2000)
    print("full_log_%dk_us_per_rec" % kb, us)
    print("full_log_%dk_alloc_per_rec" % kb, b)
    print("full_log_%dk_counted" % kb, int(ok))
    us, b = full_append(kb, 4000)
    print("full_append_%dk_us_per_line" % kb, us)
    print("full_append_%dk_alloc_per_line" % kb, b)
    print("full_append_%dk_moved_per_line" % kb, full_append(kb, 4000, True))
    gc.collect()
for kb in SIZES:
    us, n, ok = relp_acks(kb)
    print("relp_ack_%dk_us_per_msg" % kb, us)
    print("relp_ack_%dk_msgs" % kb, n)
    print("relp_ack_%dk_ok" % kb, int(ok))
    print("relp_ack_%dk_moved_per_msg" % kb, relp_acks(kb, True))
    gc.collect()
